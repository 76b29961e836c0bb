// The server's link to Redis (redis.ts) against a real Redis: revocations written through the replica
// reach Redis, and closing the link right after a burst of revocations still writes every one of them.
import { afterEach, describe, expect, it } from 'vitest'
import { memoryRevocationStore } from '../../packages/tessera/src/index.js'
import { redisRevocationStore } from '../../packages/tessera/src/redis.js'
import { createMetrics } from '../../packages/server/src/server/metrics.js'
import { openRedis, type RedisLink } from '../../packages/server/src/server/redis.js'
import { commandExists, throwawayRedis } from '../helpers/processes.js'
import {
  deletePrefix,
  REDIS_URL,
  redisReachable,
  redisRelay,
  type RedisRelay,
  testRedisClient,
  uniquePrefix,
  waitFor,
} from '../helpers/redis.js'
import { serviceAvailable } from '../helpers/services.js'

const available = serviceAvailable('Redis', await redisReachable())
const redisServer = serviceAvailable('redis-server', commandExists('redis-server'), 'not installed')

describe.skipIf(!available)('the server’s Redis link', () => {
  const prefixes: string[] = []
  afterEach(async () => {
    const client = testRedisClient()
    await client.connect()
    for (const prefix of prefixes.splice(0)) await deletePrefix(client, prefix)
    client.disconnect()
  })

  /** The entries Redis holds under `prefix`, read by a store of its own. */
  async function stored(prefix: string): Promise<Set<string>> {
    const client = testRedisClient()
    await client.connect()
    try {
      const entries = await redisRevocationStore({ client, prefix }).loadLive()
      return new Set(entries.map((e) => `${e.kind}:${e.id}`))
    } finally {
      client.disconnect()
    }
  }

  /** A link under a prefix of its own (deleted after the test). */
  async function open(): Promise<{ link: RedisLink; prefix: string }> {
    const prefix = uniquePrefix()
    prefixes.push(prefix)
    const link = await openRedis({
      url: REDIS_URL,
      memory: memoryRevocationStore(),
      resync: () => Promise.resolve(),
      prefix,
    })
    return { link, prefix }
  }

  it('writes every revocation of a burst to Redis before close() returns', async () => {
    const { link, prefix } = await open()
    expect(link.status()).toBe('ok')
    const expiresAt = Math.floor(Date.now() / 1000) + 600
    // close() drains while the writes move, up to 5 s: on a loaded machine a fixed 2 s left 24 to 203 of
    // these 300 queued (5 runs of 5).
    const ids = Array.from({ length: 300 }, (_, i) => `burst-${String(i)}`)
    for (const id of ids) link.replica.revokeToken(id, expiresAt)
    // Written one by one in the background: most are still queued now.
    expect(link.pending()).toBeGreaterThan(0)
    await link.close()
    expect(link.pending()).toBe(0)
    const inRedis = await stored(prefix)
    expect(ids.filter((id) => !inRedis.has(`token:${id}`))).toEqual([])
  })

  /** A link to Redis through a relay the test can slow down or stall. */
  async function relayedLink(): Promise<{ relay: RedisRelay; link: RedisLink; prefix: string }> {
    const relay = await redisRelay()
    const prefix = uniquePrefix()
    const link = await openRedis({
      url: relay.url,
      memory: memoryRevocationStore(),
      resync: () => Promise.resolve(),
      prefix,
    })
    return { relay, link, prefix }
  }

  it('keeps writing a burst at close() while the writes move, past the 2 s it once gave them', async () => {
    // Each write a round trip of about 20 ms through a slow relay: 150 take about 3 s.
    const { relay, link, prefix } = await relayedLink()
    try {
      expect(link.status()).toBe('ok')
      relay.delay(20)
      const expiresAt = Math.floor(Date.now() / 1000) + 600
      const ids = Array.from({ length: 150 }, (_, i) => `slow-${String(i)}`)
      for (const id of ids) link.replica.revokeToken(id, expiresAt)
      const started = Date.now()
      await link.close()
      expect(Date.now() - started).toBeGreaterThan(2_000)
      expect(link.pending()).toBe(0)
      const inRedis = await stored(prefix)
      expect(ids.filter((id) => !inRedis.has(`token:${id}`))).toEqual([])
    } finally {
      await relay.close()
    }
  }, 30_000)

  it('gives up at close() after two seconds without a write, the revocations left to the database', async () => {
    const { relay, link } = await relayedLink()
    try {
      expect(link.status()).toBe('ok')
      // Redis stops answering writes (the connection stays up): nothing moves.
      relay.holdBack(/./)
      link.replica.revokeToken('stuck', Math.floor(Date.now() / 1000) + 600)
      const started = Date.now()
      await link.close()
      const took = Date.now() - started
      expect(took).toBeGreaterThanOrEqual(1_900)
      expect(took).toBeLessThan(4_500)
      expect(link.pending()).toBe(1)
    } finally {
      await relay.close()
    }
  }, 30_000)

  // The server passes its trusted clock (clock-guard.ts): on a system clock set forward, loading by the
  // wall clock would leave every live revocation out of the replica.
  it('loads the live revocations at start by the clock it is given', async () => {
    const prefix = uniquePrefix()
    prefixes.push(prefix)
    const client = testRedisClient()
    await client.connect()
    const now = Math.floor(Date.now() / 1000)
    try {
      await redisRevocationStore({ client, prefix }).revokeToken('young', now + 600)
    } finally {
      client.disconnect()
    }
    const loaded = async (at: number): Promise<boolean> => {
      const memory = memoryRevocationStore({ sweepIntervalSeconds: 0 })
      const link = await openRedis({
        url: REDIS_URL,
        memory,
        resync: () => Promise.resolve(),
        prefix,
        now: () => at,
      })
      await link.close()
      return memory.size().tokens === 1
    }
    expect(await loaded(now)).toBe(true)
    expect(await loaded(now + 400 * 86_400)).toBe(false)
  })

  it('answers revocations from the replica at once, whatever Redis is doing', async () => {
    const { link, prefix } = await open()
    try {
      link.replica.revokeSession('s-1', Math.floor(Date.now() / 1000) + 600)
      expect(link.replica.isRevoked({ jti: 'any', sid: 's-1', sub: 'u', iat: 1 })).toBe(true)
      expect(link.replica.isRevoked({ jti: 'any', sid: 's-2', sub: 'u', iat: 1 })).toBe(false)
    } finally {
      await link.close()
    }
    expect((await stored(prefix)).has('session:s-1')).toBe(true)
  })
})

