// `tessera backup <file>`: a consistent copy of the SQLite database while the server writes to it (its
// recent writes still in the -wal file), mode 0600, checked, and a server started on the copy serves
// the same users and keys. Bad input changes nothing.
import { existsSync, statSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer } from '../../packages/server/src/server/app.js'
import { baseConfig, E2EClient, runCli, uniqueName, useServer } from '../helpers/server-harness.js'

const server = useServer()
let dir = ''
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-backup-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('tessera backup', () => {
  it('copies the database while the server runs, and a server on the copy serves the same users', async () => {
    const name = uniqueName('backed-up')
    const registered = await server.register(name)
    const target = join(dir, 'copy.db')
    const run = await runCli(['backup', target, '--data-dir', server.dir])
    expect(run.code, run.output).toBe(0)
    expect(run.output).toMatch(
      /^Backed up .*tessera\.db to .*copy\.db \(\d+ bytes, \d+ user\(s\), integrity ok\)\.$/m,
    )
    expect(statSync(target).mode & 0o777).toBe(0o600)
    // One self-contained file: no -wal or -shm left beside it for an operator to copy or forget.
    expect([existsSync(`${target}-wal`), existsSync(`${target}-shm`)]).toEqual([false, false])
    const copy = new Database(target, { readonly: true })
    expect(copy.pragma('journal_mode', { simple: true })).toBe('delete')
    try {
      expect(copy.prepare('select username from users where id = ?').pluck().get(registered.userId)).toBe(
        name,
      )
    } finally {
      copy.close()
    }
    // Restored: the same user logs in, and a token the original signed verifies (the keys came along).
    const restored = await startServer({ ...baseConfig(join(dir, 'restored')), databaseUrl: target })
    try {
      await restored.ready
      const client = new E2EClient()
      client.connect(restored.url)
      expect((await client.login(name)).userId).toBe(registered.userId)
      expect((await client.me(registered.access)).status).toBe(200)
    } finally {
      await restored.close()
    }
  })

  it('refuses an existing file, a second file, no file, a missing database and PostgreSQL; writes nothing', async () => {
    const existing = join(dir, 'existing.db')
    await writeFile(existing, 'keep me')
    // Exit 2 for a mistake in the command line, 1 for a database that is not there.
    const cases: [string[], number, RegExp][] = [
      [['backup', existing, '--data-dir', server.dir], 2, /exists: give a new file/],
      [['backup', join(dir, 'a.db'), join(dir, 'b.db'), '--data-dir', server.dir], 2, /one file to write/],
      [['backup', '--data-dir', server.dir], 2, /one file to write/],
      // better-sqlite3 trims the name: "existing.db " would write over existing.db.
      [['backup', `${existing} `, '--data-dir', server.dir], 2, /must not begin or end with spaces/],
      [['backup', join(dir, 'c.db'), '--data-dir', join(dir, 'no-such-dir')], 1, /no SQLite database at/],
      [
        ['backup', join(dir, 'd.db'), '--database-url', 'postgres://127.0.0.1:1/tessera'],
        2,
        /PostgreSQL: back it up with pg_dump/,
      ],
    ]
    for (const [argv, code, message] of cases) {
      const run = await runCli(argv)
      expect([argv.join(' '), run.code]).toEqual([argv.join(' '), code])
      expect(run.output).toMatch(message)
    }
    expect(statSync(existing).size).toBe('keep me'.length)
    for (const file of ['a.db', 'b.db', 'c.db', 'd.db']) expect(existsSync(join(dir, file)), file).toBe(false)
    // The mistyped data directory was not created as a new, empty database.
    expect(existsSync(join(dir, 'no-such-dir'))).toBe(false)
  })
})
