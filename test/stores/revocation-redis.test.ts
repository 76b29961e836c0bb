// The Redis revocation store against a real Redis: the revocation-store contract (revocation-contract.ts),
// then what only Redis does: keys that expire with the tokens, the pub/sub fan-out between stores, and
// another instance's replica fed by it. Each test uses its own key prefix, deleted afterwards. Skipped
// with a message when Redis is unreachable; a failure under CI.
import { Redis } from 'ioredis'
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
import { describeRevocationStore } from './revocation-contract.js'
import {
  deletePrefix,
  redisReachable,
  redisRelay,
  testRedisClient,
  uniquePrefix,
  waitFor,
} from '../helpers/redis.js'
import { serviceAvailable } from '../helpers/services.js'

const available = serviceAvailable('Redis', await redisReachable())

describe.skipIf(!available)('Redis', () => {
  describeRevocationStore(
    'redisRevocationStore',
    async () => {
      const prefix = uniquePrefix()
      const clients: Redis[] = []
      const connect = async (): Promise<Redis> => {
        const client = testRedisClient()
        await client.connect()
        clients.push(client)
        return client
      }
      return {
        store: redisRevocationStore({ client: await connect(), prefix }),
        // A restart: a new connection and a new store on the same prefix.
        reopen: async () => redisRevocationStore({ client: await connect(), prefix }),
        close: async () => {
          await deletePrefix(clients[0]!, prefix)
          for (const client of clients) client.disconnect()
        },
      }
    },
    { durable: true },
  )
})

const now = (): number => Math.floor(Date.now() / 1000)
const SECRET = 'a-test-secret-that-is-long-enough-for-hs256!'

describe.skipIf(!available)('redisRevocationStore beyond the contract', () => {
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

  it('re-subscribes after the connection is cut, then runs onReconnect once', async () => {
    const relay = await redisRelay()
    const relayed = new Redis(relay.url, { maxRetriesPerRequest: 1 })
    relayed.on('error', () => undefined)
    try {
      const store = redisRevocationStore({ client: relayed, prefix })
      const seen: RevocationEntry[] = []
      let reconnects = 0
      subscriptions.push(await store.subscribe((e) => seen.push(e), { onReconnect: () => (reconnects += 1) }))
      relay.cut()
      expect(await waitFor(() => reconnects === 1, 10_000)).toBe(true)
      // Announced after the re-subscription answered: delivered.
      const t = now()
      await redisRevocationStore({ client, prefix }).revokeSession('after-cut', t + 60)
      expect(await waitFor(() => seen.length === 1)).toBe(true)
      expect(seen).toEqual([{ kind: 'session', id: 'after-cut', expiresAt: t + 60 }])
      expect(reconnects).toBe(1)
    } finally {
      await Promise.all(subscriptions.splice(0).map((s) => s.close()))
      relayed.disconnect()
      await relay.close()
    }
  })

  it('closes while re-subscribing after an outage without leaving a rejection unhandled', async () => {
    // A server shutting down while Redis comes back: ioredis's own re-subscription (on by default) is
    // sent without a handler, so closing then left 'Connection is closed' unhandled (a failed CI leg).
    const relay = await redisRelay()
    const relayed = new Redis(relay.url, { maxRetriesPerRequest: 1 })
    relayed.on('error', () => undefined)
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      let reconnects = 0
      const subscription = await redisRevocationStore({ client: relayed, prefix }).subscribe(
        () => undefined,
        {
          onReconnect: () => (reconnects += 1),
        },
      )
      relay.holdBack(/subscribe/i)
      relay.cut()
      // The reconnected subscriber has asked to subscribe again; Redis has not answered.
      expect(await waitFor(() => relay.held.length > 0, 10_000)).toBe(true)
      await subscription.close()
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(unhandled).toEqual([])
      expect(reconnects).toBe(0)
    } finally {
      process.off('unhandledRejection', onUnhandled)
      relayed.disconnect()
      await relay.close()
    }
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
})