// An outage is visible to an operator: one warning when the link goes down (with the connection error),
// one notice when it is back, never one per retry; `tessera_redis_up` follows.
describe.skipIf(!redisServer)('the server’s Redis link through an outage', () => {
  it('says once that it went down and once that it is back, and tessera_redis_up follows', async () => {
    const redis = await throwawayRedis()
    const changes: [boolean, unknown][] = []
    const link = await openRedis({
      url: redis.url,
      memory: memoryRevocationStore(),
      resync: () => Promise.resolve(),
      prefix: uniquePrefix(),
      onLinkChange: (up, error) => changes.push([up, (error as { code?: unknown } | undefined)?.code]),
    })
    const metrics = createMetrics({ redisUp: () => link.status() === 'ok' })
    const gauge = async (): Promise<string | undefined> =>
      (await metrics.registry.metrics()).split('\n').find((line) => line.startsWith('tessera_redis_up '))
    try {
      expect(await gauge()).toBe('tessera_redis_up 1')
      await redis.stop()
      expect(await waitFor(() => changes.length > 0, 10_000)).toBe(true)
      // Retries every second at most: several failed while we waited, one notice was given.
      await new Promise((resolve) => setTimeout(resolve, 2_500))
      expect(changes.map(([up]) => up)).toEqual([false])
      expect(await gauge()).toBe('tessera_redis_up 0')
      await redis.start()
      expect(await waitFor(() => changes.length > 1, 15_000)).toBe(true)
      expect(changes.map(([up]) => up)).toEqual([false, true])
      expect(await gauge()).toBe('tessera_redis_up 1')
    } finally {
      await link.close()
      await redis.dispose()
    }
  }, 60_000)

  it('says at start that Redis is unreachable, and exports no tessera_redis_up without Redis', async () => {
    const changes: [boolean, unknown][] = []
    const link = await openRedis({
      url: 'redis://127.0.0.1:1',
      memory: memoryRevocationStore(),
      resync: () => Promise.resolve(),
      connectTimeoutMs: 500,
      onLinkChange: (up, error) => changes.push([up, (error as { code?: unknown } | undefined)?.code]),
    })
    await link.close()
    expect(changes).toEqual([[false, 'ECONNREFUSED']])
    expect(await createMetrics().registry.metrics()).not.toMatch(/tessera_redis_up/)
  })
})
