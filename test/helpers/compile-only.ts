// A Kysely instance that compiles for SQLite or PostgreSQL over a driver that executes nothing, and
// keeps every statement it compiled (text and parameters): for tests of the SQL the repositories write.
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type CompiledQuery,
} from 'kysely'
import type { TesseraDatabase } from '../../packages/server/src/stores/sql/schema.js'

export type Flavour = 'postgres' | 'sqlite'

/** The instance and, in order, the statements it compiled. */
export function compileOnly(flavour: Flavour): { db: Kysely<TesseraDatabase>; compiled: CompiledQuery[] } {
  const compiled: CompiledQuery[] = []
  const db = new Kysely<TesseraDatabase>({
    dialect: {
      createAdapter: () => (flavour === 'postgres' ? new PostgresAdapter() : new SqliteAdapter()),
      createDriver: () => new DummyDriver(),
      createIntrospector: (k) =>
        flavour === 'postgres' ? new PostgresIntrospector(k) : new SqliteIntrospector(k),
      createQueryCompiler: () =>
        flavour === 'postgres' ? new PostgresQueryCompiler() : new SqliteQueryCompiler(),
    },
    log: (event) => {
      compiled.push(event.query)
    },
  })
  return { db, compiled }
}
