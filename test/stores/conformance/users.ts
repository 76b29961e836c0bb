// The user repository.
import { describe, expect, it } from 'vitest'
import { sessionStore } from '../../../packages/server/src/stores/sql/sessions.js'
import { userStore } from '../../../packages/server/src/stores/sql/users.js'
import type { SuiteContext } from './context.js'
import { NOW } from './context.js'
import { newUser } from './migrations.js'

export function userTests(ctx: () => SuiteContext): void {
  describe('users', () => {
    it('creates a user and reads it back by id and by normalized username', async () => {
      const { users } = ctx().stores
      const created = await users.create(
        {
          username: 'Alice',
          usernameNormalized: 'alice',
          passwordHash: 'h1',
          roles: ['admin', 'admin', 'ops'],
        },
        NOW,
      )
      expect(created).toEqual({
        ok: true,
        user: {
          id: expect.any(Number) as unknown,
          username: 'Alice',
          usernameNormalized: 'alice',
          passwordHash: 'h1',
          roles: ['admin', 'ops'],
          disabled: false,
          createdAt: NOW,
          updatedAt: NOW,
          passwordChangedAt: NOW,
        },
      })
      if (!created.ok) return
      expect(await users.get(created.user.id)).toEqual(created.user)
      expect(await users.getByUsername('alice')).toEqual(created.user)
      expect(await users.get(created.user.id + 1000)).toBeUndefined()
      expect(await users.getByUsername('Alice')).toBeUndefined()
    })

    it('refuses a second user with the same normalized username and keeps the first', async () => {
      const { users } = ctx().stores
      const first = await users.create(
        { username: 'Alice', usernameNormalized: 'alice', passwordHash: 'h1' },
        NOW,
      )
      const second = await users.create({
        username: 'ALICE',
        usernameNormalized: 'alice',
        passwordHash: 'h2',
      })
      expect(second).toEqual({ ok: false, reason: 'username_taken' })
      expect((await users.getByUsername('alice'))?.passwordHash).toBe('h1')
      expect(first.ok && (await users.list()).total).toBe(1)
    })

    it('creates exactly one user when 20 registrations of one name race over several connections', async () => {
      const { connect } = ctx()
      const connections = await Promise.all([1, 2, 3, 4].map(() => connect({ peer: true })))
      const all = [ctx().db, ...connections]
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          userStore(all[i % all.length]!).create({
            username: `Mallory${i}`,
            usernameNormalized: 'mallory',
            passwordHash: `h${i}`,
          }),
        ),
      )
      expect(results.filter((r) => r.ok)).toHaveLength(1)
      expect(results.filter((r) => !r.ok)).toEqual(Array(19).fill({ ok: false, reason: 'username_taken' }))
      expect((await ctx().stores.users.list()).total).toBe(1)
    })

    it('lists users in a stable id order with a total and no password hash', async () => {
      const { users } = ctx().stores
      for (const name of ['carol', 'alice', 'bob', 'dave', 'erin']) await users.create(newUser(name), NOW)
      const first = await users.list({ limit: 2 })
      const second = await users.list({ limit: 2, offset: 2 })
      const third = await users.list({ limit: 2, offset: 4 })
      expect(first.total).toBe(5)
      expect([...first.users, ...second.users, ...third.users].map((u) => u.username)).toEqual([
        'carol',
        'alice',
        'bob',
        'dave',
        'erin',
      ])
      for (const user of first.users) expect(user).not.toHaveProperty('passwordHash')
      await expect(users.list({ limit: 0 })).rejects.toThrow(RangeError)
      await expect(users.list({ offset: -1 })).rejects.toThrow(RangeError)
    })

    it('updates roles, disabled and password hash in one call, and only what is given', async () => {
      const { users } = ctx().stores
      const created = await users.create(newUser('alice', ['user']), NOW)
      if (!created.ok) throw new Error('unexpected')
      const id = created.user.id
      const roles = await users.update(id, { roles: ['user', 'admin'] }, NOW + 10)
      expect(roles).toMatchObject({ roles: ['user', 'admin'], disabled: false, updatedAt: NOW + 10 })
      expect(roles?.passwordChangedAt).toBe(NOW)
      const all = await users.update(id, { disabled: true, passwordHash: 'new', roles: [] }, NOW + 20)
      expect(all).toMatchObject({
        roles: [],
        disabled: true,
        passwordHash: 'new',
        passwordChangedAt: NOW + 20,
      })
      expect(await users.get(id)).toEqual(all)
      expect(await users.update(id + 1000, { disabled: true })).toBeUndefined()
    })

    it('deletes a user and, by cascade, its sessions', async () => {
      const { users } = ctx().stores
      const created = await users.create(newUser('alice'), NOW)
      if (!created.ok) throw new Error('unexpected')
      const sessions = sessionStore(ctx().db)
      await sessions.create({ id: 's1', userId: created.user.id, jti: 'j1', expiresAt: NOW + 60 }, NOW)
      expect(await users.delete(created.user.id)).toBe(true)
      expect(await users.delete(created.user.id)).toBe(false)
      expect(await users.get(created.user.id)).toBeUndefined()
      expect(await sessions.get('s1')).toBeUndefined()
    })

    it('never gives the id of a deleted user to a new one', async () => {
      const { users } = ctx().stores
      const first = await users.create(newUser('alice'), NOW)
      if (!first.ok) throw new Error('unexpected')
      await users.delete(first.user.id)
      const second = await users.create(newUser('bob'), NOW)
      expect(second.ok && second.user.id).toBeGreaterThan(first.user.id)
    })
  })
}
