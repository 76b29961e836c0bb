/**
 * Users imported from another system (`tessera users import`, e.g. a Flask app on flask-jwt-extended):
 * which legacy identity (the old tokens' `sub`) each imported user had, and which legacy refresh
 * tokens were already exchanged for a Tessera session (each may be exchanged once).
 *
 * No column is added to `users`: an imported user keeps the foreign hash in `password_hash` until the
 * first login rehashes it, and the scheme is read from the hash's own prefix.
 */
import type { Kysely, Migration } from 'kysely'

type Db = Kysely<unknown>

async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('legacy_identities')
    // Exactly as the old system wrote it in its tokens (case and all): "Alice" and "alice" were two
    // Flask users, and only the one that was imported may be reached through a legacy token.
    .addColumn('identity', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('imported_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('legacy_identities_user_id_idx')
    .on('legacy_identities')
    .columns(['user_id'])
    .execute()

  await db.schema
    .createTable('legacy_exchanges')
    .addColumn('jti', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // The session the exchange created: revoked if the legacy token is ever presented again.
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('exchanged_at', 'bigint', (c) => c.notNull())
    // The legacy token's own exp: after it the row only documents history and may be pruned.
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute()
}

async function down(db: Db): Promise<void> {
  await db.schema.dropTable('legacy_exchanges').ifExists().execute()
  await db.schema.dropTable('legacy_identities').ifExists().execute()
}

/** Migration: the legacy identities and exchanges of an import. */
export const legacyImport: Migration = { up, down }
