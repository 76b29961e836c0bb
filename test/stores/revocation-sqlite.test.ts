// The revocation-store contract over `tessera/sql` on SQLite (better-sqlite3), set up as a library user
// would (their Kysely instance, `createRevocationsTable`). One database file per test.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { afterAll } from 'vitest'
import type { RevocationsDatabase } from '../../packages/tessera/src/sql.js'
import { describeRevocationStore, openSqlStore } from './revocation-contract.js'

const root = mkdtempSync(join(tmpdir(), 'tessera-revocations-'))
afterAll(() => {
  rmSync(root, { recursive: true, force: true })
})
let counter = 0

describeRevocationStore(
  'sqlRevocationStore on SQLite',
  () => {
    const file = join(root, `revocations-${++counter}.db`)
    return openSqlStore(
      () => {
        const database = new Database(file)
        // WAL, as the auth server opens its database: thousands of single-row commits stay fast.
        database.pragma('journal_mode = WAL')
        database.pragma('synchronous = NORMAL')
        return new Kysely<RevocationsDatabase>({ dialect: new SqliteDialect({ database }) })
      },
      () => {
        for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true })
      },
    )
  },
  { durable: true },
)
