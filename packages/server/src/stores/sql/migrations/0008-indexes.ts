/**
 * Indexes for months of operation:
 * - (`event`, `at`) on `audit_events`, for the purge of the routine events (logins, refreshes) past
 *   their own, shorter retention (`TESSERA_AUDIT_ROUTINE_RETENTION`): one index range per type. By
 *   `audit_events_at_idx` that purge read every security event older than its cutoff on every pass
 *   (1M events, routine ones kept 30 of 90 days: 19,000 pages and 0.6–0.9 s a pass, against a few pages
 *   and 2 ms). About 30 bytes a row, 70–120 more bytes of WAL per audit event written. Building it
 *   takes audit_events' writes (every login, refresh and registration waits) for about 2–3 s per
 *   million rows.
 */
import type { Kysely, Migration } from 'kysely'

type Db = Kysely<unknown>

async function up(db: Db): Promise<void> {
  await db.schema
    .createIndex('audit_events_event_at_idx')
    .on('audit_events')
    .columns(['event', 'at'])
    .execute()
}

async function down(db: Db): Promise<void> {
  await db.schema.dropIndex('audit_events_event_at_idx').ifExists().execute()
}

/** Migration: the index of the routine audit events' purge. */
export const scaleIndexes: Migration = { up, down }
