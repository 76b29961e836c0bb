// PostgreSQL: the conformance suite against a real server, one fresh database per test (dropped
// afterwards), plus what only PostgreSQL has (int8 as numbers, the pool, connection errors).
import { userInfo } from 'node:os'
import { sql, TableNode, type Kysely } from 'kysely'
import { describe, expect, it, vi } from 'vitest'
import { ConfigurationError } from '../../packages/tessera/src/core/errors.js'
import { openDatabase, withDefaultUser } from '../../packages/server/src/stores/sql/database.js'
import { dialectOf } from '../../packages/server/src/stores/sql/dialect.js'
import { migrateToLatest } from '../../packages/server/src/stores/sql/migrations/index.js'
import { countRows } from '../../packages/server/src/stores/sql/purge.js'
import type { TesseraDatabase } from '../../packages/server/src/stores/sql/schema.js'
import { sqlStores } from '../../packages/server/src/stores/sql/stores.js'
import { userStore, type UserListQuery } from '../../packages/server/src/stores/sql/users.js'
import { createTestDatabase, postgresReachable, useTestDatabase } from '../helpers/postgres.js'
import { serviceAvailable } from '../helpers/services.js'
import { runStoreSuite } from './conformance.js'

const available = serviceAvailable('PostgreSQL', await postgresReachable())

