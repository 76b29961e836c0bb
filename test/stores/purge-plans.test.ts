// The maintenance purges read index ranges, never whole tables: a pass runs every minute for months,
// and on SQLite (synchronous, on the event loop) a scan of a table of millions of rows would stop every
// request for as long. Each purge statement, as the repository compiles it, is given to the database's
// own planner (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN with sequential scans priced out, so a
// plan without an index range means no index can serve it). Plus the PostgreSQL audit id's width.
import { CompiledQuery, sql, type Kysely } from 'kysely'
import { describe, expect, it } from 'vitest'
import { openDatabase } from '../../packages/server/src/stores/sql/database.js'
import {
  createMigrator,
  migrateDatabase,
  migrateToLatest,
} from '../../packages/server/src/stores/sql/migrations/index.js'
import {
  purgeLegacyExchanges,
  purgeRevocations,
  purgeSessions,
} from '../../packages/server/src/stores/sql/purge.js'
import { ROUTINE_AUDIT_EVENTS } from '../../packages/server/src/stores/sql/audit.js'
import type { TesseraDatabase } from '../../packages/server/src/stores/sql/schema.js'
import { sqlStores } from '../../packages/server/src/stores/sql/stores.js'
import { compileOnly, type Flavour } from '../helpers/compile-only.js'
import { createTestDatabase, postgresReachable } from '../helpers/postgres.js'
import { serviceAvailable } from '../helpers/services.js'

/** The purge statements (text and parameters) as each dialect compiles them; nothing is executed. */
async function purgeStatements(
  flavour: Flavour,
  limit = 100,
): Promise<{ table: string; query: CompiledQuery }[]> {
  const { db, compiled } = compileOnly(flavour)
  await purgeRevocations(db, 1_000, limit)
  await purgeSessions(db, 1_000, limit)
  await sqlStores(db).audit.purgeBefore(1_000, limit)
  await sqlStores(db).audit.purgeBefore(1_000, limit, { events: ROUTINE_AUDIT_EVENTS })
  await purgeLegacyExchanges(db, 1_000, limit)
  await db.destroy()
  return compiled.map((query) => ({ table: /delete from "(\w+)"/.exec(query.sql)?.[1] ?? '?', query }))
}

/**
 * Each purge statement's table and the index of the column it tests: the revocations, the expired then
 * the revoked sessions, the audit events (all, then the routine ones), the legacy exchanges.
 */
const PURGE_INDEXES = [
  ['revocations', 'revocations_expires_at_idx'],
  ['sessions', 'sessions_expires_at_idx'],
  ['sessions', 'sessions_revoked_at_idx'],
  ['audit_events', 'audit_events_at_idx'],
  ['audit_events', 'audit_events_event_at_idx'],
  ['legacy_exchanges', 'legacy_exchanges_expires_at_idx'],
] as const

describe('maintenance purges on SQLite', () => {
  it('read an index range of each table (no full scan)', async () => {
    const statements = await purgeStatements('sqlite')
    expect(statements.map((s) => s.table)).toEqual(PURGE_INDEXES.map(([table]) => table))
    const db = await openDatabase({ url: ':memory:' })
    try {
      await migrateToLatest(db)
      for (const [i, { table, query }] of statements.entries()) {
        const plan = await db.executeQuery<{ detail: string }>(
          CompiledQuery.raw(`explain query plan ${query.sql}`, [...query.parameters]),
        )
        const details = plan.rows.map((row) => row.detail)
        expect(details, query.sql).not.toContainEqual(expect.stringMatching(/^SCAN /))
        expect(details.join(' | '), query.sql).toMatch(
          new RegExp(`SEARCH ${table} USING (COVERING )?INDEX ${PURGE_INDEXES[i]?.[1] ?? '?'} `),
        )
        // The rows picked are deleted by rowid, not found again by a second read of the index range.
        expect(details[0], query.sql).toBe(`SEARCH ${table} USING INTEGER PRIMARY KEY (rowid=?)`)
      }
    } finally {
      await db.destroy()
    }
  })
})

const postgres = serviceAvailable('PostgreSQL', await postgresReachable())

