// What an operator sees when the database is not what this version expects, or cannot be reached: one
// line with a code (no stack), exit 1, nothing changed — and the server's log says which migrations a
// start applied.
import { existsSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { resolveServerConfig } from '../../packages/server/src/server/app.js'
import { openContext } from '../../packages/server/src/server/context.js'
import { openDatabase } from '../../packages/server/src/stores/sql/database.js'
import { createMigrator, pendingMigrations } from '../../packages/server/src/stores/sql/migrations/index.js'
import { insertUsers } from '../helpers/old-users.js'
import { baseConfig, runCli } from '../helpers/server-harness.js'

const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
})
const tempDir = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-env-errors-'))
  dirs.push(dir)
  return dir
}

describe('tessera on a database it cannot use', () => {
  it('refuses a schema newer than this version in one line naming the unknown migration', async () => {
    const dir = await tempDir()
    expect((await runCli(['migrate', '--data-dir', dir])).code).toBe(0)
    const db = new Database(join(dir, 'tessera.db'))
    db.prepare('insert into tessera_migration (name, timestamp) values (?, ?)').run(
      '0099-future',
      new Date().toISOString(),
    )
    db.close()
    for (const argv of [['migrate'], ['users', 'list']]) {
      const run = await runCli([...argv, '--data-dir', dir])
      expect(run.code, run.output).toBe(1)
      expect(run.output.trim()).toMatch(
        new RegExp(
          `^tessera ${argv[0] ?? ''}: schema_newer: the database schema is newer than this version .*0099-future`,
        ),
      )
      expect(run.output).not.toMatch(/\n\s+at /)
    }
  })

  it('never upgrades a database on the side: users/keys commands on existing data refuse an older schema', async () => {
    const dir = await tempDir()
    const db = await openDatabase({ url: `file:${join(dir, 'tessera.db')}` })
    const { error } = await createMigrator(db).migrateTo('0004-legacy-import')
    if (error !== undefined) throw error as Error
    const before = await pendingMigrations(db)
    await db.destroy()
    expect(before.length).toBeGreaterThan(0)
    for (const argv of [
      ['users', 'list'],
      ['users', 'disable', 'root', '--yes'],
      ['keys', 'list'],
    ]) {
      const run = await runCli([...argv, '--data-dir', dir])
      expect([argv.join(' '), run.code]).toEqual([argv.join(' '), 1])
      expect(run.output).toMatch(
        /the database was left by an older version \(pending migrations: 0005-.*\): run tessera migrate first/,
      )
    }
    const after = await openDatabase({ url: `file:${join(dir, 'tessera.db')}` })
    expect(await pendingMigrations(after)).toEqual(before)
    await after.destroy()
    // An empty file is no Tessera database: said, and given no tables.
    const empty = await tempDir()
    writeFileSync(join(empty, 'tessera.db'), '')
    const run = await runCli(['users', 'list', '--data-dir', empty])
    expect(run.code, run.output).toBe(1)
    expect(run.output).toMatch(/the database has no Tessera tables/)
    const left = new Database(join(empty, 'tessera.db'), { readonly: true })
    expect(left.prepare("select count(*) as n from sqlite_master where type = 'table'").get()).toEqual({
      n: 0,
    })
    left.close()
  })

  it('says in one line a migration that refused the data it found, and leaves the schema as it was', async () => {
    const dir = await tempDir()
    const file = join(dir, 'tessera.db')
    const db = await openDatabase({ url: `file:${file}` })
    const { error } = await createMigrator(db).migrateTo('0001-initial')
    if (error !== undefined) throw error as Error
    await insertUsers(db, ['strasse', 'Straße'])
    const before = await pendingMigrations(db)
    await db.destroy()
    const run = await runCli(['migrate', '--data-dir', dir])
    expect(run.code, run.output).toBe(1)
    expect(run.output.trim()).toMatch(
      /^tessera migrate: migration_failed: database migration 0005-username-case-folding failed: .*#1 "strasse" = #2 "Straße"\. Nothing was changed: the version you upgraded from still starts on this database/,
    )
    expect(run.output).not.toMatch(/\n\s+at /)
    const after = await openDatabase({ url: `file:${file}` })
    expect(await pendingMigrations(after)).toEqual(before)
    await after.destroy()
  })

  it('says a database it cannot reach in one line, with the driver’s code', async () => {
    const run = await runCli(['migrate', '--database-url', 'postgres://127.0.0.1:1/tessera'])
    expect(run.code, run.output).toBe(1)
    expect(run.output.trim()).toMatch(
      /^tessera migrate: migration_not_started: database migrations could not start: .*ECONNREFUSED/,
    )
    expect(run.output).not.toMatch(/\n\s+at /)
  })

  it('refuses to list or change what a missing database would hold, and creates none', async () => {
    const dir = await tempDir()
    const missing = join(dir, 'mistyped')
    for (const argv of [
      ['users', 'list'],
      ['users', 'set-roles', 'root', 'admin'],
      ['users', 'disable', 'root', '--yes'],
      ['users', 'delete', 'root', '--yes'],
      ['keys', 'list'],
      ['keys', 'revoke', 'kid-1', '--yes'],
    ]) {
      const run = await runCli([...argv, '--data-dir', missing])
      expect([argv.join(' '), run.code]).toEqual([argv.join(' '), 1])
      expect(run.output).toMatch(/no database at .*mistyped\/tessera\.db: check --data-dir/)
    }
    expect(existsSync(missing)).toBe(false)
  })

  it('refuses a mistaken command line with exit 2, before opening any database', async () => {
    const dir = await tempDir()
    const cases: [string[], RegExp][] = [
      [
        ['users', 'bogus'],
        /unknown action "bogus"; use create, list, set-roles, set-password, disable, enable, delete or import/,
      ],
      [['users', 'disable'], /usage: tessera users disable <username>/],
      [['users', 'set-password', 'a', 'b'], /unexpected argument "b"/],
      [['users', 'delete', 'a', '--roles', 'x'], /--roles does not apply to `tessera users delete`/],
      [['users', 'set-roles', 'a', 'Bad Role'], /invalid role "Bad Role"/],
      [['users', 'constructor'], /unknown action "constructor"/],
      [['users', 'create'], /usage: tessera users create <username>/],
      [['users', 'list', 'extra'], /unexpected argument "extra"/],
      [['users', 'list', '--admin'], /--admin does not apply to `tessera users list`/],
      [
        ['migrate', join(dir, 'elsewhere.db')],
        /unexpected argument ".*elsewhere\.db": name the database with --data-dir/,
      ],
    ]
    for (const [argv, message] of cases) {
      const run = await runCli([...argv, '--data-dir', join(dir, 'data')])
      expect([argv.join(' '), run.code]).toEqual([argv.join(' '), 2])
      expect(run.output).toMatch(message)
    }
    expect(existsSync(join(dir, 'data'))).toBe(false)
    expect(existsSync(join(dir, 'elsewhere.db'))).toBe(false)
  })

  it('lists every user, past one page of 500', async () => {
    const dir = await tempDir()
    expect((await runCli(['migrate', '--data-dir', dir])).code).toBe(0)
    const db = new Database(join(dir, 'tessera.db'))
    const insert = db.prepare(
      "insert into users (username, username_normalized, password_hash, roles, disabled, created_at, updated_at, password_changed_at) values (?, ?, 'x', '[]', 0, 0, 0, 0)",
    )
    db.transaction(() => {
      for (let i = 0; i < 501; i++) insert.run(`user${String(i)}`, `user${String(i)}`)
    })()
    db.close()
    const run = await runCli(['users', 'list', '--data-dir', dir])
    expect(run.code, run.output).toBe(0)
    const lines = run.output.trim().split('\n')
    expect(lines).toHaveLength(502)
    expect(lines.at(-2)).toMatch(/\buser500\b/)
    expect(lines.at(-1)).toBe('501 user(s)')
  })

  it('has a start say which migrations it applies, before and after (a migration may take minutes)', async () => {
    const dir = await tempDir()
    const notices: string[] = []
    const config = resolveServerConfig({ ...baseConfig(dir) })
    const context = await openContext(config, {
      onNotice: (level, message) => notices.push(`${level} ${message}`),
    })
    await context.close()
    expect(notices).toEqual([
      expect.stringMatching(/^info database: applying migrations 0001-initial, .*0008-indexes$/) as string,
      expect.stringMatching(/^info database: applied migrations 0001-initial, .*0008-indexes$/) as string,
    ])
    // Current: nothing to say.
    const again = await openContext(config, {
      onNotice: (level, message) => notices.push(`${level} ${message}`),
    })
    await again.close()
    expect(notices).toHaveLength(2)
  })
})
