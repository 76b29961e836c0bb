/**
 * `tessera backup <file>`: a consistent copy of the SQLite database, safe while the server runs
 * (SQLite's online backup API). Copying `tessera.db` with `cp` is not: recent writes live in the
 * `-wal` file until a checkpoint, so a copied main file can lack whole tables. PostgreSQL is backed up
 * with its own tools (pg_dump).
 */
import { chmodSync, closeSync, existsSync, openSync, statSync, unlinkSync } from 'node:fs'
import { resolve } from 'node:path'
import { loadServerConfig } from '../../server/config.js'
import { parseDatabaseUrl } from '../../stores/index.js'
import { checkApplicable, DATABASE_SETTINGS, parseCommand, settingsHelp, type Applicable } from '../args.js'
import { CommandFailure, UsageError } from '../exit-codes.js'
import type { Command } from './index.js'

const USAGE = 'backup <file> [--data-dir DIR]'

/** The settings `backup` reads: the database, and how long it waits for a lock. */
const TAKES: Applicable = { settings: [...DATABASE_SETTINGS, 'databaseTimeoutMs'] }

export const backupCommand: Command = {
  usage: USAGE,
  summary: 'Copy the SQLite database, also while the server runs',
  async run(argv) {
    const parsed = parseCommand(argv)
    const { settings, positionals, help } = parsed
    if (help) {
      process.stdout.write(
        `Usage: tessera ${USAGE}\n\nWrites a consistent copy of the SQLite database to <file> (a new file, mode 0600: it holds\npassword hashes and private keys), while the server runs or not. Restore: stop the server, put the\ncopy in place of tessera.db (remove tessera.db-wal and tessera.db-shm), start it. PostgreSQL: pg_dump.\n\nOptions:\n  -h, --help                 show this help\n${settingsHelp(TAKES.settings)}\n`,
      )
      return 0
    }
    checkApplicable(parsed, 'backup', TAKES)
    const [file, ...extra] = positionals
    if (file === undefined || extra.length > 0) throw new UsageError(`one file to write: tessera ${USAGE}`)
    // better-sqlite3 trims the name it writes to: "old.db " would be created empty and "old.db" written.
    if (file !== file.trim() || file === '')
      throw new UsageError('the file name must not begin or end with spaces')
    const config = loadServerConfig(settings)
    const location = parseDatabaseUrl(config.databaseUrl, 'TESSERA_DATABASE_URL')
    if (location.dialect === 'postgres') {
      throw new UsageError(
        'the database is PostgreSQL: back it up with pg_dump (docs/deployment.md, "Backups")',
      )
    }
    // Never a new, empty database where a path was mistyped.
    if (!existsSync(location.path)) throw new CommandFailure(`no SQLite database at ${location.path}`)
    const target = resolve(file)
    if (target === location.path) throw new UsageError('the backup must be another file than the database')
    // Created first, exclusively and 0600: the copy is never readable by others, and never overwrites.
    let fd: number
    try {
      fd = openSync(target, 'wx', 0o600)
    } catch (error) {
      // An existing file is a mistake in the command line; any other refusal (a directory that is not
      // there, no permission, a full disk) is the system's.
      if ((error as { code?: string }).code === 'EEXIST')
        throw new UsageError(`${target} exists: give a new file`)
      throw new CommandFailure(`cannot create ${target}: ${(error as Error).message}`)
    }
    closeSync(fd)
    const { default: Database } = await import('better-sqlite3')
    const db = new Database(location.path, { fileMustExist: true, timeout: config.databaseTimeoutMs })
    try {
      // One step over every page: one read snapshot. In steps, SQLite restarts the copy whenever another
      // connection (the running server) writes between two of them, which on a busy database is always.
      await db.backup(target, { progress: () => 0x7fffffff })
    } catch (error) {
      unlinkSync(target)
      throw error
    } finally {
      db.close()
    }
    chmodSync(target, 0o600)
    // Opened for writing, once, to leave it in rollback-journal mode: the copy keeps the database's WAL
    // mode, and a read-only connection to a WAL file leaves its -wal and -shm files behind on close. In
    // DELETE mode the backup is one self-contained file (the server sets WAL again when it opens it).
    const copy = new Database(target, { fileMustExist: true })
    let check: unknown
    let users: unknown
    try {
      copy.pragma('journal_mode = DELETE')
      check = copy.pragma('integrity_check', { simple: true })
      users = copy.prepare('select count(*) from users').pluck().get()
    } catch (error) {
      copy.close()
      unlinkSync(target)
      throw error
    }
    copy.close()
    if (check !== 'ok') {
      unlinkSync(target)
      throw new Error(`the copy failed SQLite's integrity check (removed): ${String(check)}`)
    }
    process.stdout.write(
      `Backed up ${location.path} to ${target} (${String(statSync(target).size)} bytes, ${String(users)} user(s), integrity ok).\n`,
    )
    return 0
  },
}
