/** Opens the configured database with its repositories, for the commands that manage data. */
import type { Kysely } from 'kysely'
import type { TesseraDatabase } from '../../stores/sql/schema.js'
import { existsSync, statSync } from 'node:fs'
import { loadServerConfig, signsWithConfiguredSecret, type ServerConfig } from '../../server/config.js'
import { migrateToLatest, openDatabase, parseDatabaseUrl } from '../../stores/index.js'
import { migrations, pendingMigrations } from '../../stores/sql/migrations/index.js'
import { sqlStores, type SqlStores } from '../../stores/sql/stores.js'
import { CommandFailure, UsageError } from '../exit-codes.js'

/** Options of {@link withStores}. */
export interface WithStoresOptions {
  /**
   * The command works on data that must exist already (listing, changing or revoking): a SQLite file
   * that is not there is refused, never created empty — a mistyped `--data-dir` would otherwise
   * answer "0 user(s)" from a new database. Creating the first admin or key may create it.
   */
  existing?: boolean
  /**
   * The command makes signing keys: refused when the server signs with `TESSERA_SECRET`, whose key
   * is configuration (a stored key would be published in the JWKS and never sign).
   */
  makesKeys?: boolean
}

/** Runs `fn` with the migrated database's repositories and closes the database afterwards. */
export async function withStores<T>(
  settings: Record<string, string | undefined>,
  fn: (stores: SqlStores, config: ServerConfig) => Promise<T>,
  options: WithStoresOptions = {},
): Promise<T> {
  const config = loadServerConfig(settings)
  if (options.makesKeys === true && signsWithConfiguredSecret(config)) {
    throw new UsageError(
      `the server signs with TESSERA_SECRET (TESSERA_ALGORITHM=${config.algorithm}): a stored key would never sign; rotate by changing the secret on every instance, or unset TESSERA_SECRET to use stored keys (deployment.md)`,
    )
  }
  if (options.existing === true) refuseNoSqliteFile(config)
  const db = await openDatabase({ url: config.databaseUrl, option: 'TESSERA_DATABASE_URL' })
  try {
    // A command on existing data never upgrades it on the side: a migration may rewrite a large table
    // (say so and run it at a quiet hour: `tessera migrate`), and the version upgraded from then no
    // longer starts on it. A database with no Tessera tables at all is not the server's. With nothing
    // pending the migrator only reads (it refuses a schema newer than this version): until `fn` writes,
    // such a command has written nothing, so one that refuses (a question it cannot ask) leaves the
    // database as it found it.
    if (options.existing === true) await refuseUnmigrated(db)
    await migrateToLatest(db)
    return await fn(sqlStores(db), config)
  } finally {
    await db.destroy()
  }
}

/**
 * Refuses, before it is opened, a SQLite database that is not there: no file (opening would create one)
 * or an empty one (SQLite takes it for an empty database, and opening it writes a header). Either way
 * nothing is created or written. A file that is not a database is refused when opened, unwritten.
 */
function refuseNoSqliteFile(config: ServerConfig): void {
  const location = parseDatabaseUrl(config.databaseUrl, 'TESSERA_DATABASE_URL')
  if (location.dialect !== 'sqlite' || location.path === ':memory:') return
  if (!existsSync(location.path))
    throw new CommandFailure(
      `no database at ${location.path}: check --data-dir or TESSERA_DATABASE_URL (tessera serve, tessera migrate or tessera users create make it)`,
    )
  if (statSync(location.path).size === 0)
    throw new CommandFailure(
      `the database has no Tessera tables (${location.path} is an empty file): check --data-dir or TESSERA_DATABASE_URL (tessera serve, tessera migrate or tessera users create make them); nothing was changed`,
    )
}

/** Refuses a database without Tessera's tables, or one an older version left (pending migrations). */
async function refuseUnmigrated(db: Kysely<TesseraDatabase>): Promise<void> {
  const pending = await pendingMigrations(db)
  if (pending.length === 0) return
  if (pending.length === Object.keys(migrations).length)
    throw new CommandFailure(
      'the database has no Tessera tables: check --data-dir or TESSERA_DATABASE_URL (tessera serve, tessera migrate or tessera users create make them); nothing was changed',
    )
  throw new CommandFailure(
    `the database was left by an older version (pending migrations: ${pending.join(', ')}): run tessera migrate first (docs/deployment.md: upgrades), then this command; nothing was changed`,
  )
}