describe.skipIf(!postgres)('migration 0006 on a PostgreSQL database with many audit events', () => {
  // A rewrite of audit_events takes longer than a request may (the serving connection's statement
  // limit); the migration connection has none, and still waits for a lock no longer than the limit.
  it('completes where a statement takes longer than the timeout, over migrateDatabase', async () => {
    const database = await createTestDatabase('mig6')
    const timeoutMs = 200
    // Setting up 300,000 rows takes seconds on a loaded machine: no limit that matters here.
    const serving = await openDatabase({ url: database.url, poolSize: 1, timeoutMs: 120_000 })
    try {
      const { error } = await createMigrator(serving).migrateTo('0005-username-case-folding')
      if (error !== undefined) throw error as Error
      await sql`insert into audit_events (at, event, detail)
        select 1800000000 + g, 'refresh', repeat('x', 200) from generate_series(1, 300000) g`.execute(serving)
      // The serving connection's limit would cancel the rewrite.
      const limited = await openDatabase({ url: database.url, poolSize: 1, timeoutMs })
      try {
        await expect(migrateToLatest(limited)).rejects.toThrow(
          /0006-long-operation.*(statement timeout|Query read timeout)/,
        )
      } finally {
        await limited.destroy()
      }
      const report = await migrateDatabase({ url: database.url, timeoutMs })
      expect(report.applied).toEqual(['0006-long-operation', '0007-server-state', '0008-indexes'])
      const { rows } = await sql<{ data_type: string; n: number }>`
        select (select data_type from information_schema.columns
                where table_name = 'audit_events' and column_name = 'id') as data_type,
               (select count(*)::int from audit_events) as n`.execute(serving)
      expect(rows).toEqual([{ data_type: 'bigint', n: 300_000 }])
    } finally {
      await serving.destroy()
      await database.drop()
    }
  }, 120_000)
})

describe.skipIf(!postgres)('maintenance purges on PostgreSQL', () => {
  it('find the rows by an index range of each table, and audit ids are 64-bit', async () => {
    const statements = await purgeStatements('postgres')
    const database = await createTestDatabase('plans')
    const db = await openDatabase({ url: database.url, poolSize: 1 })
    try {
      await migrateToLatest(db)
      await db.connection().execute(async (conn) => {
        // Sequential scans priced out: a plan that still has one had no index to use.
        await sql`set enable_seqscan = off`.execute(conn)
        for (const { table, query } of statements) {
          const plan = await conn.executeQuery<{ 'QUERY PLAN': string }>(
            CompiledQuery.raw(`explain ${query.sql}`, [...query.parameters]),
          )
          const text = plan.rows.map((row) => row['QUERY PLAN']).join('\n')
          expect(text, `${table}: ${query.sql}`).not.toMatch(new RegExp(`Seq Scan on ${table}\\b`))
          // The rows to delete are found by a range of the index on the purge's own column (then
          // deleted by their address: the next suite runs them on full tables).
          expect(text, `${table}: ${query.sql}`).toMatch(
            /Index Cond: \((\(event = ANY \(.*\)\) AND \()?(expires_at|revoked_at|at) <=? /,
          )
        }
      })
      const { rows } = await sql<{ data_type: string }>`
        select data_type from information_schema.columns
        where table_name = 'audit_events' and column_name = 'id'`.execute(db)
      expect(rows).toEqual([{ data_type: 'bigint' }])
      // The identity's sequence follows the column: ids beyond 2^31 are handed out and read back.
      await sql`select setval(pg_get_serial_sequence('audit_events', 'id'), 3000000000)`.execute(db)
      await sqlStores(db).audit.record({ event: 'login', userId: null, at: 1 })
      const [event] = await sqlStores(db).audit.list({})
      expect(event?.id).toBe(3_000_000_001)
    } finally {
      await db.destroy()
      await database.drop()
    }
  })
})

/** A node of PostgreSQL's `EXPLAIN (ANALYZE, FORMAT JSON)` plan. */
interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  'Index Name'?: string
  'Actual Rows': number
  'Actual Loops': number
  'Rows Removed by Filter'?: number
  'Rows Removed by Index Recheck'?: number
  Plans?: PlanNode[]
}

const planNodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(planNodes)]

/**
 * What a statement read of `table`, run (and rolled back) under EXPLAIN ANALYZE: the rows each scan of
 * the table produced or filtered out, in all its loops, and the indexes it read.
 */
