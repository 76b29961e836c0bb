/**
 * The server's link to Redis (`TESSERA_REDIS_URL`): the shared revocation store with its pub/sub fan-out,
 * and the shared rate-limit counters. The protected-request path never waits on it: revocations are
 * answered from the in-memory replica, which this module keeps current.
 *
 * When Redis is unreachable nothing fails: revocations still reach the replica at once (and the
 * database, in the service's transaction), queue here, and are written and announced when Redis is
 * back; rate limits fall back to this instance's own counters; `/readyz` reports `degraded`.
 */
import type { Redis } from 'ioredis'
import { applyRevocation, type MemoryRevocationStore, type RevocationEntry } from 'tessera'
import { redisRevocationStore, type RedisRevocationStore, type RevocationSubscription } from 'tessera/redis'
import { memoryRateLimiter, type RateLimiter } from './rate-limit.js'
import { redisRateLimiter } from './rate-limit-redis.js'

/** How long closing the link may spend writing queued revocations to Redis, at most. */
const CLOSE_DRAIN_MS = 5_000

/** Bound on revocations queued while Redis is down (each is also in the database). */
const MAX_QUEUED = 100_000

/** Backoff of the re-sync retries: 250 ms doubling to 10 s, with jitter. */
const backoffMs = (attempt: number): number =>
  Math.min(250 * 2 ** attempt, 10_000) * (0.5 + Math.random() / 2)
const pause = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms).unref()
  })

/** What the server context holds of Redis. */
export interface RedisLink {
  /**
   * The replica the service writes to: the in-memory store, plus a copy of every write queued for
   * Redis. Reads are the in-memory store's.
   */
  readonly replica: MemoryRevocationStore
  /** Shared counters, falling back to per-instance ones while Redis is down. */
  readonly limiter: RateLimiter
  /** `ok` while the command connection is ready. */
  status(): 'ok' | 'down'
  /** Revocations written locally but not yet in Redis. */
  pending(): number
  /** True while a re-sync (after a reconnect) has not succeeded yet. */
  resyncing(): boolean
  close(): Promise<void>
}

/** Options of {@link openRedis}. */
export interface OpenRedisOptions {
  url: string
  /** This instance's in-memory replica. */
  memory: MemoryRevocationStore
  /** Re-fills the replica from the database (after an outage, announcements were missed). */
  resync: () => Promise<unknown>
  /** Key and channel prefix. @default 'tessera:' */
  prefix?: string
  /** How long start-up waits for a first connection before going on degraded. @default 3000 */
  connectTimeoutMs?: number
  onError?: (message: string, error: unknown) => void
  /**
   * The time expired revocations are left out by when loading (Unix seconds): the server's trusted
   * clock (clock-guard.ts). @default the wall clock
   */
  now?: () => number
  /**
   * Told when the link goes down (with the last connection error) and when it is back: once per
   * change, never per retry. Down at start counts as a change.
   */
  onLinkChange?: (up: boolean, error?: unknown) => void
}

/** Connects (lazily importing ioredis), loads the live revocations, and subscribes to the channel. */
export async function openRedis(options: OpenRedisOptions): Promise<RedisLink> {
  const { memory } = options
  const client = await createClient(options.url)
  const store = redisRevocationStore({ client, prefix: options.prefix })
  const report = (message: string, error: unknown): void => options.onError?.(message, error)
  let closed = false
  const isClosed = (): boolean => closed
  const queue = writeQueue(client, store, report, isClosed)
  // Fill the replica from Redis as well as the database: entries written by instances whose database
  // write has not been read yet, or by library users sharing this Redis.
  const loadFromRedis = async (): Promise<void> => {
    for (const entry of await store.loadLive(options.now?.())) await applyRevocation(memory, entry)
  }
  const resync = resyncer(
    async () => {
      await options.resync()
      await loadFromRedis()
    },
    report,
    isClosed,
  )

  client.on('ready', () => {
    void queue.flush()
  })
  let lastError: unknown
  client.on('error', (error: unknown) => {
    lastError = error
  })
  await Promise.race([client.connect().catch(() => undefined), pause(options.connectTimeoutMs ?? 3_000)])
  let up = client.status === 'ready'
  if (!up) options.onLinkChange?.(false, lastError)
  client.on('close', () => {
    if (!up || closed) return
    up = false
    options.onLinkChange?.(false, lastError)
  })
  client.on('ready', () => {
    if (up) return
    up = true
    options.onLinkChange?.(true)
  })
  if (client.status === 'ready') {
    await loadFromRedis().catch((error: unknown) => {
      report('redis load failed', error)
    })
  }
  const subscription = subscribe(store, memory, resync.run, report, client.status !== 'ready', isClosed)
  // Wait for the subscription while Redis is up, so the first revocation after start is not missed.
  if (client.status === 'ready') await subscription.ready

  return {
    replica: writingThrough(memory, queue.enqueue),
    limiter: fallingBack(client, options.prefix, report),
    status: () => (client.status === 'ready' ? 'ok' : 'down'),
    pending: queue.pending,
    resyncing: resync.running,
    async close() {
      closed = true
      await subscription.close()
      // Give queued revocations the time to reach Redis while they are moving (they are in the database
      // regardless, where the other instances' re-sync finds them): drains of up to a second each, until
      // two in a row write nothing, within CLOSE_DRAIN_MS in all (the stop's grace is 10 s, serve.ts).
      const until = Date.now() + CLOSE_DRAIN_MS
      let idle = 0
      while (client.status === 'ready' && queue.pending() > 0 && idle < 2 && Date.now() < until) {
        const before = queue.pending()
        await Promise.race([queue.flush(true), pause(Math.min(1_000, Math.max(1, until - Date.now())))])
        idle = queue.pending() < before ? 0 : idle + 1
      }
      client.disconnect()
    },
  }
}

