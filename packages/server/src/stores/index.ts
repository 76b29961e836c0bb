/**
 * The storage layer: SQL repositories (Kysely over SQLite or PostgreSQL), the Redis revocation store
 * and the replicated revocation store. Imports only from `core/`.
 *
 * @packageDocumentation
 */
export { DEFAULT_DATABASE_URL, openDatabase, parseDatabaseUrl } from './sql/database.js'
export type { DatabaseLocation, OpenDatabaseOptions } from './sql/database.js'
export { dialectOf } from './sql/dialect.js'
export type { SqlDialect } from './sql/dialect.js'
export {
  MIGRATION_LOCK_TABLE,
  MIGRATION_TABLE,
  createMigrator,
  migrateToLatest,
  migrations,
  pendingMigrations,
} from './sql/migrations/index.js'
export type { MigrationReport } from './sql/migrations/index.js'
export { inTransaction, isRetryableConflict } from './sql/transaction.js'
export type { TransactionOptions } from './sql/transaction.js'
export { nowSeconds, optionalSeconds, seconds } from './sql/schema.js'
export type {
  AuditEventsTable,
  RevocationKind,
  RevocationsTable,
  SessionsTable,
  SigningKeysTable,
  TesseraDatabase,
  UsersTable,
} from './sql/schema.js'
export { MAX_PAGE_SIZE, publicUser, userStore } from './sql/users.js'
export type {
  CreateUserResult,
  NewUser,
  PublicUser,
  UserPage,
  UserPatch,
  UserRecord,
  UserStore,
} from './sql/users.js'
export { sessionStore } from './sql/sessions.js'
export type {
  NewSession,
  RevokedSession,
  SessionRecord,
  SessionRevokeReason,
  SessionStore,
} from './sql/sessions.js'
export { rotateSession } from './sql/rotation.js'
export type { RotateInput, RotateResult } from './sql/rotation.js'
export { sqlRevocationStore } from 'tessera/sql'
export type { SqlRevocationStore } from 'tessera/sql'
export { keyStore } from './sql/signing-keys.js'
export type { KeyStore, LoadedKeys, StoredKeyInfo } from './sql/signing-keys.js'
export { auditStore } from './sql/audit.js'
export type { AuditEvent, AuditStore } from './sql/audit.js'
export { sqlStores } from './sql/stores.js'
export type { SqlStores } from './sql/stores.js'
export { applyRevocation, replicatedRevocationStore } from 'tessera'
export type {
  DurableRevocationStore,
  ReplicatedRevocationStore,
  RevocationEntry,
  SyncRevocationStore,
} from 'tessera'
export { redisRevocationStore } from 'tessera/redis'
export type { RedisRevocationStore, RedisRevocationStoreOptions, RevocationSubscription } from 'tessera/redis'