async function tableReads(
  db: Kysely<TesseraDatabase>,
  table: string,
  query: CompiledQuery,
): Promise<{ rows: number; scans: string[]; indexes: string[] }> {
  const rolledBack = new Error('rolled back')
  let plan: PlanNode | undefined
  await db
    .transaction()
    .execute(async (trx) => {
      const result = await trx.executeQuery<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        CompiledQuery.raw(`explain (analyze, format json) ${query.sql}`, [...query.parameters]),
      )
      plan = result.rows[0]?.['QUERY PLAN'][0].Plan
      throw rolledBack
    })
    .catch((error: unknown) => {
      if (error !== rolledBack) throw error
    })
  const scans = planNodes(plan as PlanNode).filter((node) => node['Relation Name'] === table)
  return {
    rows: scans.reduce(
      (sum, node) =>
        sum +
        (node['Actual Rows'] +
          (node['Rows Removed by Filter'] ?? 0) +
          (node['Rows Removed by Index Recheck'] ?? 0)) *
          node['Actual Loops'],
      0,
    ),
    scans: scans.map((node) => node['Node Type']),
    indexes: scans.flatMap((node) => node['Index Name'] ?? []),
  }
}

describe.skipIf(!postgres)(
  'maintenance purges on PostgreSQL with a backlog, then with stale statistics',
  () => {
    // A pass runs every minute on every instance. Each batch must read about as many rows as it deletes,
    // whatever the table's size and statistics: picked without an order, statistics taken while many rows
    // were due (a backlog, until the next ANALYZE after its purge) made PostgreSQL read the table in
    // physical order for the few rows left, to its end; and the rows picked, joined back to the table by
    // their key, were found by reading the whole table (a hash join over a sequential scan, or, for the
    // revocations, a second read of every due row): at 200,000 revocations 24–40 ms a batch, and a
    // backlog purged in quadratic time.
    it('read the index range of the column each purge tests, and about as many rows as a batch deletes', async () => {
      // The server's batch: how the planner joins the rows picked back to the table depends on how many.
      const batch = 1000
      const statements = await purgeStatements('postgres', batch)
      const expected = PURGE_INDEXES
      expect(statements.map((s) => s.table)).toEqual(expected.map(([table]) => table))
      const database = await createTestDatabase('h52stale')
      const db = await openDatabase({ url: database.url, poolSize: 1, timeoutMs: 60_000 })
      try {
        await migrateToLatest(db)
        const tables = ['revocations', 'sessions', 'audit_events', 'legacy_exchanges']
        for (const table of tables)
          await sql`alter table ${sql.table(table)} set (autovacuum_enabled = off)`.execute(db)
        await sql`insert into users (username, username_normalized, password_hash, created_at, updated_at, password_changed_at)
        values ('ann', 'ann', '$h', 1, 1, 1)`.execute(db)
        // Half of every table due at 1,000 (the statements' time), half not.
        const fill = async (due: boolean, from: number): Promise<void> => {
          // Many distinct times (a histogram, as real expiries make), below 1,000 or far above it.
          const time = due ? sql`1 + g % 900` : sql`100000 + g`
          const revoked = due ? time : sql`null`
          await sql`insert into revocations (kind, id, expires_at)
          select 'token', 'r' || g, (${time})::bigint from generate_series(${from}::int, ${from + 19_999}::int) g`.execute(
            db,
          )
          await sql`insert into sessions (id, user_id, created_at, last_used_at, expires_at, current_jti, revoked_at)
          select 's' || g, (select id from users), 1, 1, (${time})::bigint, 'j', (${revoked})::bigint
          from generate_series(${from}::int, ${from + 19_999}::int) g`.execute(db)
          await sql`insert into audit_events (at, event)
          select (${time})::bigint, case when g % 2 = 0 then 'login' else 'login_failed' end from generate_series(${from}::int, ${from + 19_999}::int) g`.execute(
            db,
          )
          await sql`insert into legacy_exchanges (jti, user_id, session_id, exchanged_at, expires_at)
          select 'l' || g, (select id from users), 's', 1, (${time})::bigint
          from generate_series(${from}::int, ${from + 19_999}::int) g`.execute(db)
        }
        // Statistics taken before the due half came.
        await fill(false, 100_001)
        for (const table of tables) await sql`analyze ${sql.table(table)}`.execute(db)
        await fill(true, 1)
        const check = async (state: string): Promise<void> => {
          for (const [i, { table, query }] of statements.entries()) {
            // Not the routine audit events: an event is written at its time and comes due a retention
            // later, by when ANALYZE (autovacuum's, after a tenth of the table changed) has seen it. Unseen,
            // the planner reads audit_events_at_idx for them (a sort of the one row it believes due).
            if (state === 'backlog unseen' && expected[i]?.[1] === 'audit_events_event_at_idx') continue
            const reads = await tableReads(db, table, query)
            const what = `${state}, ${table}: ${query.sql} (${reads.scans.join(', ')})`
            expect(reads.indexes, what).toContain(expected[i]?.[1])
            // The batch's rows found in the index, then each row once more to delete it.
            expect(reads.rows, what).toBeLessThanOrEqual(2 * batch)
          }
        }
        // A backlog the statistics have not seen (the passes stopped, or a mass logout, since the last
        // ANALYZE): they put no row below 1,000.
        await check('backlog unseen')
        // A backlog: half of each table due, and the statistics say so.
        for (const table of tables) await sql`analyze ${sql.table(table)}`.execute(db)
        await check('backlog')
        // The backlog purged but one row (as a pass does), the statistics still those of the backlog.
        await sql`delete from revocations where expires_at < 1000 and id <> 'r1'`.execute(db)
        await sql`delete from sessions where expires_at < 1000 and id <> 's1'`.execute(db)
        // The routine events due purged but one; the security events of that time kept (a longer
        // retention): what a routine purge that caught up finds at every pass.
        await sql`delete from audit_events where at < 1000 and event = 'login' and id <> (select min(id) from audit_events where event = 'login')`.execute(
          db,
        )
        await sql`delete from legacy_exchanges where expires_at < 1000 and jti <> 'l1'`.execute(db)
        await check('stale statistics')
        // And once they are taken again.
        for (const table of tables) await sql`analyze ${sql.table(table)}`.execute(db)
        await check('statistics taken again')
      } finally {
        await db.destroy()
        await database.drop()
      }
    }, 60_000)
  },
)

