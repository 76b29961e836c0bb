// The session repository (rotation has its own part).
import { describe, expect, it } from 'vitest'
import type { SqlStores } from '../../../packages/server/src/stores/sql/stores.js'
import type { SuiteContext } from './context.js'
import { NOW } from './context.js'
import { newUser } from './migrations.js'

/** Creates a user and returns its id. */
export async function makeUser(stores: SqlStores, name = 'alice'): Promise<number> {
  const created = await stores.users.create(newUser(name), NOW)
  if (!created.ok) throw new Error(`could not create ${name}`)
  return created.user.id
}

export function sessionTests(ctx: () => SuiteContext): void {
  describe('sessions', () => {
    it('creates a session and reads it back', async () => {
      const { stores } = ctx()
      const userId = await makeUser(stores)
      const created = await stores.sessions.create(
        { id: 's1', userId, jti: 'j1', expiresAt: NOW + 3600, userAgent: 'curl/8', ip: '127.0.0.1' },
        NOW,
      )
      expect(created).toEqual({
        id: 's1',
        userId,
        createdAt: NOW,
        lastUsedAt: NOW,
        expiresAt: NOW + 3600,
        userAgent: 'curl/8',
        ip: '127.0.0.1',
        currentJti: 'j1',
        previousJti: null,
        generation: 0,
        rotatedAt: null,
        revokedAt: null,
        revokedReason: null,
      })
      expect(await stores.sessions.get('s1')).toEqual(created)
      expect(await stores.sessions.get('nope')).toBeUndefined()
    })

    it('lists only the live sessions of a user, most recently used first', async () => {
      const { stores } = ctx()
      const alice = await makeUser(stores)
      const bob = await makeUser(stores, 'bob')
      const { sessions } = stores
      await sessions.create({ id: 'old', userId: alice, jti: 'j1', expiresAt: NOW + 3600 }, NOW - 100)
      await sessions.create({ id: 'new', userId: alice, jti: 'j2', expiresAt: NOW + 3600 }, NOW - 50)
      await sessions.create({ id: 'gone', userId: alice, jti: 'j3', expiresAt: NOW }, NOW - 10)
      await sessions.create({ id: 'ended', userId: alice, jti: 'j4', expiresAt: NOW + 3600 }, NOW)
      await sessions.create({ id: 'bobs', userId: bob, jti: 'j5', expiresAt: NOW + 3600 }, NOW)
      await sessions.revoke('ended', { reason: 'logout', now: NOW })
      expect((await sessions.listForUser(alice, NOW)).map((s) => s.id)).toEqual(['new', 'old'])
      expect(await sessions.touch('old', NOW + 1)).toBe(true)
      expect((await sessions.listForUser(alice, NOW + 1)).map((s) => s.id)).toEqual(['old', 'new'])
      expect((await sessions.get('old'))?.lastUsedAt).toBe(NOW + 1)
    })

    it('does not touch a revoked, expired or unknown session', async () => {
      const { stores } = ctx()
      const userId = await makeUser(stores)
      await stores.sessions.create({ id: 's1', userId, jti: 'j1', expiresAt: NOW + 60 }, NOW)
      expect(await stores.sessions.touch('s1', NOW + 60)).toBe(false)
      await stores.sessions.revoke('s1', { reason: 'logout', now: NOW })
      expect(await stores.sessions.touch('s1', NOW + 1)).toBe(false)
      expect(await stores.sessions.touch('nope', NOW)).toBe(false)
    })

    it('revokes one session once, and only for its owner when an owner is given', async () => {
      const { stores } = ctx()
      const alice = await makeUser(stores)
      const bob = await makeUser(stores, 'bob')
      await stores.sessions.create({ id: 's1', userId: alice, jti: 'j1', expiresAt: NOW + 60 }, NOW)
      expect(await stores.sessions.revoke('s1', { reason: 'logout', userId: bob, now: NOW })).toBeUndefined()
      expect(await stores.sessions.revoke('s1', { reason: 'logout', userId: alice, now: NOW })).toEqual({
        id: 's1',
        expiresAt: NOW + 60,
      })
      expect(await stores.sessions.revoke('s1', { reason: 'logout', now: NOW })).toBeUndefined()
      expect(await stores.sessions.get('s1')).toMatchObject({ revokedAt: NOW, revokedReason: 'logout' })
    })

    it('revokes every live session of a user but the one kept, returning sids and expiries', async () => {
      const { stores } = ctx()
      const alice = await makeUser(stores)
      const bob = await makeUser(stores, 'bob')
      const { sessions } = stores
      for (const [id, userId] of [
        ['a1', alice],
        ['a2', alice],
        ['a3', alice],
        ['b1', bob],
      ] as const) {
        await sessions.create({ id, userId, jti: `j-${id}`, expiresAt: NOW + 100 }, NOW)
      }
      await sessions.revoke('a3', { reason: 'logout', now: NOW })
      const revoked = await sessions.revokeAllForUser(alice, {
        reason: 'password_change',
        exceptId: 'a1',
        now: NOW,
      })
      expect(revoked).toEqual([{ id: 'a2', expiresAt: NOW + 100 }])
      expect((await sessions.get('a3'))?.revokedReason).toBe('logout')
      const rest = await sessions.revokeAllForUser(alice, { reason: 'logout_all', now: NOW })
      expect(rest).toEqual([{ id: 'a1', expiresAt: NOW + 100 }])
      expect((await sessions.listForUser(bob, NOW)).map((s) => s.id)).toEqual(['b1'])
    })

    it('revokes the live sessions beyond the most recently used, never the one excepted', async () => {
      const { stores } = ctx()
      const alice = await makeUser(stores)
      const bob = await makeUser(stores, 'bob')
      const { sessions } = stores
      // Created one second apart; s2 used last of the older ones, s0 expired, s5 already revoked.
      for (let i = 0; i <= 6; i++) {
        const expiresAt = i === 0 ? NOW - 1 : NOW + 100
        await sessions.create({ id: `s${i}`, userId: alice, jti: `j${i}`, expiresAt }, NOW - 100 + i)
      }
      await sessions.touch('s2', NOW - 50)
      await sessions.revoke('s5', { reason: 'logout', now: NOW - 50 })
      await sessions.create({ id: 'b1', userId: bob, jti: 'jb', expiresAt: NOW + 100 }, NOW - 200)
      // The new session s6 is excepted (it may share its second with others); two more are kept.
      const revoked = await sessions.revokeBeyond(alice, {
        keep: 2,
        exceptId: 's6',
        reason: 'session_limit',
        now: NOW,
      })
      // Live besides s6, most recently used first: s2 (touched at NOW-50), s4, s3, s1 (created at
      // NOW-96, -97, -99): s2 and s4 are kept, s3 and s1 go.
      expect(revoked.map((s) => s.id).sort()).toEqual(['s1', 's3'])
      expect(revoked[0]?.expiresAt).toBe(NOW + 100)
      expect((await sessions.listForUser(alice, NOW)).map((s) => s.id).sort()).toEqual(['s2', 's4', 's6'])
      expect((await sessions.get('s3'))?.revokedReason).toBe('session_limit')
      expect((await sessions.get('s5'))?.revokedReason).toBe('logout')
      expect((await sessions.listForUser(bob, NOW)).map((s) => s.id)).toEqual(['b1'])
      // Within the limit: nothing more.
      expect(
        await sessions.revokeBeyond(alice, { keep: 2, exceptId: 's6', reason: 'session_limit', now: NOW }),
      ).toEqual([])
    })

    it('purges sessions once they have expired', async () => {
      const { stores } = ctx()
      const userId = await makeUser(stores)
      await stores.sessions.create({ id: 'short', userId, jti: 'j1', expiresAt: NOW + 10 }, NOW)
      await stores.sessions.create({ id: 'long', userId, jti: 'j2', expiresAt: NOW + 1000 }, NOW)
      expect(await stores.sessions.purgeExpired(NOW + 5)).toBe(0)
      expect(await stores.sessions.purgeExpired(NOW + 10)).toBe(1)
      expect(await stores.sessions.get('short')).toBeUndefined()
      expect(await stores.sessions.get('long')).toBeDefined()
    })
  })
}
