/**
 * `tessera/sql`: the durable revocation store in SQL (SQLite or PostgreSQL through Kysely). The
 * database is yours: pass a Kysely instance; only Kysely's types are referenced here.
 *
 * @packageDocumentation
 */
export {
  createRevocationsTable,
  optionalSeconds,
  seconds,
  sqlRevocationStore,
} from './stores/sql/revocations.js'
export type {
  BigIntColumn,
  NullableBigIntColumn,
  RevocationKind,
  RevocationsDatabase,
  RevocationsTable,
  SqlRevocationStore,
} from './stores/sql/revocations.js'
