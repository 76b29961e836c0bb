// What every part of the store conformance suite receives: a migrated database and ways to open more
// connections to it.
import type { Kysely } from 'kysely'
import type { MigrationReport } from '../../../packages/server/src/stores/sql/migrations/index.js'
import type { TesseraDatabase } from '../../../packages/server/src/stores/sql/schema.js'
import type { SqlStores } from '../../../packages/server/src/stores/sql/stores.js'

/** One throwaway database, provided by a backend's test file. */
export interface StoreHarness {
  /**
   * Opens a new connection (its own Kysely instance) to the harness's database. `peer` marks an extra
   * connection in this process used to race the first: SQLite gives it busyTimeoutMs 0, since
   * better-sqlite3 would otherwise block the event loop that the lock holder needs to finish.
   */
  connect(options?: { peer?: boolean }): Promise<Kysely<TesseraDatabase>>
  /** Drops the database (after every connection was closed). */
  destroy(): Promise<void>
}

/** Makes a fresh, empty database for one test. */
export type StoreHarnessFactory = () => Promise<StoreHarness>

/** The state of one test. */
export interface SuiteContext {
  harness: StoreHarness
  /** The first connection, migrated. */
  db: Kysely<TesseraDatabase>
  stores: SqlStores
  /** What migrating the fresh database did. */
  firstMigration: MigrationReport
  /** Opens another connection, closed after the test. */
  connect: (options?: { peer?: boolean }) => Promise<Kysely<TesseraDatabase>>
  /** Closes the first connection and opens a new one, as a restart would. */
  reopen: () => Promise<SqlStores>
}

/** A fixed "now" for the stores' explicit time arguments. */
export const NOW = 1_800_000_000