type Report = (message: string, error: unknown) => void

async function createClient(url: string): Promise<Redis> {
  const { Redis: RedisClient } = await import('ioredis')
  const client: Redis = new RedisClient(url, {
    lazyConnect: true,
    // Fail fast while disconnected: the caller queues (revocations) or falls back (rate limits), so
    // no request ever waits for Redis to come back.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    retryStrategy: (times: number) => Math.min(50 * times, 1_000),
  })
  client.on('error', () => undefined)
  return client
}

/**
 * Revocations written locally and waiting for Redis, written in order whenever it is ready. One drain
 * runs at a time; `flush()` joins the running one. Once the link is closing, only the final flush
 * (`flush(true)`, from `close`) still writes.
 */
function writeQueue(
  client: Redis,
  store: RedisRevocationStore,
  report: Report,
  isClosed: () => boolean,
): {
  enqueue: (entry: RevocationEntry) => void
  flush: (final?: boolean) => Promise<void>
  pending: () => number
} {
  const queue: RevocationEntry[] = []
  let running: Promise<void> | undefined
  const drain = async (): Promise<void> => {
    while (queue.length > 0 && client.status === 'ready') {
      const entry = queue[0]
      if (entry === undefined) break
      try {
        await store.write(entry)
        queue.shift()
      } catch (error) {
        report('redis revocation write failed; queued until redis is back', error)
        break
      }
    }
  }
  const flush = (final = false): Promise<void> => {
    if (running !== undefined) return running
    if (isClosed() && !final) return Promise.resolve()
    running = drain().finally(() => {
      running = undefined
    })
    return running
  }
  return {
    enqueue(entry) {
      if (queue.length >= MAX_QUEUED) queue.shift()
      queue.push(entry)
      void flush()
    },
    flush,
    pending: () => queue.length,
  }
}

/**
 * The re-sync after a reconnect. It must succeed eventually, even when the database is down at that
 * moment (both outages at once): it is retried with backoff until it does, or the link closes. A
 * request for another re-sync while one runs makes it run once more.
 */
function resyncer(
  sync: () => Promise<void>,
  report: Report,
  isClosed: () => boolean,
): { run: () => Promise<void>; running: () => boolean } {
  let resyncing: Promise<void> | undefined
  let requested = 0
  const attempts = async (): Promise<void> => {
    for (let attempt = 0; !isClosed();) {
      const seen = requested
      try {
        await sync()
        if (requested === seen) return
      } catch (error) {
        report('revocation re-sync failed; retrying', error)
        await pause(backoffMs(attempt++))
      }
    }
  }
  return {
    run: () => {
      if (resyncing !== undefined) {
        requested++
        return resyncing
      }
      resyncing = attempts().finally(() => {
        resyncing = undefined
      })
      return resyncing
    },
    running: () => resyncing !== undefined,
  }
}

/**
 * Subscribes the replica to the revocation channel. Redis down at start (`late`): the subscription is
 * made whenever it comes up, and what was announced until then was missed, so re-sync at that moment.
 */
function subscribe(
  store: RedisRevocationStore,
  memory: MemoryRevocationStore,
  resync: () => Promise<void>,
  report: Report,
  late: boolean,
  isClosed: () => boolean,
): { ready: Promise<void>; close(): Promise<void> } {
  let subscription: RevocationSubscription | undefined
  const ready = store
    .subscribe(
      (entry) => {
        void applyRevocation(memory, entry)
      },
      { onReconnect: () => void resync() },
    )
    .then((s) => {
      if (isClosed()) {
        void s.close()
        return
      }
      subscription = s
      if (late) void resync()
    })
    .catch((error: unknown) => {
      report('redis subscribe failed', error)
    })
  return { ready, close: async () => subscription?.close() }
}

/** The replica the service writes to: the in-memory store, each write also queued for Redis. */
function writingThrough(
  memory: MemoryRevocationStore,
  enqueue: (entry: RevocationEntry) => void,
): MemoryRevocationStore {
  return {
    isRevoked: (subject) => memory.isRevoked(subject),
    revokeToken(jti, expiresAt) {
      memory.revokeToken(jti, expiresAt)
      enqueue({ kind: 'token', id: jti, expiresAt })
    },
    revokeSession(sid, expiresAt) {
      memory.revokeSession(sid, expiresAt)
      enqueue({ kind: 'session', id: sid, expiresAt })
    },
    revokeUser(sub, before, expiresAt) {
      memory.revokeUser(sub, before, expiresAt)
      enqueue({ kind: 'user', id: sub, before, expiresAt })
    },
    size: () => memory.size(),
    sweep: (now) => memory.sweep(now),
    close() {
      memory.close()
    },
  }
}

/** Shared counters while Redis is ready, this instance's own otherwise (or when a command fails). */
function fallingBack(client: Redis, prefix: string | undefined, report: Report): RateLimiter {
  const shared = redisRateLimiter({ client, prefix })
  const local = memoryRateLimiter()
  return {
    async hit(key, limit, windowSeconds) {
      if (client.status === 'ready') {
        try {
          return await shared.hit(key, limit, windowSeconds)
        } catch (error) {
          report('redis rate limit failed; counting locally', error)
        }
      }
      return local.hit(key, limit, windowSeconds)
    },
  }
}
