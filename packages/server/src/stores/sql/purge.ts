/**
 * Batched deletes of what has expired, for the maintenance job: each call deletes at most `limit` rows
 * in one short statement, so it never holds a lock for long, and running it again (or on another
 * instance at the same moment) is harmless: on PostgreSQL each batch skips the rows another
 * transaction holds, so instances purging at once share the rows out. Every purge is one
 * {@link deleteBatch}.
 */
import { setImmediate as yieldToRequests } from 'node:timers/promises'
import { sql, type Kysely, type RawBuilder, type SqlBool } from 'kysely'
import { dialectOf } from './dialect.js'
import type { TesseraDatabase } from './schema.js'

/** The tables the purges delete from, and the time columns their batches are picked by. */
interface PurgedColumns {
  revocations: 'expires_at'
  sessions: 'expires_at' | 'revoked_at'
  audit_events: 'at'
  legacy_exchanges: 'expires_at'
}

/** A time column of a purged table, and the rows due: those below `bound` (`inclusive`: or at it). */
interface Due<T extends keyof PurgedColumns> {
  column: PurgedColumns[T]
  bound: number
  inclusive?: boolean
  /**
   * Only audit events of these types (the routine ones), picked in (`event`, `at`) order: an index
   * range of `audit_events_event_at_idx` per type.
   */
  events?: T extends 'audit_events' ? readonly string[] : never
}

/**
 * Deletes up to `limit` rows of `table` that are due, the oldest by `due.column` first; returns how
 * many. The statement reads about as many rows as it deletes, whatever the table's size and statistics:
 *
 * - The batch is picked in the order of the column its condition tests: the planner then reads that
 *   column's index range. Unordered, statistics taken while many rows were due (a backlog, until the
 *   next ANALYZE after its purge) made PostgreSQL read the table in physical order for the few rows
 *   left, to its end, on every pass of every instance (sessions at 320,000 rows: 52 ms and 19,700 pages
 *   a pass, against 3 ms by the index).
 * - The rows picked are deleted by their address (PostgreSQL's `ctid`, a TID scan; SQLite's `rowid`),
 *   not joined back to the table by key: PostgreSQL joined a batch of 1,000 keys by hashing the whole
 *   table whenever it held fewer than a few hundred thousand rows (revocations at 200,000: 24–40 ms a
 *   batch, a backlog purged in quadratic time), and the revocations' recheck of `expires_at` read every
 *   due row once more (100,000 for a batch of 1,000).
 * - On PostgreSQL the rows are locked as they are picked, skipping those another transaction holds
 *   (`FOR UPDATE SKIP LOCKED`). Every instance purges each minute without a leader: two batches picked
 *   the same rows, so one waited for the other's commit, came back with nothing and ended its pass
 *   early, or, locking them in another order, was cancelled as a deadlock (a failed task, an error in
 *   the log; seen with three servers on one database). SQLite has one writer at a time: nothing to skip.
 * - The statement's only condition is the address: given the time condition again (as the revocations
 *   purge had it), PostgreSQL's planner read the rows to delete by that condition's index range, every
 *   due row each batch, wherever its statistics underestimated them (a backlog that built up since the
 *   last ANALYZE), and so did SQLite's for the routine audit events. None is needed: a row picked is
 *   locked until the transaction ends, so nothing changes it before it is deleted, and a row updated by
 *   a transaction that committed after the statement began (an upserted revocation) is picked in its
 *   newest version, which the statement's snapshot does not see: it is left to a later batch, and
 *   deleted then if still due.
 */