describe.skipIf(!postgres)('maintenance purges on PostgreSQL, two instances at once', () => {
  // Every instance runs every purge each minute, without a leader. A batch whose rows another
  // instance's batch is deleting must not wait for it: it waited (its rows were the same ones, taken
  // in another order), came back with nothing and ended its pass early, or, taken in an order that
  // crossed the other's, was cancelled as a deadlock (seen with three servers on one database: a failed
  // task, an error in the log). Each batch skips the rows another transaction holds.
  const batch = 100
  const now = 1_800_000_000
  const cutoff = now - 86_400
  const purges: Record<string, (db: Kysely<TesseraDatabase>) => Promise<number>> = {
    revocations: (db) => purgeRevocations(db, now, batch),
    'expired sessions': (db) => purgeSessions(db, cutoff, batch),
    'revoked sessions': (db) => purgeSessions(db, cutoff, batch),
    audit_events: (db) => sqlStores(db).audit.purgeBefore(cutoff, batch),
    'routine audit_events': (db) =>
      sqlStores(db).audit.purgeBefore(cutoff, batch, { events: ROUTINE_AUDIT_EVENTS }),
    legacy_exchanges: (db) => purgeLegacyExchanges(db, cutoff, batch),
  }

  it.each(Object.keys(purges))(
    '%s: a batch takes the next rows while another batch holds its own, without waiting',
    async (name) => {
      const database = await createTestDatabase('purge2')
      const first = await openDatabase({ url: database.url, poolSize: 1, timeoutMs: 60_000 })
      // A batch that waited for the first one's rows would fail after 1 s (lock_timeout).
      const second = await openDatabase({ url: database.url, poolSize: 1, timeoutMs: 1_000 })
      try {
        await migrateToLatest(first)
        const rows = 3 * batch
        await sql`insert into users (username, username_normalized, password_hash, created_at, updated_at, password_changed_at)
          values ('ann', 'ann', '$h', 1, 1, 1)`.execute(first)
        await sql`insert into revocations (kind, id, expires_at)
          select 'token', 'j' || g, ${now - 10} from generate_series(1, ${rows}) g`.execute(first)
        // Expired past the retention, or revoked then and expiring later.
        const revoked = name === 'revoked sessions'
        await sql`insert into sessions (id, user_id, created_at, last_used_at, expires_at, current_jti, revoked_at)
          select 's' || g, (select id from users), 1, 1, ${revoked ? now + 86_400 : cutoff - 10}::bigint, 'j',
            ${revoked ? cutoff - 10 : null}::bigint
          from generate_series(1, ${rows}) g`.execute(first)
        await sql`insert into audit_events (at, event) select ${cutoff - 10}, 'login' from generate_series(1, ${rows}) g`.execute(
          first,
        )
        await sql`insert into legacy_exchanges (jti, user_id, session_id, exchanged_at, expires_at)
          select 'l' || g, (select id from users), 's', 1, ${cutoff - 10} from generate_series(1, ${rows}) g`.execute(
          first,
        )
        const purge = purges[name] as (db: Kysely<TesseraDatabase>) => Promise<number>
        await first.transaction().execute(async (trx) => {
          expect(await purge(trx)).toBe(batch)
          // The first batch's rows stay locked until its transaction ends: the second batch deletes others.
          expect(await purge(second)).toBe(batch)
        })
        expect(await purge(second)).toBe(batch)
        expect(await purge(second)).toBe(0)
      } finally {
        await second.destroy()
        await first.destroy()
        await database.drop()
      }
    },
    30_000,
  )
})

