/**
 * Batched deletes of what has expired, for the maintenance job: each call deletes at most `limit` rows
 * in one short statement, so it never holds a lock for long, and running it again (or on another
 * instance at the same moment) is harmless: on PostgreSQL each batch skips the rows another
 * transaction holds ({@link skippingLocked}), so instances purging at once share the rows out.
 *
 * Each batch is picked in the order of the column its condition tests: the planner then reads that
 * column's index range whatever the table's statistics say. Unordered, statistics taken while many
 * rows were due (a backlog, until the next ANALYZE after its purge) made PostgreSQL read the table in
 * physical order for the few rows left, to its end, on every pass of every instance (sessions at
 * 320,000 rows: 52 ms and 19,700 pages a pass, against 3 ms by the index).
 */
import { setImmediate as yieldToRequests } from 'node:timers/promises'
import { sql, type Kysely, type SelectQueryBuilder } from 'kysely'
import { dialectOf } from './dialect.js'
import type { TesseraDatabase } from './schema.js'

/**
 * The rows of one batch, as picked by `query`: on PostgreSQL locked as they are picked, skipping those
 * another transaction holds (`FOR UPDATE SKIP LOCKED`). Every instance purges each minute without a
 * leader: two batches picked the same rows, so one waited for the other's commit, came back with
 * nothing and ended its pass early, or, locking them in another order, was cancelled as a deadlock
 * (a failed task, an error in the log; seen with three servers on one database). SQLite has one
 * writer at a time: nothing to skip.
 */
export function skippingLocked<DB, TB extends keyof DB, O>(
  db: Kysely<TesseraDatabase>,
  query: SelectQueryBuilder<DB, TB, O>,
): SelectQueryBuilder<DB, TB, O> {
  return dialectOf(db) === 'postgres' ? query.forUpdate().skipLocked() : query
}

/** Deletes up to `limit` revocations that expired before `now`; returns how many. */
export async function purgeRevocations(
  db: Kysely<TesseraDatabase>,
  now: number,
  limit: number,
): Promise<number> {
  const result = await db
    .deleteFrom('revocations')
    .where('expires_at', '<', now)
    .where((eb) =>
      eb(
        eb.refTuple('kind', 'id'),
        'in',
        skippingLocked(
          db,
          eb
            .selectFrom('revocations')
            .select(['kind', 'id'])
            .where('expires_at', '<', now)
            .orderBy('expires_at')
            .limit(limit),
        ).$asTuple('kind', 'id'),
      ),
    )
    .executeTakeFirst()
  return Number(result.numDeletedRows)
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
  const endedBy = async (column: 'expires_at' | 'revoked_at', max: number): Promise<number> => {
    const result = await db
      .deleteFrom('sessions')
      .where('id', 'in', (eb) =>
        skippingLocked(
          db,
          eb.selectFrom('sessions').select('id').where(column, '<=', cutoff).orderBy(column).limit(max),
        ),
      )
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  }
  const expired = await endedBy('expires_at', limit)
  return expired >= limit ? expired : expired + (await endedBy('revoked_at', limit - expired))
}

/**
 * Deletes up to `limit` exchanges of legacy refresh tokens (the Flask app's) that expired at or before
 * `cutoff`: such a token is refused as expired before its exchange is looked up, so the row no longer
 * guards against anything. An index range of `legacy_exchanges_expires_at_idx`.
 */
export async function purgeLegacyExchanges(
  db: Kysely<TesseraDatabase>,
  cutoff: number,
  limit: number,
): Promise<number> {
  const result = await db
    .deleteFrom('legacy_exchanges')
    .where('jti', 'in', (eb) =>
      skippingLocked(
        db,
        eb
          .selectFrom('legacy_exchanges')
          .select('jti')
          .where('expires_at', '<=', cutoff)
          .orderBy('expires_at')
          .limit(limit),
      ),
    )
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** Tables larger than this (by PostgreSQL's estimate) are reported by the estimate, not counted. */
const EXACT_COUNT_LIMIT = 100_000

/**
 * Rows per table, for the `tessera_table_rows` gauge. A count reads a whole index (SQLite: ~30 ms per
 * 2 million rows on a small machine, on the event loop), so the event loop gets a turn between tables.
 * On PostgreSQL, where every instance asks each minute and `audit_events` reaches tens of millions of
 * rows (seconds of a database core per count), a table its statistics put above
 * {@link EXACT_COUNT_LIMIT} rows is reported by that estimate (`pg_class.reltuples`, kept by
 * autovacuum and ANALYZE); smaller ones, and tables never analysed, are counted.
 */
export async function countRows(db: Kysely<TesseraDatabase>): Promise<Record<string, number>> {
  const tables = ['users', 'sessions', 'revocations', 'signing_keys', 'audit_events'] as const
  const estimates = new Map<string, number>()
  if (dialectOf(db) === 'postgres') {
    const { rows } = await sql<{ table: string; estimate: number | string }>`
      select c.relname as "table", c.reltuples as estimate
      from pg_class c
      where c.oid in (${sql.join(tables.map((t) => sql`to_regclass(${t})`))})`.execute(db)
    for (const row of rows) estimates.set(row.table, Number(row.estimate))
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
