/**
 * The storage layer's entry for the server and the CLI: open a SQLite or PostgreSQL database and bring
 * it to the latest schema. The repositories live in `./sql/`; the revocation stores come from
 * `tessera/sql` and `tessera/redis`.
 *
 * @packageDocumentation
 */
export { openDatabase, parseDatabaseUrl } from './sql/database.js'
export { migrateDatabase, migrateToLatest } from './sql/migrations/index.js'
export { userStore } from './sql/users.js'
