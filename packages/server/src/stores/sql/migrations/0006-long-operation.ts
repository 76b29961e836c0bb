/**
 * For months of operation:
 * - PostgreSQL: `audit_events.id` becomes `bigint` (PostgreSQL changes its identity sequence with it).
 *   As `integer` it ends at 2^31 − 1, and identities are never reused, whatever the retention deletes:
 *   at ten million audit events a day (about 100,000 active users) the ids would run out after about
 *   seven months, and from then on every login, refresh and registration would fail, since each writes
 *   its audit event in its own transaction. The change rewrites the table once, under an exclusive
 *   lock, during the upgrade. SQLite's `integer primary key` is 64-bit already.
 * - A partial index on `sessions.revoked_at` (only revoked sessions are in it): the purge of sessions
 *   revoked longer ago than the retention then reads an index range instead of every session.
 * - An index on `legacy_exchanges.expires_at`, for the purge of exchanges whose legacy token expired.
 */
import type { Kysely, Migration } from 'kysely'
import { sql } from 'kysely'
import { dialectOf } from '../dialect.js'

type Db = Kysely<unknown>

async function up(db: Db): Promise<void> {
  if (dialectOf(db) === 'postgres')
    await sql`alter table audit_events alter column id type bigint`.execute(db)
  await db.schema
    .createIndex('sessions_revoked_at_idx')
    .on('sessions')
    .column('revoked_at')
    .where('revoked_at', 'is not', null)
    .execute()
  await db.schema
    .createIndex('legacy_exchanges_expires_at_idx')
    .on('legacy_exchanges')
    .column('expires_at')
    .execute()
}

async function down(db: Db): Promise<void> {
  await db.schema.dropIndex('legacy_exchanges_expires_at_idx').ifExists().execute()
  await db.schema.dropIndex('sessions_revoked_at_idx').ifExists().execute()
  if (dialectOf(db) === 'postgres')
    await sql`alter table audit_events alter column id type integer`.execute(db)
}

/** Migration: 64-bit audit ids on PostgreSQL, indexes for the purges of revoked sessions and legacy exchanges. */
export const longOperation: Migration = { up, down }
