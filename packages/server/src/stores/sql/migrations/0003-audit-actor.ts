/**
 * The audit log records who acted and from where: `actor_id` (the user who made the change, when it is
 * not the subject's own request; null for the CLI and the system), the client's `ip` and `user_agent`,
 * and an index to list one type of event. Additive only: existing rows keep nulls.
 */
import type { Kysely, Migration } from 'kysely'

type Db = Kysely<unknown>

async function up(db: Db): Promise<void> {
  await db.schema.alterTable('audit_events').addColumn('actor_id', 'integer').execute()
  await db.schema.alterTable('audit_events').addColumn('ip', 'text').execute()
  await db.schema.alterTable('audit_events').addColumn('user_agent', 'text').execute()
  await db.schema
    .createIndex('audit_events_actor_id_idx')
    .on('audit_events')
    .columns(['actor_id', 'id'])
    .execute()
  await db.schema.createIndex('audit_events_event_idx').on('audit_events').columns(['event', 'id']).execute()
}

async function down(db: Db): Promise<void> {
  await db.schema.dropIndex('audit_events_event_idx').ifExists().execute()
  await db.schema.dropIndex('audit_events_actor_id_idx').ifExists().execute()
  for (const column of ['user_agent', 'ip', 'actor_id']) {
    await db.schema.alterTable('audit_events').dropColumn(column).execute()
  }
}

/** Migration: actor, IP and user agent in the audit log. */
export const auditActor: Migration = { up, down }
