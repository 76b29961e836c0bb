// The store conformance suite: every SQL backend runs the same tests through `runStoreSuite`
// (SQLite in sqlite.test.ts; PostgreSQL with issue 5). No mocks: real databases, real connections.
import type { Kysely } from 'kysely'
import { afterEach, beforeEach, describe } from 'vitest'
import { migrateToLatest } from '../../packages/server/src/stores/sql/migrations/index.js'
import type { TesseraDatabase } from '../../packages/server/src/stores/sql/schema.js'
import { sqlStores } from '../../packages/server/src/stores/sql/stores.js'
import type { StoreHarnessFactory, SuiteContext } from './conformance/context.js'
import { keyAndAuditTests } from './conformance/keys.js'
import { migrationTests } from './conformance/migrations.js'
import { rotationTests } from './conformance/rotation.js'
import { sessionTests } from './conformance/sessions.js'
import { userTests } from './conformance/users.js'

export type { StoreHarnessFactory } from './conformance/context.js'

/** Registers the whole conformance suite for one backend. `factory` makes a fresh database per test. */
export function runStoreSuite(name: string, factory: StoreHarnessFactory): void {
  describe(`${name} store conformance`, () => {
    let ctx: SuiteContext | undefined
    let open: Kysely<TesseraDatabase>[] = []

    beforeEach(async () => {
      const harness = await factory()
      const connect = async (options?: { peer?: boolean }): Promise<Kysely<TesseraDatabase>> => {
        const db = await harness.connect(options)
        open.push(db)
        return db
      }
      const db = await connect()
      const firstMigration = await migrateToLatest(db)
      const state: SuiteContext = {
        harness,
        db,
        stores: sqlStores(db),
        firstMigration,
        connect,
        async reopen() {
          await state.db.destroy()
          open = open.filter((d) => d !== state.db)
          state.db = await connect()
          state.stores = sqlStores(state.db)
          return state.stores
        },
      }
      ctx = state
    })

    afterEach(async () => {
      await Promise.all(open.map((db) => db.destroy()))
      open = []
      await ctx?.harness.destroy()
      ctx = undefined
    })

    const get = (): SuiteContext => {
      if (ctx === undefined) throw new Error('no database: the suite hooks did not run')
      return ctx
    }
    migrationTests(get)
    userTests(get)
    sessionTests(get)
    rotationTests(get)
    keyAndAuditTests(get)
  })
}
