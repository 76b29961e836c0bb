// The server's link to Redis (redis.ts) against a real Redis: revocations written through the replica
// reach Redis, and closing the link right after a burst of revocations still writes every one of them.
import { afterEach, describe, expect, it } from 'vitest'
import { memoryRevocationStore } from '../../packages/tessera/src/index.js'
import { redisRevocationStore } from '../../packages/tessera/src/redis.js'
import { openRedis, type RedisLink } from '../../packages/server/src/server/redis.js'
import { deletePrefix, REDIS_URL, redisReachable, testRedisClient, uniquePrefix } from '../helpers/redis.js'
import { serviceAvailable } from '../helpers/services.js'

const available = serviceAvailable('Redis', await redisReachable())

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
    const ids = Array.from({ length: 300 }, (_, i) => `burst-${String(i)}`)
    for (const id of ids) link.replica.revokeToken(id, expiresAt)
    // Written one by one in the background: most are still queued now.
    expect(link.pending()).toBeGreaterThan(0)
    await link.close()
    expect(link.pending()).toBe(0)
    const inRedis = await stored(prefix)
    expect(ids.filter((id) => !inRedis.has(`token:${id}`))).toEqual([])
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
