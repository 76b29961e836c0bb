/**
 * `server_state`: values the instances keep between runs, one row each. The first is `trusted_time`,
 * the newest time the maintenance job has counted by (clock-guard.ts): a server started on a clock far
 * ahead of it distrusts that clock. Anchored instead on the newest audit event, a restart after a
 * login on the wrong clock believed that clock, and its first pass purged every young row.
 */
import type { Kysely, Migration } from 'kysely'

type Db = Kysely<unknown>

async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('server_state')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'bigint', (c) => c.notNull())
    .execute()
}

async function down(db: Db): Promise<void> {
  await db.schema.dropTable('server_state').ifExists().execute()
}

/** Migration: the `server_state` table (the maintenance job's trusted time). */
export const serverState: Migration = { up, down }
