// SQLite: the conformance suite on real database files in a temporary directory, plus what only
// SQLite has (file creation, pragmas, URL parsing).
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Kysely, SqliteDialect, sql } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigurationError } from '../../packages/tessera/src/core/errors.js'
import {
  openDatabase,
  parseDatabaseUrl,
  reusingStatements,
} from '../../packages/server/src/stores/sql/database.js'
import { dialectOf } from '../../packages/server/src/stores/sql/dialect.js'
import { migrateToLatest, migrations } from '../../packages/server/src/stores/sql/migrations/index.js'
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
    expect((await migrateToLatest(db)).applied).toEqual(Object.keys(migrations))
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

describe('a transaction SQLite ends by itself', () => {
  // A full disk (here: max_page_count reached) makes SQLite roll the whole transaction back on its own.
  // Kysely's ROLLBACK then failed with "cannot rollback - no transaction is active", thrown instead of
  // SQLITE_FULL: the server answered 500 and logged that, the CLI printed its stack.
  it('fails with its own error (SQLITE_FULL), not the rollback that has nothing left to do', async () => {
    const db = await openDatabase({ url: `file:${join(root, 'full', 'tessera.db')}` })
    await migrateToLatest(db)
    const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(db)
    await sql.raw(`pragma max_page_count = ${String((rows[0]?.page_count ?? 0) + 1)}`).execute(db)
    const writes = db.transaction().execute(async (trx) => {
      for (let i = 0; i < 50; i++) {
        await trx
          .insertInto('audit_events')
          .values({ at: i, event: 'login', detail: 'x'.repeat(4000) })
          .execute()
      }
    })
    await expect(writes).rejects.toMatchObject({ code: 'SQLITE_FULL' })
    // Nothing of it was kept, and the connection takes the next transaction.
    await sql`pragma max_page_count = 1073741823`.execute(db)
    expect(await db.selectFrom('audit_events').select('id').execute()).toEqual([])
    await db
      .transaction()
      .execute((trx) => trx.insertInto('audit_events').values({ at: 1, event: 'login' }).execute())
    expect(await db.selectFrom('audit_events').select('id').execute()).toHaveLength(1)
    await db.destroy()
  })
})

