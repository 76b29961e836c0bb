// Redis for the suites that need it: the shared server named by TESSERA_TEST_REDIS_URL (default the
// local one), with a unique key prefix per test so parallel files never collide, and cleanup by prefix.
import { randomBytes } from 'node:crypto'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
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

/** A TCP relay in front of a Redis: it can cut every connection, and hold back what clients send. */
export interface RedisRelay {
  /** The Redis URL with the relay's host and port (credentials and database kept). */
  readonly url: string
  /** Client-to-Redis chunks held back so far (as text), while `holdBack` matched them. */
  readonly held: string[]
  /** From now on, client-to-Redis chunks matching `pattern` are kept here instead of forwarded. */
  holdBack(pattern: RegExp): void
  /** From now on, client-to-Redis chunks are forwarded `ms` late, in order (a slow link or a busy Redis). */
  delay(ms: number): void
  /** Drops every open connection, as a Redis restart or a network cut does. */
  cut(): void
  close(): Promise<void>
}

export async function redisRelay(url = REDIS_URL): Promise<RedisRelay> {
  const target = new URL(url)
  const sockets = new Set<Socket>()
  const held: string[] = []
  let pattern: RegExp | undefined
  let lag = 0
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname)
    sockets.add(client)
    sockets.add(upstream)
    const end = (): void => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    for (const socket of [client, upstream]) {
      socket.on('close', end)
      socket.on('error', end)
    }
    upstream.pipe(client)
    // Each chunk waits for the one before it, so a lag keeps the order.
    let forwarded = Promise.resolve()
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1')
      if (pattern?.test(text) === true) {
        held.push(text)
        return
      }
      const ms = lag
      forwarded = forwarded.then(() =>
        ms === 0
          ? void upstream.write(chunk)
          : new Promise<void>((resolve) =>
              setTimeout(() => {
                upstream.write(chunk)
                resolve()
              }, ms),
            ),
      )
    })
  })
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve)
  })
  const relayed = new URL(url)
  relayed.hostname = '127.0.0.1'
  relayed.port = String((server.address() as AddressInfo).port)
  return {
    url: relayed.toString(),
    held,
    holdBack: (next) => {
      pattern = next
    },
    delay: (ms) => {
      lag = ms
    },
    cut: () => {
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve()
        })
      })
    },
  }
}
