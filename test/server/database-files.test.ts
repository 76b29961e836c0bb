// The SQLite files deleted or replaced under a running server (a cleanup script, an `rm` of the -wal, a
// restore over the live file). SQLite keeps writing to the files it holds open, which nobody opens
// again: everything acknowledged since would be lost at the next start (a deleted database comes back
// empty, with a new signing key). The server used to say `ready` and answer 201 all along; now
// `/readyz` says the database is down, and every maintenance pass logs why.
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { startServer } from '../../packages/server/src/server/app.js'
import { baseConfig } from '../helpers/server-harness.js'

type RunningServer = Awaited<ReturnType<typeof startServer>>

let dir = ''
let server: RunningServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
  await rm(dir, { recursive: true, force: true })
})

async function serve(): Promise<RunningServer> {
  dir = await mkdtemp(join(tmpdir(), 'tessera-database-files-'))
  server = await startServer({ ...baseConfig(dir), passwordMinScore: 0, maintenanceIntervalMs: 0 })
  await server.ready
  return server
}

describe('the SQLite files under a running server', () => {
  it('says ready while they are the files it opened', async () => {
    const running = await serve()
    const res = await running.app.inject('/readyz')
    expect(res.statusCode, res.body).toBe(200)
    expect((await running.context.maintenance.runOnce()).failed).toEqual({})
  })

  it.each([
    ['the database deleted', ['tessera.db', 'tessera.db-wal', 'tessera.db-shm'], /tessera\.db was deleted/],
    ['the -wal deleted', ['tessera.db-wal'], /tessera\.db-wal was deleted/],
  ])('%s: /readyz 503, database down, and each pass logs it', async (_name, files, said) => {
    const running = await serve()
    for (const file of files) await rm(join(dir, file))
    const res = await running.app.inject('/readyz')
    expect(res.statusCode, res.body).toBe(503)
    expect(JSON.parse(res.body)).toMatchObject({ status: 'unavailable', checks: { database: 'down' } })
    const { failed } = await running.context.maintenance.runOnce()
    expect(String(failed.database_files)).toMatch(said)
  })

  it('the database replaced by another file (a restore over the live one): not ready', async () => {
    const running = await serve()
    await writeFile(join(dir, 'other.db'), '')
    await rename(join(dir, 'other.db'), join(dir, 'tessera.db'))
    const res = await running.app.inject('/readyz')
    expect(res.statusCode, res.body).toBe(503)
    const { failed } = await running.context.maintenance.runOnce()
    expect(String(failed.database_files)).toMatch(/tessera\.db was replaced/)
  })
})
