// SQLite: the conformance suite on real database files in a temporary directory, plus what only
// SQLite has (file creation, pragmas, URL parsing).
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { sql } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigurationError } from '../../packages/tessera/src/core/errors.js'
import { openDatabase, parseDatabaseUrl } from '../../packages/server/src/stores/sql/database.js'
import { dialectOf } from '../../packages/server/src/stores/sql/dialect.js'
import { migrateToLatest } from '../../packages/server/src/stores/sql/migrations/index.js'
import { runStoreSuite } from './conformance.js'

const root = mkdtempSync(join(tmpdir(), 'tessera-sqlite-'))
afterAll(() => {
  rmSync(root, { recursive: true, force: true })
})
let counter = 0

runStoreSuite('SQLite', () => {
  const dir = join(root, `db-${++counter}`)
  const url = `file:${join(dir, 'tessera.db')}`
  return Promise.resolve({
    connect: ({ peer = false } = {}) => openDatabase({ url, busyTimeoutMs: peer ? 0 : 5000 }),
    destroy: () => {
      rmSync(dir, { recursive: true, force: true })
      return Promise.resolve()
    },
  })
})

describe('openDatabase (SQLite)', () => {
  it('creates the missing data directory and a database file only its owner can read', async () => {
    const path = join(root, 'fresh', 'data', 'tessera.db')
    const db = await openDatabase({ url: `file:${path}` })
    await migrateToLatest(db)
    await db.destroy()
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(statSync(join(root, 'fresh', 'data')).mode & 0o777).toBe(0o700)
  })

  it('turns on WAL, foreign keys and a busy timeout', async () => {
    const db = await openDatabase({ url: join(root, 'pragmas.db'), busyTimeoutMs: 1234 })
    const pragma = async (name: string): Promise<unknown> =>
      Object.values((await sql.raw(`pragma ${name}`).execute(db)).rows[0] as object)[0]
    expect(await pragma('journal_mode')).toBe('wal')
    expect(await pragma('foreign_keys')).toBe(1)
    expect(await pragma('busy_timeout')).toBe(1234)
    expect(dialectOf(db)).toBe('sqlite')
    await db.destroy()
  })

  it('opens an in-memory database for :memory:', async () => {
    const db = await openDatabase({ url: ':memory:' })
    expect((await migrateToLatest(db)).applied).toEqual(['0001-initial', '0002-legacy-import'])
    await db.destroy()
  })

  it('creates an index for every lookup', async () => {
    const db = await openDatabase({ url: ':memory:' })
    await migrateToLatest(db)
    const { rows } = await sql<{ name: string }>`select name from sqlite_master where type = 'index'`.execute(
      db,
    )
    expect(rows.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        'sessions_user_id_idx',
        'sessions_expires_at_idx',
        'revocations_expires_at_idx',
        'audit_events_user_id_idx',
      ]),
    )
    await db.destroy()
  })

  it('names the option and the path when the file cannot be opened', async () => {
    const blocker = join(root, 'blocker')
    await (await openDatabase({ url: blocker })).destroy()
    const error: unknown = await openDatabase({ url: join(blocker, 'x.db') }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConfigurationError)
    expect(error).toMatchObject({ option: 'databaseUrl' })
  })
})

describe('parseDatabaseUrl', () => {
  it('reads file: URLs, plain paths and :memory: as SQLite', () => {
    expect(parseDatabaseUrl('file:./data/tessera.db')).toEqual({
      dialect: 'sqlite',
      path: resolve('data/tessera.db'),
    })
    expect(parseDatabaseUrl('file:///var/lib/tessera.db')).toEqual({
      dialect: 'sqlite',
      path: '/var/lib/tessera.db',
    })
    expect(parseDatabaseUrl('sqlite:db.sqlite')).toEqual({ dialect: 'sqlite', path: resolve('db.sqlite') })
    expect(parseDatabaseUrl(' data/x.db ')).toEqual({ dialect: 'sqlite', path: resolve('data/x.db') })
    expect(parseDatabaseUrl(':memory:')).toEqual({ dialect: 'sqlite', path: ':memory:' })
  })

  it('recognises PostgreSQL URLs', () => {
    expect(parseDatabaseUrl('postgres://u@localhost/test')).toEqual({
      dialect: 'postgres',
      url: 'postgres://u@localhost/test',
    })
    expect(parseDatabaseUrl('postgresql://localhost/test').dialect).toBe('postgres')
  })

  it('refuses empty values, query strings and unknown schemes without echoing the URL', () => {
    for (const url of ['', '  ', 'file:x.db?mode=ro', 'mysql://root:hunter2@db/app', 'file:']) {
      const error = (() => {
        try {
          parseDatabaseUrl(url, 'TESSERA_DATABASE_URL')
        } catch (e) {
          return e
        }
        return undefined
      })()
      expect(error).toBeInstanceOf(ConfigurationError)
      expect(error).toMatchObject({ option: 'TESSERA_DATABASE_URL' })
      expect((error as Error).message).not.toContain('hunter2')
    }
  })

  it('opens PostgreSQL URLs lazily with the postgres dialect (nothing connects before a query)', async () => {
    const db = await openDatabase({ url: 'postgres://app:hunter2@127.0.0.1:1/test' })
    expect(dialectOf(db)).toBe('postgres')
    await db.destroy()
  })
})