describe.skipIf(!available)('PostgreSQL', () => {
  // One database for the file, one schema per test.
  const database = useTestDatabase('conf')

  runStoreSuite('PostgreSQL', async () => {
    const schema = await database.schema()
    return {
      connect: () => openDatabase({ url: schema.url, poolSize: 5 }),
      destroy: () => schema.drop(),
    }
  })

  describe('countRows (the tessera_table_rows gauge) on PostgreSQL', () => {
    /** `db` recording each table it counted. */
    const recordingCounts = (db: Kysely<TesseraDatabase>, counted: string[]): Kysely<TesseraDatabase> =>
      db.withPlugin({
        transformQuery({ node }) {
          if (node.kind === 'SelectQueryNode') {
            const from = node.from?.froms[0]
            if (from !== undefined && TableNode.is(from)) counted.push(from.table.identifier.name)
          }
          return node
        },
        transformResult: ({ result }) => Promise.resolve(result),
      })

    /**
     * Deletes `audit_events` rows up to `id`, and has the deleting connection report its statistics as it
     * goes idle. A backend otherwise reports them at most once a second, and while the shared statistics
     * are busy (other suites on the same server) it may wait up to a minute: the live-row count then
     * still said 150,000 after 20 s (Node 26 leg, 2026-12-07). `pg_stat_force_next_flush()` is
     * PostgreSQL 15's; without it, {@link liveRowsReach} waits longer than that minute.
     */
    const deleteAuditEvents = async (db: Kysely<TesseraDatabase>, id: number): Promise<void> => {
      await db.connection().execute(async (connection) => {
        await sql`delete from audit_events where id <= ${id}`.execute(connection)
        const { rows } = await sql<{ flush: string | null }>`
          select to_regproc('pg_stat_force_next_flush')::text as flush`.execute(connection)
        if (rows[0]?.flush != null) await sql`select pg_stat_force_next_flush()`.execute(connection)
      })
    }

    /**
     * Waits until PostgreSQL's statistics say `rows`, within 1 % (an ANALYZE's count is an estimate): a
     * backend's counts reach them when it goes idle, or up to a minute later while they are busy.
     */
    const liveRowsReach = async (db: Kysely<TesseraDatabase>, table: string, rows: number): Promise<void> => {
      await vi.waitFor(
        async () => {
          const { rows: found } = await sql<{ n: string }>`
            select n_live_tup as n from pg_stat_user_tables where relid = to_regclass(${table})`.execute(db)
          expect(Math.abs(Number(found[0]?.n) - rows)).toBeLessThanOrEqual(rows / 100)
        },
        { timeout: 75_000, interval: 200 },
      )
    }

    /** 150,000 audit events and one user, the statistics taken (ANALYZE), in a fresh schema or database. */
    const filled = async (url: string): Promise<Kysely<TesseraDatabase>> => {
      // 150,000 rows take seconds on a loaded machine: a statement limit above that.
      const db = await openDatabase({ url, timeoutMs: 120_000 })
      await migrateToLatest(db)
      await sql`insert into audit_events (at, event)
        select 1800000000 + g, 'login' from generate_series(1, 150000) g`.execute(db)
      await sqlStores(db).users.create(
        { username: 'Ann', usernameNormalized: 'ann', passwordHash: '$h', roles: [] },
        1_800_000_000,
      )
      await sql`analyze audit_events`.execute(db)
      return db
    }

    it('reports a table its statistics put above 100,000 rows without counting it, deletes since the last ANALYZE included, and counts small ones', async () => {
      const schema = await database.schema()
      const db = await filled(schema.url)
      try {
        // Deleted after the statistics were taken: the live-row count follows them without an ANALYZE.
        await deleteAuditEvents(db, 10_000)
        await liveRowsReach(db, 'audit_events', 140_000)
        const counted: string[] = []
        const counts = await countRows(recordingCounts(db, counted))
        expect(Math.abs((counts.audit_events ?? 0) - 140_000)).toBeLessThanOrEqual(1_400)
        expect(counted).not.toContain('audit_events')
        // Never analysed (reltuples -1): counted.
        expect(counted).toEqual(expect.arrayContaining(['users', 'sessions']))
        expect(counts.users).toBe(1)
        expect(counts.sessions).toBe(0)
      } finally {
        await db.destroy()
        await schema.drop()
      }
    }, 150_000)

    // The ANALYZE before a purge said 150,000 rows: until the next one, reltuples still does (autovacuum
    // off, or not yet come round), and the gauge said 150,000 for a table of 10,000.
    it('counts a table that shrank to 100,000 rows or fewer since its last ANALYZE', async () => {
      const schema = await database.schema()
      const db = await filled(schema.url)
      try {
        await sql`alter table audit_events set (autovacuum_enabled = off)`.execute(db)
        await deleteAuditEvents(db, 140_000)
        await liveRowsReach(db, 'audit_events', 10_000)
        const counted: string[] = []
        expect((await countRows(recordingCounts(db, counted))).audit_events).toBe(10_000)
        expect(counted).toContain('audit_events')
      } finally {
        await db.destroy()
        await schema.drop()
      }
    }, 150_000)

    // A crash recovery or pg_stat_reset() empties the statistics: the live-row count starts from 0 again,
    // and would have every instance count tens of millions of rows each minute until the next ANALYZE.
    it('reports the estimate of the last ANALYZE while the statistics were reset since, without counting', async () => {
      // A database of its own: pg_stat_reset() resets a whole database's statistics.
      const own = await createTestDatabase('h52gauge')
      const db = await filled(own.url)
      try {
        await sql`select pg_stat_reset()`.execute(db)
        await liveRowsReach(db, 'audit_events', 0)
        const counted: string[] = []
        const counts = await countRows(recordingCounts(db, counted))
        expect(counts.audit_events).toBeGreaterThan(145_000)
        expect(counts.audit_events).toBeLessThan(155_000)
        expect(counted).not.toContain('audit_events')
      } finally {
        await db.destroy()
        await own.drop()
      }
    }, 150_000)
  })

  describe('the user list on PostgreSQL', () => {
    // What a page costs is what it reads: the table's counters for this transaction, before and after.
    async function rowsRead(db: Kysely<TesseraDatabase>, query: UserListQuery): Promise<number> {
      return db.transaction().execute(async (trx) => {
        const read = async (): Promise<number> => {
          const { rows } = await sql<{ n: string }>`
            select coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) as n
            from pg_stat_xact_user_tables where relid = 'users'::regclass`.execute(trx)
          return Number(rows[0]?.n)
        }
        const before = await read()
        expect((await userStore(trx).list(query)).users).toHaveLength(50)
        return (await read()) - before
      })
    }

    it('reads a page after an id through the primary key: about its own rows, wherever it is', async () => {
      const schema = await database.schema()
      const db = await openDatabase({ url: schema.url, timeoutMs: 60_000 })
      try {
        await migrateToLatest(db)
        await sql`insert into users (username, username_normalized, password_hash, created_at, updated_at, password_changed_at)
          select 'u' || g, 'u' || g, '$h', 0, 0, 0 from generate_series(1, 20000) g`.execute(db)
        await sql`analyze users`.execute(db)
        // Its 50 rows, one more (is there a next page?), and the few the planner may probe in the index
        // for the column's ends when the id is outside its statistics.
        for (const after of [0, 10_000, 19_900])
          expect(
            await rowsRead(db, { limit: 50, after, count: false }),
            `after ${String(after)}`,
          ).toBeLessThan(60)
        // What paging by position costs, for comparison: every row before the page.
        expect(await rowsRead(db, { limit: 50, offset: 19_900, count: false })).toBeGreaterThan(19_900)
      } finally {
        await db.destroy()
        await schema.drop()
      }
    }, 60_000)
  })

  describe('openDatabase (PostgreSQL)', () => {
    it('speaks the postgres dialect and returns int8 times as numbers', async () => {
      const database = await createTestDatabase('open')
      const db = await openDatabase({ url: database.url })
      try {
        expect(dialectOf(db)).toBe('postgres')
        await migrateToLatest(db)
        const created = await sqlStores(db).users.create(
          { username: 'Ann', usernameNormalized: 'ann', passwordHash: '$h', roles: [] },
          1_800_000_000,
        )
        expect(created.ok).toBe(true)
        const row = await db.selectFrom('users').select('created_at').executeTakeFirstOrThrow()
        expect(row.created_at).toBe(1_800_000_000)
        const { rows } = await sql<{ n: unknown }>`select 9007199254740991::int8 as n`.execute(db)
        expect(rows[0]?.n).toBe(Number.MAX_SAFE_INTEGER)
      } finally {
        await db.destroy()
        await database.drop()
      }
    })

    it('opens at most poolSize connections', async () => {
      const database = await createTestDatabase('pool')
      const db = await openDatabase({ url: database.url, poolSize: 2 })
      try {
        await Promise.all(Array.from({ length: 6 }, () => sql`select pg_sleep(0.05)`.execute(db)))
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from pg_stat_activity where datname = current_database()`.execute(db)
        expect(rows[0]?.n).toBeLessThanOrEqual(2)
        expect(rows[0]?.n).toBeGreaterThanOrEqual(1)
      } finally {
        await db.destroy()
        await database.drop()
      }
    })

    it('refuses a pool size that is not a positive whole number', async () => {
      await expect(openDatabase({ url: 'postgres://127.0.0.1/x', poolSize: 0 })).rejects.toBeInstanceOf(
        ConfigurationError,
      )
    })

    it('fails a query with a connection error code when the server is unreachable', async () => {
      // Port 1 on loopback: nothing listens there.
      const db = await openDatabase({ url: 'postgres://app:hunter2@127.0.0.1:1/none' })
      try {
        const error: unknown = await sql`select 1`.execute(db).catch((e: unknown) => e)
        expect((error as { code?: string }).code).toBe('ECONNREFUSED')
      } finally {
        await db.destroy()
      }
    })
  })
})

// No server needed: how a URL without a user name is completed.
describe('PostgreSQL URL without a user name', () => {
  const noUser = { PGUSER: '', USER: '' }

  it('connects as the OS user, as psql does, when neither $PGUSER nor $USER is set', () => {
    const url = withDefaultUser('postgres://127.0.0.1:5432/test', noUser)
    expect(new URL(url).username).toBe(encodeURIComponent(userInfo().username))
    expect(new URL(url).host).toBe('127.0.0.1:5432')
    expect(new URL(url).pathname).toBe('/test')
  })

  it('leaves the URL alone when it names a user, or when $PGUSER or $USER will be used', () => {
    expect(withDefaultUser('postgres://alice@127.0.0.1/test', noUser)).toBe('postgres://alice@127.0.0.1/test')
    expect(withDefaultUser('postgres://127.0.0.1/test', { USER: 'bob' })).toBe('postgres://127.0.0.1/test')
    expect(withDefaultUser('postgres://127.0.0.1/test', { PGUSER: 'carol' })).toBe(
      'postgres://127.0.0.1/test',
    )
  })

  it('leaves an unparsable URL for the driver to refuse', () => {
    expect(withDefaultUser('not a url', noUser)).toBe('not a url')
  })
})
