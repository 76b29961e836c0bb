// The revocation-store contract over `tessera/sql` on PostgreSQL (pg), the way a library user sets it
// up: their own Kysely instance and `createRevocationsTable`. One database for the file, one schema per
// test. Skipped with a message when PostgreSQL is unreachable; a failure under CI.
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe } from 'vitest'
import {
  createRevocationsTable,
  sqlRevocationStore,
  type RevocationsDatabase,
} from '../../packages/tessera/src/sql.js'
import {
  createTestDatabase,
  createTestSchema,
  postgresReachable,
  type TestDatabase,
} from '../helpers/postgres.js'
import { serviceAvailable } from '../helpers/services.js'
import { describeRevocationStore } from './revocation-contract.js'

const available = serviceAvailable('PostgreSQL', await postgresReachable())

describe.skipIf(!available)('PostgreSQL', () => {
  let database: TestDatabase | undefined
  beforeAll(async () => {
    database = await createTestDatabase('rev')
  })
  afterAll(async () => {
    await database?.drop()
  })

  describeRevocationStore(
    'sqlRevocationStore on PostgreSQL',
    async () => {
      if (database === undefined) throw new Error('no database: beforeAll did not run')
      const schema = await createTestSchema(database.url, 'rev')
      const open: Kysely<RevocationsDatabase>[] = []
      const connect = (): Kysely<RevocationsDatabase> => {
        const pool = new pg.Pool({ connectionString: schema.url, max: 5 })
        const db = new Kysely<RevocationsDatabase>({ dialect: new PostgresDialect({ pool }) })
        open.push(db)
        return db
      }
      const db = connect()
      await createRevocationsTable(db)
      return {
        store: sqlRevocationStore(db),
        reopen: async () => {
          await db.destroy()
          return sqlRevocationStore(connect())
        },
        close: async () => {
          await Promise.all(open.map((d) => d.destroy()))
          await schema.drop()
        },
      }
    },
    { durable: true },
  )
})
