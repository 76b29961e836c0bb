/**
 * The migration list (a static provider: no file-system scanning, so it works bundled) and the
 * functions that apply it. The same migrations run on SQLite and PostgreSQL.
 */
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely'
import { initialSchema } from './0001-initial.js'
import { keyLifecycle } from './0002-key-lifecycle.js'
import { auditActor } from './0003-audit-actor.js'
import { legacyImport } from './0004-legacy-import.js'
import { usernameCaseFolding } from './0005-username-case-folding.js'
import { longOperation } from './0006-long-operation.js'
import { serverState } from './0007-server-state.js'
import { scaleIndexes } from './0008-indexes.js'
import { openDatabase } from '../database.js'

/** Every migration, by name; names sort in the order they apply. */
export const migrations: Readonly<Record<string, Migration>> = Object.freeze({
  '0001-initial': initialSchema,
  '0002-key-lifecycle': keyLifecycle,
  '0003-audit-actor': auditActor,
  '0004-legacy-import': legacyImport,
  '0005-username-case-folding': usernameCaseFolding,
  '0006-long-operation': longOperation,
  '0007-server-state': serverState,
  '0008-indexes': scaleIndexes,
})

/** Kysely's bookkeeping tables, named so they never clash with an application's own migrations. */
const MIGRATION_TABLE = 'tessera_migration'
/** @see MIGRATION_TABLE */
const MIGRATION_LOCK_TABLE = 'tessera_migration_lock'

const provider: MigrationProvider = { getMigrations: () => Promise.resolve({ ...migrations }) }

/** A Kysely `Migrator` over Tessera's migrations. */
export function createMigrator<DB>(db: Kysely<DB>): Migrator {
  return new Migrator({
    db,
    provider,
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
  })
}

/** What {@link migrateToLatest} did. */
export interface MigrationReport {
  /** Names of the migrations applied by this call (empty when the schema was current). */
  applied: string[]
}

/**
 * Applies every pending migration; a second call is a no-op. They run in one transaction (all or
 * none), on SQLite as on PostgreSQL (see `TransactionalDdlSqliteAdapter` in database.ts). Throws the failing migration's error (with the
 * migration's name in the message) and applies nothing after it. On PostgreSQL prefer
 * {@link migrateDatabase}: a connection opened for serving limits every statement's time.
 *
 * @example await migrateToLatest(await openDatabase({ url }))
 */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<MigrationReport> {
  const { error, results = [] } = await createMigrator(db).migrateToLatest()
  if (error !== undefined)
    throw migrationError(error, results.find((r) => r.status === 'Error')?.migrationName)
  return { applied: results.filter((r) => r.status === 'Success').map((r) => r.migrationName) }
}

/** A migration that could not run, said for an operator (the CLI prints it as one line). */
export class MigrationError extends Error {
  override name = 'MigrationError'
  /** `schema_newer`: the database holds a migration this version does not know. */
  readonly code: 'schema_newer' | 'migration_failed' | 'migration_not_started'
  constructor(code: MigrationError['code'], message: string, options: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

function migrationError(error: unknown, failed: string | undefined): MigrationError {
  const message = error instanceof Error ? error.message : String(error)
  if (failed !== undefined)
    return new MigrationError('migration_failed', `database migration ${failed} failed: ${message}`, {
      cause: error,
    })
  // Kysely's words when the database has a migration that this list lacks: a newer version ran on it.
  const newer = /previously executed migration (\S+) is missing/.exec(message)?.[1]
  if (newer !== undefined) {
    return new MigrationError(
      'schema_newer',
      `the database schema is newer than this version of tessera-server: it holds migration ${newer}, ` +
        'which this version does not know (an upgrade rolled back?). Run the version that applied it, or ' +
        'restore the backup taken before the upgrade',
      { cause: error },
    )
  }
  return new MigrationError('migration_not_started', `database migrations could not start: ${message}`, {
    cause: error,
  })
}

/**
 * Opens `url` for migrations (PostgreSQL: no limit on a statement's time, a lock waited for at most
 * `timeoutMs`; see `forMigrations` in database.ts), applies every pending migration and closes it:
 * what `tessera migrate` and the server's start run on PostgreSQL. A migration may rewrite a large
 * table (0006 rewrites `audit_events`), longer than any request may take.
 */
export async function migrateDatabase(options: {
  url: string
  timeoutMs?: number
  option?: string
}): Promise<MigrationReport> {
  const db = await openDatabase({ ...options, poolSize: 1, forMigrations: true })
  try {
    return await migrateToLatest(db)
  } finally {
    await db.destroy()
  }
}

/** Names of the migrations not yet applied to `db`. */
export async function pendingMigrations<DB>(db: Kysely<DB>): Promise<string[]> {
  const all = await createMigrator(db).getMigrations()
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name)
}
