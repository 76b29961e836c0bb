// Migration 0002 (issue 15): username_normalized is recomputed with full case folding; accounts that
// would become one name stop the migration, which changes nothing and names them. SQLite and PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Kysely } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../packages/server/src/stores/sql/database.js'
import {
  createMigrator,
  migrateToLatest,
  pendingMigrations,
} from '../../packages/server/src/stores/sql/migrations/index.js'
import type { TesseraDatabase } from '../../packages/server/src/stores/sql/schema.js'
import { insertUsers } from '../helpers/old-users.js'
import { createTestDatabase, postgresReachable, type TestDatabase } from '../helpers/postgres.js'
import { serviceAvailable } from '../helpers/services.js'

const root = mkdtempSync(join(tmpdir(), 'tessera-migration-'))
const postgres: TestDatabase[] = []
afterAll(async () => {
  rmSync(root, { recursive: true, force: true })
  for (const db of postgres) await db.drop()
})
let counter = 0

// The schema just before the case-folding migration (on PostgreSQL pending migrations run in one
// transaction, so a failure of 0005 must not take the earlier ones down with it in this test).
async function atInitialSchema(
  connect: () => Promise<Kysely<TesseraDatabase>>,
): Promise<Kysely<TesseraDatabase>> {
  const db = await connect()
  const { error } = await createMigrator(db).migrateTo('0004-legacy-import')
  if (error !== undefined) throw error as Error
  return db
}

const normalizedOf = async (db: Kysely<TesseraDatabase>): Promise<Record<string, string>> =>
  Object.fromEntries(
    (await db.selectFrom('users').select(['username', 'username_normalized']).execute()).map((r) => [
      r.username,
      r.username_normalized,
    ]),
  )

const dialects: [string, () => Promise<() => Promise<Kysely<TesseraDatabase>>>, boolean][] = [
  [
    'SQLite',
    () => {
      const url = `file:${join(root, `db-${++counter}`, 'tessera.db')}`
      return Promise.resolve(() => openDatabase({ url }))
    },
    true,
  ],
  [
    'PostgreSQL',
    async () => {
      const db = await createTestDatabase('mig')
      postgres.push(db)
      return () => openDatabase({ url: db.url })
    },
    serviceAvailable('PostgreSQL', await postgresReachable()),
  ],
]

describe.each(dialects)('migration 0005-username-case-folding (%s)', (_name, make, available) => {
  it.skipIf(!available)('recomputes username_normalized with full case folding', async () => {
    const db = await atInitialSchema(await make())
    await insertUsers(db, ['Straße', 'ΣΟΦΟΣ', 'Alice'])
    expect(await normalizedOf(db)).toMatchObject({ Straße: 'straße', ΣΟΦΟΣ: 'σοφος' })
    expect((await migrateToLatest(db)).applied).toContain('0005-username-case-folding')
    expect(await normalizedOf(db)).toEqual({ Straße: 'strasse', ΣΟΦΟΣ: 'σοφοσ', Alice: 'alice' })
    await db.destroy()
  })

  it.skipIf(!available)('refuses to merge accounts that become one name, changing nothing', async () => {
    const db = await atInitialSchema(await make())
    await insertUsers(db, ['straße', 'STRASSE', 'σοφοσ', 'ΣΟΦΟΣ', 'bob'])
    const before = await normalizedOf(db)
    await expect(migrateToLatest(db)).rejects.toThrow(
      /0005-username-case-folding.*#1 "straße" = #2 "STRASSE"; #3 "σοφοσ" = #4 "ΣΟΦΟΣ".*Nothing was changed/,
    )
    expect(await normalizedOf(db)).toEqual(before)
    // It and every later migration are still to apply.
    expect((await pendingMigrations(db))[0]).toBe('0005-username-case-folding')
    // Once an operator renames one of each pair, the migration goes through.
    await db.updateTable('users').set({ username: 'strasse-2' }).where('username', '=', 'STRASSE').execute()
    await db.deleteFrom('users').where('username', '=', 'ΣΟΦΟΣ').execute()
    await migrateToLatest(db)
    expect(await normalizedOf(db)).toMatchObject({
      straße: 'strasse',
      'strasse-2': 'strasse-2',
      σοφοσ: 'σοφοσ',
    })
    await db.destroy()
  })

  it.skipIf(!available)(
    'takes back every migration of the upgrade when one fails, so the older version still starts',
    async () => {
      // A deployment upgraded from the initial schema: 0002–0006 pending, 0005 refusing its names.
      const db = await (await make())()
      const { error } = await createMigrator(db).migrateTo('0001-initial')
      if (error !== undefined) throw error as Error
      await insertUsers(db, ['strasse', 'Straße'])
      const pending = await pendingMigrations(db)
      expect(pending[0]).toBe('0002-key-lifecycle')
      await expect(migrateToLatest(db)).rejects.toThrow(/0005-username-case-folding.*Nothing was changed/)
      // Nothing of 0002–0004 stayed: the schema is the initial one, as the older version expects.
      expect(await pendingMigrations(db)).toEqual(pending)
      const columns = (await db.introspection.getTables()).find((t) => t.name === 'signing_keys')?.columns
      expect(columns?.map((c) => c.name)).not.toContain('revoked_at') // 0002's column
      await db.destroy()
    },
  )
})