describe.skipIf(!postgres)('maintenance purges on PostgreSQL, rows changed while a batch runs', () => {
  // A batch deletes the rows it picked by their address (ctid), with no recheck of their time: a row
  // changed by a transaction that committed after the batch's statement began must not be deleted for
  // what its old version said. The pick locks each row as it takes it (FOR UPDATE): PostgreSQL rechecks
  // the condition on the newest version, and hands back that version's address, which the statement's
  // snapshot does not see. A pause (a function in the pick's condition, on its first row) holds the
  // statement between its snapshot and its locks while another connection refreshes and revokes rows.
  it('keeps a session refreshed, and one revoked, after the batch began', async () => {
    const { db: compiler, compiled } = compileOnly('postgres')
    await purgeSessions(compiler, 100, 1000)
    await compiler.destroy()
    const [statement] = compiled
    const pick = 'where "expires_at" <= $1'
    expect(statement?.sql).toContain(pick)
    const paused = CompiledQuery.raw((statement?.sql ?? '').replace(pick, `${pick} and h56_pause("id")`), [
      ...(statement?.parameters ?? []),
    ])
    const database = await createTestDatabase('h56ctid')
    const purging = await openDatabase({ url: database.url, poolSize: 1, timeoutMs: 30_000 })
    const other = await openDatabase({ url: database.url, poolSize: 1, timeoutMs: 30_000 })
    try {
      await migrateToLatest(purging)
      await sql`create function h56_pause(id text) returns boolean language plpgsql volatile as $$
        begin if id = 's1' then perform pg_sleep(1.5); end if; return true; end $$`.execute(purging)
      await sql`insert into users (username, username_normalized, password_hash, created_at, updated_at, password_changed_at)
        values ('ann', 'ann', '$h', 1, 1, 1)`.execute(purging)
      await sql`insert into sessions (id, user_id, created_at, last_used_at, expires_at, current_jti)
        select 's' || g, (select id from users), 1, 1, g * 10, 'j' from generate_series(1, 5) g`.execute(
        purging,
      )
      const batch = purging.executeQuery(paused)
      await new Promise((resolve) => setTimeout(resolve, 500))
      // Committed while the batch pauses on s1: s2 refreshed (no longer due), s3 revoked (still due).
      await sql`update sessions set expires_at = 100000 where id = 's2'`.execute(other)
      await sql`update sessions set revoked_at = 5 where id = 's3'`.execute(other)
      expect(Number((await batch).numAffectedRows)).toBe(3)
      const left = await other.selectFrom('sessions').select(['id', 'expires_at']).orderBy('id').execute()
      // s3 stays for the next batch (its new version is not the one the statement saw).
      expect(left.map((s) => [s.id, Number(s.expires_at)])).toEqual([
        ['s2', 100000],
        ['s3', 30],
      ])
    } finally {
      await other.destroy()
      await purging.destroy()
      await database.drop()
    }
  }, 30_000)
})
