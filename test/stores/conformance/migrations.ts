// Migrations and transactions.
import { NO_MIGRATIONS } from 'kysely'
import { describe, expect, it } from 'vitest'
import {
  createMigrator,
  migrateToLatest,
  migrations,
  pendingMigrations,
} from '../../../packages/server/src/stores/sql/migrations/index.js'
import { sqlStores } from '../../../packages/server/src/stores/sql/stores.js'
import type { SuiteContext } from './context.js'
import { NOW } from './context.js'

const TABLES = [
  'audit_events',
  'revocations',
  'sessions',
  'signing_keys',
  'users',
  'legacy_identities',
  'legacy_exchanges',
]

export function migrationTests(ctx: () => SuiteContext): void {
  describe('migrations', () => {
    it('apply every migration to a fresh database', async () => {
      const { firstMigration, db } = ctx()
      expect(firstMigration.applied).toEqual(Object.keys(migrations))
      expect(await pendingMigrations(db)).toEqual([])
      const tables = (await db.introspection.getTables()).map((t) => t.name)
      expect(tables).toEqual(expect.arrayContaining(TABLES))
    })

    it('are idempotent: running them again, from another connection too, applies nothing', async () => {
      const { db, connect } = ctx()
      expect((await migrateToLatest(db)).applied).toEqual([])
      expect((await migrateToLatest(await connect())).applied).toEqual([])
    })

    it('can be rolled back and applied again', async () => {
      const { db } = ctx()
      // Every migration down, the newest first.
      const down = await createMigrator(db).migrateTo(NO_MIGRATIONS)
      expect(down.error).toBeUndefined()
      const tables = (await db.introspection.getTables()).map((t) => t.name)
      expect(tables.filter((t) => TABLES.includes(t))).toEqual([])
      expect((await migrateToLatest(db)).applied).toEqual(Object.keys(migrations))
    })
  })

  describe('transactions', () => {
    it('roll back every change of sqlStores.transaction when the callback throws', async () => {
      const { stores } = ctx()
      await expect(
        stores.transaction(async (tx) => {
          const created = await tx.users.create(newUser('alice'), NOW)
          if (!created.ok) throw new Error('unexpected')
          await tx.sessions.create({ id: 's1', userId: created.user.id, jti: 'j1', expiresAt: NOW + 60 }, NOW)
          throw new Error('boom')
        }),
      ).rejects.toThrow('boom')
      expect(await stores.users.getByUsername('alice')).toBeUndefined()
      expect(await stores.sessions.get('s1')).toBeUndefined()
    })

    it('commit every change of sqlStores.transaction together', async () => {
      const { stores, db } = ctx()
      const id = await stores.transaction(async (tx) => {
        const created = await tx.users.create(newUser('bob'), NOW)
        if (!created.ok) throw new Error('unexpected')
        await tx.audit.record({ event: 'register', userId: created.user.id, at: NOW })
        return created.user.id
      })
      expect((await sqlStores(db).users.get(id))?.username).toBe('bob')
      expect((await stores.audit.list({ userId: id })).map((e) => e.event)).toEqual(['register'])
    })
  })
}

/** A new user with a placeholder hash (the stores never look inside it). */
export function newUser(name: string, roles: string[] = []) {
  return { username: name, usernameNormalized: name.toLowerCase(), passwordHash: `$hash$${name}`, roles }
}
