/** Opens the configured database with its repositories, for the commands that manage data. */
import { loadServerConfig, type ServerConfig } from '../../server/config.js'
import { migrateToLatest, openDatabase } from '../../stores/index.js'
import { sqlStores, type SqlStores } from '../../stores/sql/stores.js'

/** Runs `fn` with the migrated database's repositories and closes the database afterwards. */
export async function withStores<T>(
  settings: Record<string, string | undefined>,
  fn: (stores: SqlStores, config: ServerConfig) => Promise<T>,
): Promise<T> {
  const config = loadServerConfig(settings)
  const db = await openDatabase({ url: config.databaseUrl, option: 'TESSERA_DATABASE_URL' })
  try {
    await migrateToLatest(db)
    return await fn(sqlStores(db), config)
  } finally {
    await db.destroy()
  }
}
