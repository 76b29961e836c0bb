// The durable revocation store and the replicated store built on it.
import { describe, expect, it } from 'vitest'
import { createTessera } from '../../../packages/tessera/src/core/tessera.js'
import { memoryRevocationStore } from '../../../packages/tessera/src/core/revocation.js'
import { replicatedRevocationStore } from '../../../packages/tessera/src/stores/replicated-revocation.js'
import { sqlRevocationStore } from '../../../packages/tessera/src/stores/sql/revocations.js'
import type { SuiteContext } from './context.js'
import { realNow } from './context.js'

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256!'

export function revocationTests(ctx: () => SuiteContext): void {
  describe('sqlRevocationStore', () => {
    it('revokes by token, by session, and a user’s tokens issued before a time', async () => {
      const store = ctx().stores.revocations
      const now = realNow()
      await store.revokeToken('jti-1', now + 60)
      await store.revokeSession('sid-1', now + 60)
      await store.revokeUser('42', now, now + 60)
      expect(await store.isRevoked({ jti: 'jti-1' })).toBe(true)
      expect(await store.isRevoked({ jti: 'jti-2', sid: 'sid-1' })).toBe(true)
      expect(await store.isRevoked({ jti: 'jti-2', sid: 'sid-2', sub: '42', iat: now - 1 })).toBe(true)
      expect(await store.isRevoked({ jti: 'jti-2', sid: 'sid-2', sub: '42', iat: now })).toBe(false)
      expect(await store.isRevoked({ sub: '42' })).toBe(true)
      expect(await store.isRevoked({ jti: 'sid-1' })).toBe(false)
      expect(await store.isRevoked({ sub: '43', iat: 0 })).toBe(false)
      expect(await store.isRevoked({})).toBe(false)
    })

    it('keeps the largest expiry and "before" time when an entry is written again', async () => {
      const store = ctx().stores.revocations
      const now = realNow()
      await store.revokeToken('jti-1', now + 100)
      await store.revokeToken('jti-1', now + 50)
      await store.revokeUser('42', now + 10, now + 100)
      await store.revokeUser('42', now, now + 200)
      const live = await store.loadLive(now)
      expect(live).toEqual(
        expect.arrayContaining([
          { kind: 'token', id: 'jti-1', expiresAt: now + 100 },
          { kind: 'user', id: '42', before: now + 10, expiresAt: now + 200 },
        ]),
      )
      expect(live).toHaveLength(2)
    })

    it('ignores expired entries, leaves them out of loadLive and purges them', async () => {
      const store = ctx().stores.revocations
      const now = realNow()
      await store.revokeToken('old', now - 10)
      await store.revokeSession('live', now + 60)
      expect(await store.isRevoked({ jti: 'old' })).toBe(false)
      expect(await store.loadLive(now)).toEqual([{ kind: 'session', id: 'live', expiresAt: now + 60 }])
      expect(await store.purgeExpired(now)).toBe(1)
      expect(await store.purgeExpired(now)).toBe(0)
    })

    it('keeps its entries across a restart (close and reopen the database)', async () => {
      const now = realNow()
      const before = ctx().stores.revocations
      await before.revokeToken('jti-1', now + 60)
      await before.revokeSession('sid-old', now - 60)
      await before.revokeUser('7', now, now + 60)
      const after = (await ctx().reopen()).revocations
      expect(await after.isRevoked({ jti: 'jti-1' })).toBe(true)
      expect(await after.isRevoked({ sub: '7', iat: now - 5 })).toBe(true)
      expect(await after.purgeExpired(now)).toBe(1)
      expect((await after.loadLive(now)).map((e) => e.id).sort()).toEqual(['7', 'jti-1'])
    })
  })

  describe('replicatedRevocationStore', () => {
    it('answers synchronously from the replica, effective before the durable write completes', async () => {
      const durable = sqlRevocationStore(ctx().db)
      const store = replicatedRevocationStore({
        durable,
        replica: memoryRevocationStore({ sweepIntervalSeconds: 0 }),
      })
      const pending = store.revokeToken('jti-1', realNow() + 60)
      expect(store.isRevoked({ jti: 'jti-1' })).toBe(true)
      await pending
      expect(await durable.isRevoked({ jti: 'jti-1' })).toBe(true)
      await store.close()
    })

    it('writes every grain through to the durable store', async () => {
      const now = realNow()
      const durable = sqlRevocationStore(ctx().db)
      const store = replicatedRevocationStore({
        durable,
        replica: memoryRevocationStore({ sweepIntervalSeconds: 0 }),
      })
      await store.revokeSession('sid-1', now + 60)
      await store.revokeUser('42', now, now + 60)
      expect(store.isRevoked({ sid: 'sid-1' })).toBe(true)
      expect(store.isRevoked({ sub: '42', iat: now - 1 })).toBe(true)
      expect((await durable.loadLive(now)).map((e) => e.kind).sort()).toEqual(['session', 'user'])
      await store.close()
    })

    it('fills a new replica from the durable store after a restart', async () => {
      const now = realNow()
      await ctx().stores.revocations.revokeSession('sid-1', now + 60)
      await ctx().stores.revocations.revokeUser('42', now, now + 60)
      await ctx().stores.revocations.revokeToken('expired', now - 1)
      const durable = (await ctx().reopen()).revocations
      const replica = memoryRevocationStore({ sweepIntervalSeconds: 0 })
      const store = replicatedRevocationStore({ durable, replica })
      expect(store.isRevoked({ sid: 'sid-1' })).toBe(false)
      expect(await store.sync(now)).toBe(2)
      expect(store.isRevoked({ sid: 'sid-1' })).toBe(true)
      expect(store.isRevoked({ sub: '42', iat: now - 1 })).toBe(true)
      expect(replica.size()).toEqual({ tokens: 0, sessions: 1, users: 1 })
      await store.close()
    })

    it('lets the core refuse a revoked token on the very next verification, synchronously', async () => {
      const durable = sqlRevocationStore(ctx().db)
      const revocation = replicatedRevocationStore({
        durable,
        replica: memoryRevocationStore({ sweepIntervalSeconds: 0 }),
      })
      const auth = createTessera({ secret: SECRET, revocation })
      const token = await auth.createAccessToken('alice', { sid: 'sid-9' })
      const verified = auth.verifyInline(token)
      expect(verified).not.toBeInstanceOf(Promise)
      await auth.revokeSession('sid-9')
      expect(() => auth.verifyInline(token)).toThrow(expect.objectContaining({ code: 'token_revoked' }))
      expect(await durable.isRevoked({ sid: 'sid-9' })).toBe(true)
      await revocation.close()
    })
  })
}
