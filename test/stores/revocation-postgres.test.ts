// The revocation-store contract over `tessera/sql` on PostgreSQL (pg), set up as a library user would
// (their Kysely instance, `createRevocationsTable`). One database for the file, one schema per test.
// Skipped with a message when PostgreSQL is unreachable; a failure under CI.
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { describe } from 'vitest'
import type { RevocationsDatabase } from '../../packages/tessera/src/sql.js'
import { postgresReachable, useTestDatabase } from '../helpers/postgres.js'
import { serviceAvailable } from '../helpers/services.js'
import { describeRevocationStore, openSqlStore } from './revocation-contract.js'

const available = serviceAvailable('PostgreSQL', await postgresReachable())

describe.skipIf(!available)('PostgreSQL', () => {
  const database = useTestDatabase('rev')

  describeRevocationStore(
    'sqlRevocationStore on PostgreSQL',
    async () => {
      const schema = await database.schema()
      return openSqlStore(
        () =>
          new Kysely<RevocationsDatabase>({
            dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: schema.url, max: 5 }) }),
          }),
        () => schema.drop(),
      )
    },
    { durable: true },
  )
})
