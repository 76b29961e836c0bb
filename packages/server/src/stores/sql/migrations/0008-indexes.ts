/**
 * Indexes for months of operation:
 * - (`event`, `at`) on `audit_events`, for the purge of the routine events (logins, refreshes) past
 *   their own, shorter retention (`TESSERA_AUDIT_ROUTINE_RETENTION`): one index range per type. By
 *   `audit_events_at_idx` that purge read every security event older than its cutoff on every pass
 *   (1M events, routine ones kept 30 of 90 days: 19,000 pages and 0.6–0.9 s a pass, against a few pages
 *   and 2 ms). About 30 bytes a row, 70–120 more bytes of WAL per audit event written. Building it
 *   takes audit_events' writes (every login, refresh and registration waits) for about 2–3 s per
 *   million rows.
 * - `user_id` on `legacy_exchanges`, for the cascade of a user's deletion (the other tables that
 *   reference `users` have theirs): without it, deleting a user read every exchange, in the
 *   transaction that deletes the user (200,000 exchanges: 121 ms on PostgreSQL, 14 ms on SQLite's
 *   event loop; 0.8 and 0.04 ms with it).
 */
import type { Kysely, Migration } from 'kysely'

type Db = Kysely<unknown>

async function up(db: Db): Promise<void> {
  await db.schema
    .createIndex('audit_events_event_at_idx')
    .on('audit_events')
    .columns(['event', 'at'])
    .execute()
  await db.schema
    .createIndex('legacy_exchanges_user_id_idx')
    .on('legacy_exchanges')
    .column('user_id')
    .execute()
}

async function down(db: Db): Promise<void> {
  await db.schema.dropIndex('legacy_exchanges_user_id_idx').ifExists().execute()
  await db.schema.dropIndex('audit_events_event_at_idx').ifExists().execute()
}

/** Migration: the index of the routine audit events' purge, and of a user's legacy exchanges. */
export const scaleIndexes: Migration = { up, down }
