// The Redis revocation store against a real Redis: the durable contract (expiry with the tokens,
// largest expiry wins, loadLive), the pub/sub fan-out between two stores, and the replicated store
// built on it. Each test uses its own key prefix, deleted afterwards.
import type { Redis } from 'ioredis'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTessera } from '../../packages/tessera/src/core/tessera.js'
import { memoryRevocationStore } from '../../packages/tessera/src/core/revocation.js'
import {
  redisRevocationStore,
  type RevocationSubscription,
} from '../../packages/tessera/src/stores/redis/revocations.js'
import {
  applyRevocation,
  replicatedRevocationStore,
  type RevocationEntry,
} from '../../packages/tessera/src/stores/replicated-revocation.js'
import { deletePrefix, redisReachable, testRedisClient, uniquePrefix, waitFor } from '../helpers/redis.js'
import { serviceAvailable } from '../helpers/services.js'

const available = serviceAvailable('Redis', await redisReachable())
const now = (): number => Math.floor(Date.now() / 1000)
const SECRET = 'a-test-secret-that-is-long-enough-for-hs256!'

describe.skipIf(!available)('redisRevocationStore', () => {
  let client: Redis
  let prefix: string
  const subscriptions: RevocationSubscription[] = []

  beforeEach(async () => {
    client = testRedisClient()
    await client.connect()
    prefix = uniquePrefix()
  })

  afterEach(async () => {
    await Promise.all(subscriptions.splice(0).map((s) => s.close()))
    await deletePrefix(client, prefix)
    client.disconnect()
  })

  it('revokes by token, by session, and a user’s tokens issued before a time', async () => {
    const store = redisRevocationStore({ client, prefix })
    const t = now()
    await store.revokeToken('jti-1', t + 60)
    await store.revokeSession('sid-1', t + 60)
    await store.revokeUser('42', t, t + 60)
    expect(await store.isRevoked({ jti: 'jti-1' })).toBe(true)
    expect(await store.isRevoked({ jti: 'jti-2', sid: 'sid-1' })).toBe(true)
    expect(await store.isRevoked({ jti: 'jti-2', sid: 'sid-2', sub: '42', iat: t - 1 })).toBe(true)
    expect(await store.isRevoked({ jti: 'jti-2', sid: 'sid-2', sub: '42', iat: t })).toBe(false)
    expect(await store.isRevoked({ jti: 'sid-1' })).toBe(false)
    expect(await store.isRevoked({ sub: '43', iat: 0 })).toBe(false)
    expect(await store.isRevoked({})).toBe(false)
  })

  it('keeps the largest expiry and "before" time when an entry is written again', async () => {
    const store = redisRevocationStore({ client, prefix })
    const t = now()
    await store.revokeToken('jti-1', t + 100)
    await store.revokeToken('jti-1', t + 50)
    await store.revokeUser('42', t + 10, t + 100)
    await store.revokeUser('42', t, t + 200)
    const live = await store.loadLive(t)
    expect(live).toHaveLength(2)
    expect(live).toEqual(
      expect.arrayContaining([
        { kind: 'token', id: 'jti-1', expiresAt: t + 100 },
        { kind: 'user', id: '42', before: t + 10, expiresAt: t + 200 },
      ]),
    )
  })

  it('lets each key expire one second after the tokens it affects', async () => {
    const store = redisRevocationStore({ client, prefix })
    const t = now()
    await store.revokeSession('sid-ttl', t + 100)
    const ttl = await client.ttl(`${prefix}revocation:session:sid-ttl`)
    expect(ttl).toBeGreaterThan(95)
    expect(ttl).toBeLessThanOrEqual(101)
    await store.revokeToken('already-expired', t - 10)
    expect(await client.exists(`${prefix}revocation:token:already-expired`)).toBe(0)
    expect(await store.loadLive(t)).toEqual([{ kind: 'session', id: 'sid-ttl', expiresAt: t + 100 }])
  })

  it('lists thousands of live entries with loadLive (SCAN across pages)', async () => {
    const store = redisRevocationStore({ client, prefix })
    const t = now()
    await Promise.all(Array.from({ length: 2500 }, (_, i) => store.revokeToken(`bulk-${i}`, t + 60)))
    expect(await store.loadLive(t)).toHaveLength(2500)
  })

  it('keeps ids with colons and spaces intact', async () => {
    const store = redisRevocationStore({ client, prefix })
    const t = now()
    await store.revokeSession('a:b c', t + 60)
    expect(await store.loadLive(t)).toEqual([{ kind: 'session', id: 'a:b c', expiresAt: t + 60 }])
    expect(await store.isRevoked({ sid: 'a:b c' })).toBe(true)
  })

  it('announces every write to the other stores on the channel, not to itself', async () => {
    const a = redisRevocationStore({ client, prefix })
    const b = redisRevocationStore({ client, prefix })
    const other = redisRevocationStore({ client, prefix: uniquePrefix() })
    const seenByA: RevocationEntry[] = []
    const seenByB: RevocationEntry[] = []
    const seenByOther: RevocationEntry[] = []
    subscriptions.push(await a.subscribe((e) => seenByA.push(e)))
    subscriptions.push(await b.subscribe((e) => seenByB.push(e)))
    subscriptions.push(await other.subscribe((e) => seenByOther.push(e)))
    const t = now()
    await a.revokeSession('sid-x', t + 60)
    await a.revokeUser('7', t, t + 90)
    expect(await waitFor(() => seenByB.length === 2)).toBe(true)
    expect(seenByB).toEqual([
      { kind: 'session', id: 'sid-x', expiresAt: t + 60 },
      { kind: 'user', id: '7', before: t, expiresAt: t + 90 },
    ])
    expect(seenByA).toEqual([])
    expect(seenByOther).toEqual([])
  })

  it('feeds another instance’s replica, so its synchronous verify refuses the token at once', async () => {
    const durableA = redisRevocationStore({ client, prefix })
    const durableB = redisRevocationStore({ client, prefix })
    const a = replicatedRevocationStore({ durable: durableA, replica: memoryRevocationStore() })
    const b = replicatedRevocationStore({ durable: durableB, replica: memoryRevocationStore() })
    subscriptions.push(await durableB.subscribe((entry) => void applyRevocation(b.replica, entry)))
    const authA = createTessera({ secret: SECRET, revocation: a })
    const authB = createTessera({ secret: SECRET, revocation: b })
    const token = await authA.createAccessToken('alice', { sid: 's1' })
    expect(authB.verifyInline(token)).toMatchObject({ claims: { sid: 's1' } })
    await authA.revokeSession('s1')
    const refused = (): boolean => {
      try {
        void authB.verifyInline(token)
        return false
      } catch (error) {
        return (error as { code?: string }).code === 'token_revoked'
      }
    }
    expect(await waitFor(refused)).toBe(true)
    await a.close()
    await b.close()
  })

  it('fills a new replica with every live entry through sync()', async () => {
    const t = now()
    await redisRevocationStore({ client, prefix }).revokeToken('before-start', t + 60)
    const replica = memoryRevocationStore()
    const store = replicatedRevocationStore({ durable: redisRevocationStore({ client, prefix }), replica })
    expect(await store.sync()).toBe(1)
    expect(replica.isRevoked({ jti: 'before-start' })).toBe(true)
    replica.close()
  })
})