describe('reusingStatements', () => {
  /** better-sqlite3 on :memory: with its `prepare` calls counted, behind Kysely as the server opens it. */
  async function counted(kept?: number): Promise<{ db: Kysely<Rows>; prepared: string[] }> {
    const { default: Database } = await import('better-sqlite3')
    const sqlite = new Database(':memory:')
    const prepared: string[] = []
    const prepare = sqlite.prepare.bind(sqlite)
    sqlite.prepare = (text: string) => {
      prepared.push(text)
      return prepare(text)
    }
    const db = new Kysely<Rows>({ dialect: new SqliteDialect({ database: reusingStatements(sqlite, kept) }) })
    await sql`create table t (n integer)`.execute(db)
    await db
      .insertInto('t')
      .values([{ n: 1 }, { n: 2 }, { n: 3 }])
      .execute()
    prepared.length = 0
    return { db, prepared }
  }
  interface Rows {
    t: { n: number }
  }

  it('prepares a query once and reuses the statement with new parameters each time', async () => {
    const { db, prepared } = await counted()
    const at = (n: number): Promise<{ n: number }[]> =>
      db.selectFrom('t').selectAll().where('n', '>=', n).execute()
    expect(await at(1)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    expect(await at(3)).toEqual([{ n: 3 }])
    await db.updateTable('t').set({ n: 4 }).where('n', '=', 3).execute()
    await db.updateTable('t').set({ n: 5 }).where('n', '=', 4).execute()
    expect(await at(2)).toEqual([{ n: 2 }, { n: 5 }])
    expect(prepared).toHaveLength(2)
    await db.destroy()
  })

  it('gives a second statement for a text whose statement is still iterating, instead of failing as busy', async () => {
    // Kysely holds SQLite's one connection until a stream ends, so only a direct caller can get here.
    const { default: Database } = await import('better-sqlite3')
    const sqlite = new Database(':memory:')
    sqlite.exec('create table t (n integer); insert into t values (1), (2), (3)')
    const statements = reusingStatements(sqlite)
    const text = 'select n from t order by n'
    const seen: unknown[] = []
    for (const row of statements.prepare(text).iterate([]))
      seen.push([(row as { n: number }).n, ...statements.prepare(text).all([])])
    expect(seen).toEqual([1, 2, 3].map((n) => [n, { n: 1 }, { n: 2 }, { n: 3 }]))
    // Once the iteration ended, the kept statement is handed out again.
    expect(statements.prepare(text)).toBe(statements.prepare(text))
    statements.close()
    expect(sqlite.open).toBe(false)
  })

  it('keeps at most `kept` statements, dropping the least recently used', async () => {
    const { db, prepared } = await counted(2)
    const a = (): Promise<unknown> => db.selectFrom('t').select('n').execute()
    const b = (): Promise<unknown> => db.selectFrom('t').select('n').where('n', '>', 1).execute()
    const c = (): Promise<unknown> => db.selectFrom('t').select('n').where('n', '<', 2).execute()
    await a()
    await b()
    await a() // a is now the more recent of the two kept
    await c() // drops b
    await a()
    expect(prepared).toHaveLength(3)
    await b()
    expect(prepared).toHaveLength(4)
    await db.destroy()
  })

  it('answers from the current schema after a migration changed it, with the same statement', async () => {
    const { db, prepared } = await counted()
    const all = (): Promise<unknown> => sql`select * from t order by n`.execute(db).then((r) => r.rows)
    expect(await all()).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    await sql`alter table t add column label text default 'x'`.execute(db)
    expect(await all()).toEqual([
      { n: 1, label: 'x' },
      { n: 2, label: 'x' },
      { n: 3, label: 'x' },
    ])
    expect(prepared.filter((text) => text.startsWith('select'))).toHaveLength(1)
    await db.destroy()
  })

  it('reuses a statement whose last run failed', async () => {
    const { db, prepared } = await counted()
    await sql`create unique index t_n on t (n)`.execute(db)
    const insert = (n: number): Promise<unknown> => db.insertInto('t').values({ n }).execute()
    await expect(insert(1)).rejects.toThrow(/UNIQUE constraint failed/)
    await insert(4)
    await expect(insert(4)).rejects.toThrow(/UNIQUE constraint failed/)
    await insert(5)
    expect((await db.selectFrom('t').select('n').orderBy('n').execute()).map((r) => r.n)).toEqual([
      1, 2, 3, 4, 5,
    ])
    expect(prepared.filter((text) => text.startsWith('insert'))).toHaveLength(1)
    await db.destroy()
  })

  it('prepares PRAGMAs every time: SQLite applies some when it prepares them', async () => {
    const { db, prepared } = await counted()
    const timeout = async (): Promise<unknown> =>
      Object.values((await sql.raw('pragma busy_timeout').execute(db)).rows[0] as object)[0]
    await sql.raw('pragma busy_timeout = 1000').execute(db)
    expect(await timeout()).toBe(1000)
    await sql.raw('pragma busy_timeout = 2000').execute(db)
    expect(await timeout()).toBe(2000)
    await sql.raw('pragma busy_timeout = 1000').execute(db)
    expect(await timeout()).toBe(1000)
    expect(prepared).toHaveLength(6)
    await db.destroy()
  })

  it("keeps no statement of a long text (the import's batches)", async () => {
    const { db, prepared } = await counted()
    const many = Array.from({ length: 1000 }, (_, i) => i)
    const batch = (): Promise<unknown> => db.selectFrom('t').select('n').where('n', 'in', many).execute()
    await batch()
    await batch()
    expect(prepared).toHaveLength(2)
    expect(prepared[0]?.length).toBeGreaterThan(2048)
    await db.destroy()
  })

  it('refuses to keep fewer than one statement', async () => {
    const { default: Database } = await import('better-sqlite3')
    const sqlite = new Database(':memory:')
    expect(() => reusingStatements(sqlite, 0)).toThrow(RangeError)
    sqlite.close()
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
