// The user repository.
import { describe, expect, it } from 'vitest'
import { sessionStore } from '../../../packages/server/src/stores/sql/sessions.js'
import { userStore, type UserStore } from '../../../packages/server/src/stores/sql/users.js'
import type { SuiteContext } from './context.js'
import { NOW } from './context.js'
import { newUser } from './migrations.js'

/** Creates users named `names`, in order; returns their ids. */
async function createUsers(users: UserStore, names: readonly string[]): Promise<number[]> {
  const ids: number[] = []
  for (const name of names) {
    const created = await users.create(newUser(name), NOW)
    if (!created.ok) throw new Error(`could not create ${name}`)
    ids.push(created.user.id)
  }
  return ids
}

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

    it('says which id the next page starts after, and null on the last page, a full one included', async () => {
      const { users } = ctx().stores
      const ids = await createUsers(users, ['carol', 'alice', 'bob', 'dave'])
      expect(await users.list({ limit: 2 })).toMatchObject({ total: 4, next: ids[1] })
      expect(await users.list({ limit: 2, offset: 2 })).toMatchObject({ total: 4, next: null })
      const last = await users.list({ limit: 2, after: ids[1] })
      expect(last.users.map((u) => u.username)).toEqual(['bob', 'dave'])
      expect(last.next).toBeNull()
      expect(await users.list({ limit: 2, after: ids[3] })).toEqual({ users: [], total: 4, next: null })
    })

    it('walks every user exactly once with after, as users are created and deleted between pages', async () => {
      const { users } = ctx().stores
      const ids = await createUsers(users, ['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6'])
      const first = await users.list({ limit: 3 })
      const seen = first.users.map((u) => u.id)
      // Between pages: a listed user and one still to come are deleted, and a user is created.
      await users.delete(ids[0]!)
      await users.delete(ids[4]!)
      const [late] = await createUsers(users, ['late'])
      for (let after = first.next; after !== null;) {
        const page = await users.list({ limit: 3, after, count: false })
        expect(page.total).toBeNull()
        seen.push(...page.users.map((u) => u.id))
        after = page.next
      }
      expect(seen).toEqual([ids[0], ids[1], ids[2], ids[3], ids[5], ids[6], late])
    })

    it('answers an after past every id with an empty page, past PostgreSQL’s integer range too', async () => {
      const { users } = ctx().stores
      await createUsers(users, ['alice'])
      for (const after of [2 ** 31 - 1, 2 ** 31, Number.MAX_SAFE_INTEGER])
        expect(await users.list({ after, count: false }), String(after)).toEqual({
          users: [],
          total: null,
          next: null,
        })
    })

    it('refuses a bad after, an after with an offset, and cuts a page at 500 users', async () => {
      const { users } = ctx().stores
      for (const after of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])
        await expect(users.list({ after }), String(after)).rejects.toThrow(RangeError)
      await expect(users.list({ after: 1, offset: 0 })).rejects.toThrow(/offset and after/)
      // One statement: 501 creations one by one take seconds on PostgreSQL.
      await ctx()
        .db.insertInto('users')
        .values(
          Array.from({ length: 501 }, (_, i) => ({
            username: `user${String(i)}`,
            username_normalized: `user${String(i)}`,
            password_hash: '$hash$',
            roles: '[]',
            disabled: 0,
            created_at: NOW,
            updated_at: NOW,
            password_changed_at: NOW,
          })),
        )
        .execute()
      const page = await users.list({ limit: 1000, count: false })
      expect(page.users).toHaveLength(500)
      expect(page.next).toBe(page.users[499]?.id)
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
