// The revocation-store contract over `tessera/sql` on SQLite (better-sqlite3), the way a library user
// sets it up: their own Kysely instance and `createRevocationsTable`. One database file per test.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { afterAll } from 'vitest'
import {
  createRevocationsTable,
  sqlRevocationStore,
  type RevocationsDatabase,
} from '../../packages/tessera/src/sql.js'
import { describeRevocationStore } from './revocation-contract.js'

const root = mkdtempSync(join(tmpdir(), 'tessera-revocations-'))
afterAll(() => {
  rmSync(root, { recursive: true, force: true })
})
let counter = 0

describeRevocationStore(
  'sqlRevocationStore on SQLite',
  async () => {
    const file = join(root, `revocations-${++counter}.db`)
    const open: Kysely<RevocationsDatabase>[] = []
    const connect = (): Kysely<RevocationsDatabase> => {
      const database = new Database(file)
      // WAL, as the auth server opens its database: thousands of single-row commits stay fast.
      database.pragma('journal_mode = WAL')
      database.pragma('synchronous = NORMAL')
      const db = new Kysely<RevocationsDatabase>({ dialect: new SqliteDialect({ database }) })
      open.push(db)
      return db
    }
    const db = connect()
    await createRevocationsTable(db)
    return {
      store: sqlRevocationStore(db),
      reopen: async () => {
        open.splice(open.indexOf(db), 1)
        await db.destroy()
        return sqlRevocationStore(connect())
      },
      close: async () => {
        await Promise.all(open.map((d) => d.destroy()))
        for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true })
      },
    }
  },
  { durable: true },
)
