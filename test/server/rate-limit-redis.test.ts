// The Redis rate limiter against a real Redis: fixed windows, shared by every client, atomic under
// concurrency, and the window expires.
import type { Redis } from 'ioredis'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { redisRateLimiter } from '../../packages/server/src/server/rate-limit-redis.js'
import { deletePrefix, redisReachable, testRedisClient, uniquePrefix } from '../helpers/redis.js'
import { serviceAvailable } from '../helpers/services.js'

const available = serviceAvailable('Redis', await redisReachable())

describe.skipIf(!available)('redisRateLimiter', () => {
  let clients: Redis[] = []
  let prefix: string
  const client = async (): Promise<Redis> => {
    const c = testRedisClient()
    await c.connect()
    clients.push(c)
    return c
  }

  beforeEach(() => {
    prefix = uniquePrefix()
  })
  afterEach(async () => {
    const first = clients[0]
    if (first !== undefined) await deletePrefix(first, prefix)
    for (const c of clients) c.disconnect()
    clients = []
  })

  it('allows `limit` attempts per window and refuses the next with a Retry-After', async () => {
    const limiter = redisRateLimiter({ client: await client(), prefix })
    const decisions = []
    for (let i = 0; i < 4; i++) decisions.push(await limiter.hit('login:alice', 3, 60))
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false])
    expect(decisions.map((d) => d.remaining)).toEqual([2, 1, 0, 0])
    expect(decisions[3]?.retryAfter).toBeGreaterThan(55)
    expect(decisions[3]?.retryAfter).toBeLessThanOrEqual(60)
    expect((await limiter.hit('login:bob', 3, 60)).allowed).toBe(true)
  })

  it('shares one count across limiters on different connections (instances), atomically', async () => {
    const limiters = await Promise.all(
      [1, 2, 3].map(async () => redisRateLimiter({ client: await client(), prefix })),
    )
    const decisions = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => limiters[i % 3]!.hit('login:carol', 10, 60)),
    )
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10)
  })

  it('starts a new window once the previous one expired', async () => {
    const limiter = redisRateLimiter({ client: await client(), prefix })
    expect((await limiter.hit('k', 1, 0.2)).allowed).toBe(true)
    expect((await limiter.hit('k', 1, 0.2)).allowed).toBe(false)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect((await limiter.hit('k', 1, 0.2)).allowed).toBe(true)
  })
})
