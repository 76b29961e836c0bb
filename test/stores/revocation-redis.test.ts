// The Redis revocation store against a real Redis: the revocation-store contract (revocation-contract.ts),
// then what only Redis does: keys that expire with the tokens, the pub/sub fan-out between stores, and
// another instance's replica fed by it. Each test uses its own key prefix, deleted afterwards. Skipped
// with a message when Redis is unreachable; a failure under CI.
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
import { describeRevocationStore } from './revocation-contract.js'
import { deletePrefix, redisReachable, testRedisClient, uniquePrefix, waitFor } from '../helpers/redis.js'
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
