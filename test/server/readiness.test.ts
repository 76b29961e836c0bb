// `/readyz` when the password threads cannot start: the warm-up that `startServer` runs after listening
// fails, the instance says `degraded` (200: it still verifies tokens, and each login tries to start a
// thread again; a warning in the log says why), `ready` settles instead of rejecting, and each probe
// while `down` tries the warm-up again, so the instance is `ready` once threads can start. (The
// `starting` answer of a server whose threads load normally: test/e2e/serve.test.ts.)
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type * as PoolModule from '../../packages/server/src/server/password-pool.js'
import type { PasswordPool } from '../../packages/server/src/server/password-pool.js'

const threads = vi.hoisted(() => ({ canStart: false, pings: 0 }))

vi.mock('../../packages/server/src/server/password-pool.js', async (importOriginal) => {
  const original = await importOriginal<typeof PoolModule>()
  const broken = (): Promise<never> =>
    Promise.reject(new original.PasswordPoolError('a password worker thread could not start: EAGAIN'))
  const pool: PasswordPool = {
    size: 2,
    hash: broken,
    verify: broken,
    verifyForeign: broken,
    strength: broken,
    ping: () => {
      threads.pings++
      return threads.canStart ? Promise.resolve() : broken()
    },
    close: () => Promise.resolve(),
  }
  return { ...original, createPasswordPool: () => pool }
})

const { startServer } = await import('../../packages/server/src/server/app.js')
type RunningServer = Awaited<ReturnType<typeof startServer>>

describe('a server whose password threads cannot start', () => {
  let dir: string
  let server: RunningServer
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-readiness-'))
    server = await startServer({
      dataDir: dir,
      databaseUrl: join(dir, 'tessera.db'),
      host: '127.0.0.1',
      port: 0,
      logLevel: 'silent',
      // Only the threads' start is warmed up (no dictionaries): one ping per thread.
      passwordMinScore: 0,
    })
    await server.ready
  })
  afterAll(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('says degraded (200) with workers "down"', async () => {
    const res = await server.app.inject('/readyz')
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toEqual({ status: 'degraded', checks: { database: 'ok', workers: 'down' } })
  })

  it('still answers logins, with 503 rather than a wrong-password 401', async () => {
    const res = await server.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { username: 'someone', password: 'a passphrase nobody has' },
    })
    expect(res.statusCode, res.body).toBe(503)
  })

  it('answers 503 draining with the same checks while draining', async () => {
    server.context.lifecycle.draining = true
    try {
      const res = await server.app.inject('/readyz')
      expect(res.statusCode).toBe(503)
      expect(res.json()).toEqual({ status: 'draining', checks: { workers: 'down' } })
    } finally {
      server.context.lifecycle.draining = false
    }
  })

  it('tries the warm-up again on each probe, and is ready once the threads start', async () => {
    const before = threads.pings
    await server.app.inject('/readyz')
    await vi.waitFor(() => {
      expect(threads.pings).toBeGreaterThan(before)
    })
    threads.canStart = true
    let body: unknown
    await vi.waitFor(async () => {
      body = (await server.app.inject('/readyz')).json()
      expect(body).toEqual({ status: 'ready', checks: { database: 'ok', workers: 'ok' } })
    })
    // Ready: probes no longer start warm-ups.
    const settled = threads.pings
    await server.app.inject('/readyz')
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(threads.pings).toBe(settled)
  })
})
