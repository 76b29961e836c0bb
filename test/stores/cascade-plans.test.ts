// Deleting a user deletes its rows in every table that references it (ON DELETE CASCADE): its sessions,
// its legacy identity and its legacy exchanges. Each is found by an index on `user_id`: without one,
// every user deletion read the whole referencing table, inside the transaction that deletes the user
// (200,000 legacy exchanges: 121 ms of a PostgreSQL delete, 14 ms on SQLite's event loop; 0.8 and
// 0.04 ms by the index).
import { CompiledQuery, sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { openDatabase } from '../../packages/server/src/stores/sql/database.js'
import { migrateToLatest } from '../../packages/server/src/stores/sql/migrations/index.js'
import { sqlStores } from '../../packages/server/src/stores/sql/stores.js'
import { compileOnly } from '../helpers/compile-only.js'
import { createTestDatabase, postgresReachable } from '../helpers/postgres.js'
import { serviceAvailable } from '../helpers/services.js'

/** The tables whose `user_id` references `users.id` with ON DELETE CASCADE. */
const REFERENCING = ['sessions', 'legacy_identities', 'legacy_exchanges']

describe('deleting a user on SQLite', () => {
  it('finds the rows of every referencing table by an index', async () => {
    const { db: compiler, compiled } = compileOnly('sqlite')
    await sqlStores(compiler).users.delete(1)
    const [statement] = compiled
    const db = await openDatabase({ url: ':memory:' })
    try {
      await migrateToLatest(db)
      const plan = await db.executeQuery<{ detail: string }>(
        CompiledQuery.raw(`explain query plan ${statement?.sql ?? ''}`, [...(statement?.parameters ?? [])]),
      )
      const details = plan.rows.map((row) => row.detail)
      expect(details).not.toContainEqual(expect.stringMatching(/^SCAN /))
      for (const table of REFERENCING)
        expect(details).toContainEqual(expect.stringMatching(new RegExp(`^SEARCH ${table} USING .*INDEX`)))
    } finally {
      await db.destroy()
    }
  })
})

const postgres = serviceAvailable('PostgreSQL', await postgresReachable())

describe.skipIf(!postgres)('deleting a user on PostgreSQL', () => {
  it('finds the rows of every referencing table by an index', async () => {
    const database = await createTestDatabase('h52cascade')
    const db = await openDatabase({ url: database.url, poolSize: 1 })
    try {
      await migrateToLatest(db)
      const stores = sqlStores(db)
      const created = await stores.users.create(
        { username: 'ann', usernameNormalized: 'ann', passwordHash: '$h' },
        1_800_000_000,
      )
      if (!created.ok) throw new Error('user not created')
      const userId = created.user.id
      await stores.sessions.create({ id: 's', userId, jti: 'j', expiresAt: 1_800_086_400 }, 1_800_000_000)
      await sql`insert into legacy_identities (identity, user_id, imported_at) values ('ann', ${userId}, 1)`.execute(
        db,
      )
      await sql`insert into legacy_exchanges (jti, user_id, session_id, exchanged_at, expires_at)
        values ('l', ${userId}, 's', 1, 2)`.execute(db)
      // A connection of its own: a backend's counts of reads are kept until it reports them, so a
      // connection that wrote the rows above would count their checks too.
      const deleting = await openDatabase({ url: database.url, poolSize: 1 })
      try {
        await deleting.connection().execute(async (conn) => {
          // Sequential scans priced out: a cascade's lookup that still reads a table has no index.
          await sql`set enable_seqscan = off`.execute(conn)
          await conn.transaction().execute(async (trx) => {
            // This backend's reads so far, per table (this transaction's included).
            const reads = async (): Promise<Map<string, [number, number]>> => {
              const { rows } = await sql<{ table: string; seq_scan: string; idx_scan: string }>`
                select relname as "table", seq_scan, idx_scan from pg_stat_xact_user_tables
                where relname in (${sql.join(REFERENCING)})`.execute(trx)
              return new Map(rows.map((r) => [r.table, [Number(r.seq_scan), Number(r.idx_scan)]]))
            }
            const before = await reads()
            expect(await sqlStores(trx).users.delete(userId)).toBe(true)
            const after = await reads()
            const delta = REFERENCING.map((table) => {
              const [seq0 = 0, idx0 = 0] = before.get(table) ?? []
              const [seq1 = 0, idx1 = 0] = after.get(table) ?? []
              return [table, seq1 - seq0, idx1 - idx0 > 0]
            })
            expect(delta).toEqual(REFERENCING.map((table) => [table, 0, true]))
          })
        })
      } finally {
        await deleting.destroy()
      }
    } finally {
      await db.destroy()
      await database.drop()
    }
  })
})
