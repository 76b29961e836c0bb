// When a command that must ask first finds no terminal and no --yes, it refuses (exit 2) having written
// nothing: `users delete`, `users disable` and `keys revoke` before they look for the database;
// `users set-roles`, which asks only when it removes admin, after reading the user and before any write.
// And a command on existing data makes no database where there is none: a missing path, an empty file.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bundleCli, runBundledCli, type BundledCli, type CliRun } from '../helpers/bundled-cli.js'

const PASSWORD = 'velvet otter gravel lamp'
const CONFIRM = /needs confirmation and there is no terminal to ask on: pass --yes \(-y\)/

let root = ''
let cli: BundledCli | undefined
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tessera-confirm-'))
  cli = await bundleCli()
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
  await cli?.remove()
})

/** `tessera <args>` as a process on pipes (no terminal), stdin at EOF. */
const tessera = (args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> =>
  runBundledCli(cli, args, env)

let count = 0
const newDir = (): string => join(root, `case-${String(++count)}`)

/** Every file of `dir` with its bytes: what a refusal must leave as it found it. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir).map((name) => [name, readFileSync(join(dir, name)).toString('base64')]),
  )
}

/** What a change of a user writes: the users, their audit events, revocations and sessions. */
const rows = (db: Database.Database): unknown[] =>
  ['users', 'audit_events', 'revocations', 'sessions'].map((table) =>
    db.prepare(`select * from ${table}`).all(),
  )

describe('a confirmation that cannot be asked, and a database that is not there', () => {
  it('refuses delete, disable and keys revoke without a terminal or --yes before looking for the database', async () => {
    const dir = newDir()
    for (const args of [
      ['users', 'delete', 'root'],
      ['users', 'disable', 'root'],
      ['keys', 'revoke', 'kid-1'],
    ]) {
      const run = await tessera([...args, '--data-dir', dir])
      expect([args.join(' '), run.code, run.stderr]).toEqual([
        args.join(' '),
        2,
        expect.stringMatching(CONFIRM),
      ])
    }
    expect(readdirSync(root)).not.toContain(dir.slice(root.length + 1))
  }, 120_000)

  it('refuses a set-roles that removes admin after reading the user, having written nothing', async () => {
    const dir = newDir()
    const made = await tessera(['users', 'create', 'root', '--admin', '--data-dir', dir], {
      TESSERA_PASSWORD: PASSWORD,
    })
    expect(made.code, made.stderr).toBe(0)
    const refuse = async (): Promise<void> => {
      const run = await tessera(['users', 'set-roles', 'root', 'editor', '--data-dir', dir])
      expect([run.code, run.stderr]).toEqual([
        2,
        expect.stringMatching(/removing the admin role needs confirmation/),
      ])
    }
    // As the server and the CLI leave it (WAL): not a byte written, no -wal or -shm file left.
    const before = snapshot(dir)
    await refuse()
    expect(snapshot(dir)).toEqual(before)
    // A copy restored from `tessera backup` (rollback journal): opening it sets WAL, as serve does at
    // start, and that is all; reading the user needs the database open (docs/cli.md).
    const db = new Database(join(dir, 'tessera.db'))
    db.pragma('journal_mode = DELETE')
    const data = rows(db)
    db.close()
    await refuse()
    const after = new Database(join(dir, 'tessera.db'), { readonly: true })
    try {
      expect(rows(after)).toEqual(data)
    } finally {
      after.close()
    }
  }, 120_000)

  it('makes no database on a path with none: a missing directory, an empty file', async () => {
    const missing = newDir()
    const empty = newDir()
    await mkdir(empty)
    writeFileSync(join(empty, 'tessera.db'), '')
    for (const args of [
      ['users', 'set-roles', 'root', 'editor'],
      ['users', 'set-roles', 'root', 'admin'],
      ['users', 'list'],
      ['users', 'delete', 'root', '--yes'],
    ]) {
      const gone = await tessera([...args, '--data-dir', missing])
      expect([args.join(' '), gone.code, gone.stderr]).toEqual([
        args.join(' '),
        1,
        expect.stringMatching(/no database at .*tessera\.db: check --data-dir/),
      ])
      const none = await tessera([...args, '--data-dir', empty])
      expect([args.join(' '), none.code, none.stderr]).toEqual([
        args.join(' '),
        1,
        expect.stringMatching(/the database has no Tessera tables .*; nothing was changed/),
      ])
      expect(statSync(join(empty, 'tessera.db')).size).toBe(0)
      expect(readdirSync(empty)).toEqual(['tessera.db'])
    }
    expect(readdirSync(root)).not.toContain(missing.slice(root.length + 1))
  }, 120_000)
})
