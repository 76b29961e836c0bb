// Redis for the suites that need it: the shared server named by TESSERA_TEST_REDIS_URL (default the
// local one), with a unique key prefix per test so parallel files never collide, and cleanup by prefix.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'

/** The shared test Redis. */
export const REDIS_URL = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A client that fails fast instead of reconnecting forever (for probes and assertions). */
export function testRedisClient(url = REDIS_URL): Redis {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000 })
  client.on('error', () => undefined)
  return client
}

/** True when Redis answers PING within a couple of seconds. */
export async function redisReachable(url = REDIS_URL): Promise<boolean> {
  const client = testRedisClient(url)
  client.options.retryStrategy = () => null
  try {
    await client.connect()
    await client.ping()
    return true
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}

/** A prefix no other test uses: `tessera-test:<random>:`. */
export function uniquePrefix(): string {
  return `tessera-test:${randomBytes(6).toString('hex')}:`
}

/** Deletes every key under `prefix`. */
export async function deletePrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await client.del(...keys)
  } while (cursor !== '0')
}

/** Polls `check` every 5 ms until it is true or `timeoutMs` passes; returns whether it became true. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return check()
}

/** Deletes every key under `prefix` on the test Redis (best effort: it may be down). */
export async function clearRedisPrefix(prefix: string, url = REDIS_URL): Promise<void> {
  if (prefix === '') return
  const client = testRedisClient(url)
  try {
    await client.connect()
    await deletePrefix(client, prefix)
  } catch {
    // Nothing to clean when Redis is unreachable.
  } finally {
    client.disconnect()
  }
}