export async function deleteBatch<T extends keyof PurgedColumns>(
  db: Kysely<TesseraDatabase>,
  table: T,
  due: Due<T>,
  limit: number,
): Promise<number> {
  const postgres = dialectOf(db) === 'postgres'
  const from = sql.table(table)
  const column = sql.ref(due.column)
  const { events } = due
  if (events?.length === 0) return 0
  const before = sql`${column} ${sql.raw(due.inclusive === true ? '<=' : '<')} ${due.bound}`
  // Of given types: `= any(array[…])` on PostgreSQL, even for one type (`in (one)` becomes `=`), and
  // ordered by (`event`, `at`). Only that index gives this order, so the planner reads it whatever it
  // believes: ordered by `at` alone, once a purge had caught up it believed that a tenth of the routine
  // events were due (the table's `at` histogram times the type's share) and read audit_events_at_idx
  // through every security event older than the cutoff, by the heap (1M events: 19,000 pages a pass).
  const condition: RawBuilder<unknown> =
    events === undefined
      ? before
      : sql`${sql.ref('event')} ${postgres ? sql`= any(array[${sql.join(events)}])` : sql`in (${sql.join(events)})`} and ${before}`
  const order = events === undefined ? column : sql`${sql.ref('event')}, ${column}`
  const address = sql.raw(postgres ? 'ctid' : 'rowid')
  const picked = sql`select ${address} from ${from} where ${condition} order by ${order} limit ${limit}`
  // Widened from the generic: Kysely's builder cannot resolve its columns for an unknown table.
  const target: keyof PurgedColumns = table
  const result = await db
    .deleteFrom(target)
    .where(
      postgres
        ? sql<SqlBool>`ctid = any(array(${picked} for update skip locked))`
        : sql<SqlBool>`rowid in (${picked})`,
    )
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** Deletes up to `limit` revocations that expired before `now`; returns how many. */
export function purgeRevocations(db: Kysely<TesseraDatabase>, now: number, limit: number): Promise<number> {
  return deleteBatch(db, 'revocations', { column: 'expires_at', bound: now }, limit)
}

/**
 * Deletes up to `limit` sessions that expired, or were revoked, at or before `cutoff` (now minus the
 * retention); returns how many. A refresh token of a deleted session is refused (`not_found`), and its
 * access tokens stay refused by the session's own revocation entry. Two statements, each an index range
 * (`sessions_expires_at_idx`, then the partial `sessions_revoked_at_idx`): one `or` of both columns
 * would read every session.
 */
export async function purgeSessions(
  db: Kysely<TesseraDatabase>,
  cutoff: number,
  limit: number,
): Promise<number> {
  const endedBy = (column: 'expires_at' | 'revoked_at', max: number): Promise<number> =>
    deleteBatch(db, 'sessions', { column, bound: cutoff, inclusive: true }, max)
  const expired = await endedBy('expires_at', limit)
  return expired >= limit ? expired : expired + (await endedBy('revoked_at', limit - expired))
}

/**
 * Deletes up to `limit` exchanges of legacy refresh tokens (the Flask app's) that expired at or before
 * `cutoff`: such a token is refused as expired before its exchange is looked up, so the row no longer
 * guards against anything. An index range of `legacy_exchanges_expires_at_idx`.
 */
export function purgeLegacyExchanges(
  db: Kysely<TesseraDatabase>,
  cutoff: number,
  limit: number,
): Promise<number> {
  return deleteBatch(db, 'legacy_exchanges', { column: 'expires_at', bound: cutoff, inclusive: true }, limit)
}

/** Tables larger than this (by PostgreSQL's estimate) are reported by the estimate, not counted. */
const EXACT_COUNT_LIMIT = 100_000

/**
 * Rows per table, for the `tessera_table_rows` gauge. A count reads a whole index (SQLite: ~30 ms per
 * 2 million rows on a small machine, on the event loop), so the event loop gets a turn between tables.
 * On PostgreSQL, where every instance asks each minute and `audit_events` reaches tens of millions of
 * rows (seconds of a database core per count), a table estimated above {@link EXACT_COUNT_LIMIT} rows
 * is reported by that estimate; smaller ones, and tables never analysed, are counted. The estimate is
 * the statistics' live-row count (`pg_stat_user_tables.n_live_tup`: set by each VACUUM and ANALYZE,
 * then moved by every committed insert and delete, within a second or so). `pg_class.reltuples` alone
 * changes only at a VACUUM or ANALYZE: after a purge of a backlog, until autovacuum came round (or for
 * ever with it off), the gauge showed the size before it, and a table shrunk below the limit was not
 * counted. Statistics reset since the table's last VACUUM or ANALYZE (a crash recovery,
 * `pg_stat_reset()`) count live rows from 0 again: then `reltuples` is the estimate, as before.
 */
export async function countRows(db: Kysely<TesseraDatabase>): Promise<Record<string, number>> {
  const tables = ['users', 'sessions', 'revocations', 'signing_keys', 'audit_events'] as const
  const estimates = new Map<string, number>()
  if (dialectOf(db) === 'postgres') {
    const { rows } = await sql<{ table: string; reltuples: number | string; live: number | string | null }>`
      select c.relname as "table", c.reltuples,
        case when coalesce(s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze) is not null
          then s.n_live_tup end as live
      from pg_class c left join pg_stat_user_tables s on s.relid = c.oid
      where c.oid in (${sql.join(tables.map((t) => sql`to_regclass(${t})`))})`.execute(db)
    // reltuples is -1 for a table never vacuumed or analysed (PostgreSQL 14 on): no estimate, counted.
    for (const row of rows) estimates.set(row.table, Number(row.live ?? row.reltuples))
  }
  const counts: Record<string, number> = {}
  for (const table of tables) {
    const estimate = estimates.get(table) ?? -1
    if (estimate > EXACT_COUNT_LIMIT) {
      counts[table] = Math.round(estimate)
      continue
    }
    const row = await db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirstOrThrow()
    counts[table] = Number(row.n)
    await yieldToRequests()
  }
  return counts
}

/** The `server_state` rows of the maintenance job's trusted clock (clock-guard.ts). */
const TRUSTED_TIME = 'trusted_time'
const CLOCK_HELD_SINCE = 'clock_held_since'

/**
 * Where the maintenance job's trusted clock starts (clock-guard.ts): the trusted time the last pass
 * saved ({@link saveTrustedTime}), or, on a database that has none yet (passes off, or upgraded from
 * before 0007), the newest audit event or signing key; with the trusted time a distrust of the clock
 * began at, if one was going on. Empty: `{}` (the wall clock).
 */
export async function trustedStart(
  db: Kysely<TesseraDatabase>,
): Promise<{ start?: number; heldSince?: number }> {
  const rows = await db
    .selectFrom('server_state')
    .select(['name', 'value'])
    .where('name', 'in', [TRUSTED_TIME, CLOCK_HELD_SINCE])
    .execute()
  const saved = (name: string): number | undefined => {
    const row = rows.find((r) => r.name === name)
    return row === undefined ? undefined : Number(row.value)
  }
  const start = saved(TRUSTED_TIME) ?? (await newestRecordedTime(db))
  const heldSince = saved(CLOCK_HELD_SINCE)
  return {
    ...(start === undefined ? {} : { start }),
    ...(heldSince === undefined ? {} : { heldSince }),
  }
}

/**
 * Saves the time a pass counted by, over the one saved before (the last pass of any instance wins: a
 * time saved by a clock that was ahead is replaced once it is put right), and whether the clock is
 * distrusted: `heldSince` is kept from the first pass that distrusted it (so that a restart goes on
 * counting), and removed by a pass that trusts it.
 */
export async function saveTrustedTime(
  db: Kysely<TesseraDatabase>,
  at: number,
  heldSince: number | undefined,
): Promise<void> {
  await db
    .insertInto('server_state')
    .values({ name: TRUSTED_TIME, value: at })
    .onConflict((oc) => oc.column('name').doUpdateSet({ value: at }))
    .execute()
  if (heldSince === undefined) {
    await db.deleteFrom('server_state').where('name', '=', CLOCK_HELD_SINCE).execute()
    return
  }
  await db
    .insertInto('server_state')
    .values({ name: CLOCK_HELD_SINCE, value: heldSince })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute()
}

/**
 * The newest time the database has recorded (Unix seconds): its newest audit event or signing key;
 * undefined for an empty database. Both are read through an index or from a table of a few rows.
 */
export async function newestRecordedTime(db: Kysely<TesseraDatabase>): Promise<number | undefined> {
  const audit = await db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.max<number | string | null>('at').as('at'))
    .executeTakeFirst()
  const keys = await db
    .selectFrom('signing_keys')
    .select((eb) => eb.fn.max<number | string | null>('created_at').as('at'))
    .executeTakeFirst()
  const times = [audit?.at, keys?.at].flatMap((at) => (at === null || at === undefined ? [] : [Number(at)]))
  return times.length === 0 ? undefined : Math.max(...times)
}
