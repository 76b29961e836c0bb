/**
 * Which SQL dialect a Kysely instance speaks. Repositories are written once against Kysely; only the
 * migrations (identity columns) and the connection code need to know.
 */
import { PostgresAdapter, SqliteAdapter, type Kysely } from 'kysely'

/** The SQL dialects Tessera supports. */
export type SqlDialect = 'sqlite' | 'postgres'

/** The dialect of `db` (also of a transaction or of the `Kysely<any>` a migration receives). */
export function dialectOf<DB>(db: Kysely<DB>): SqlDialect {
  const adapter = db.getExecutor().adapter
  if (adapter instanceof SqliteAdapter) return 'sqlite'
  if (adapter instanceof PostgresAdapter) return 'postgres'
  throw new TypeError(`unsupported Kysely dialect adapter ${adapter.constructor.name}`)
}
