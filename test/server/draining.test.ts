// While the server drains (SIGTERM's shutdown delay), it still answers everything, `/readyz` says it is
// not ready, and every answer asks the client to close its connection so the next request goes to
// another instance.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildServer, type BuiltServer } from '../../packages/server/src/server/app.js'

describe('a draining server', () => {
  let dir: string
  let server: BuiltServer
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-draining-'))
    server = await buildServer({ dataDir: dir, databaseUrl: join(dir, 'tessera.db'), logLevel: 'silent' })
  })
  afterAll(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('answers with Connection: close while draining, and only then', async () => {
    const before = await server.app.inject('/healthz')
    expect(before.statusCode).toBe(200)
    expect(before.headers.connection).not.toBe('close')
    expect((await server.app.inject('/readyz')).statusCode).toBe(200)

    server.context.lifecycle.draining = true
    try {
      for (const url of ['/healthz', '/readyz', '/protected', '/nowhere']) {
        const res = await server.app.inject(url)
        expect([url, res.headers.connection]).toEqual([url, 'close'])
      }
      expect((await server.app.inject('/healthz')).statusCode).toBe(200)
      expect((await server.app.inject('/readyz')).statusCode).toBe(503)
      expect((await server.app.inject('/protected')).statusCode).toBe(401)
    } finally {
      server.context.lifecycle.draining = false
    }
    expect((await server.app.inject('/healthz')).headers.connection).not.toBe('close')
  })
})
