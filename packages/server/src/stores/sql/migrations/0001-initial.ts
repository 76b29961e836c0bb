/**
 * The initial schema: users, sessions (refresh-token families), revocations, signing keys, audit.
 * Portable schema-builder code: the only dialect branch is how an integer identity column is spelled.
 */
import { sql, type ColumnDefinitionBuilder, type Kysely, type Migration } from 'kysely'
import { dialectOf } from '../dialect.js'

type Db = Kysely<unknown>

// SQLite's AUTOINCREMENT never reuses the id of a deleted row, so a deleted user's `sub` can never be
// handed to a new account; PostgreSQL identities never reuse either.
function identity(db: Db): (column: ColumnDefinitionBuilder) => ColumnDefinitionBuilder {
  return dialectOf(db) === 'sqlite'
    ? (c) => c.primaryKey().autoIncrement()
    : (c) => c.primaryKey().generatedByDefaultAsIdentity()
}

async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'integer', identity(db))
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('username_normalized', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('roles', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('password_changed_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('users_username_normalized_key', ['username_normalized'])
    .execute()

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('user_agent', 'text')
    .addColumn('ip', 'text')
    .addColumn('current_jti', 'text', (c) => c.notNull())
    .addColumn('previous_jti', 'text')
    .addColumn('generation', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rotated_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .addColumn('revoked_reason', 'text')
    .execute()
  await db.schema.createIndex('sessions_user_id_idx').on('sessions').columns(['user_id']).execute()
  await db.schema.createIndex('sessions_expires_at_idx').on('sessions').columns(['expires_at']).execute()

  await db.schema
    .createTable('revocations')
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('token', 'session', 'user')`))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('before', 'bigint')
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('revocations_pkey', ['kind', 'id'])
    .execute()
  await db.schema
    .createIndex('revocations_expires_at_idx')
    .on('revocations')
    .columns(['expires_at'])
    .execute()

  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('private_jwk', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('activated_at', 'bigint')
    .addColumn('retired_at', 'bigint')
    .execute()

  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'integer', identity(db))
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('user_id', 'integer')
    .addColumn('detail', 'text')
    .execute()
  await db.schema.createIndex('audit_events_at_idx').on('audit_events').columns(['at']).execute()
  await db.schema
    .createIndex('audit_events_user_id_idx')
    .on('audit_events')
    .columns(['user_id', 'id'])
    .execute()
}

async function down(db: Db): Promise<void> {
  for (const table of ['audit_events', 'signing_keys', 'revocations', 'sessions', 'users']) {
    await db.schema.dropTable(table).ifExists().execute()
  }
}

/** Migration 0001: the initial schema. */
export const initialSchema: Migration = { up, down }
