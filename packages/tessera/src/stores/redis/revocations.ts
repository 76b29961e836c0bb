/**
 * The durable revocation store in Redis, shared by every instance: one key per entry that expires with
 * the tokens it affects, and a pub/sub channel on which every write is announced, so each instance's
 * in-memory replica learns of a revocation at once.
 *
 * The driver (ioredis) is the caller's: pass a connected client. Only its type is imported here.
 */
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { RevocationSubject } from '../../core/revocation.js'
import { nowSeconds, wholeSecondsUp } from '../../core/time.js'
import type { DurableRevocationStore, RevocationEntry } from '../replicated-revocation.js'

/** Options of {@link redisRevocationStore}. */
export interface RedisRevocationStoreOptions {
  /** A connected ioredis client (not one in subscriber mode). The store never closes it. */
  client: Redis
  /**
   * Prefix of every key and of the channel; give each deployment sharing one Redis its own.
   * @default 'tessera:'
   */
  prefix?: string | undefined
}

/** A live subscription to the revocation channel. */
export interface RevocationSubscription {
  /** Unsubscribes and closes the subscriber connection. */
  close(): Promise<void>
}

/** The store returned by {@link redisRevocationStore}. */
export interface RedisRevocationStore extends DurableRevocationStore {
  /** Answers with a round trip: fine for tools, too slow for the verify path (use a replica there). */
  isRevoked(subject: RevocationSubject): Promise<boolean>
  /** Stores the entry (keeping the largest expiry and "before" time) and announces it, atomically. */
  revokeToken(jti: string, expiresAt: number): Promise<void>
  revokeSession(sid: string, expiresAt: number): Promise<void>
  revokeUser(sub: string, before: number, expiresAt: number): Promise<void>
  /** Writes and announces one entry, as the three methods above do. */
  write(entry: RevocationEntry): Promise<void>
  /**
   * Calls `onEntry` for every revocation announced by another store (another instance) from now on,
   * over a dedicated connection (`client.duplicate()`). After that connection comes back from an outage,
   * `onReconnect` runs: announcements made meanwhile were lost, so re-sync the replica there.
   */
  subscribe(
    onEntry: (entry: RevocationEntry) => void,
    options?: { onReconnect?: (() => void) | undefined },
  ): Promise<RevocationSubscription>
}

// One atomic step: merge with the current value (largest expiry, largest "before"), store it with an
// expiry one second after the last token it affects expires, and announce it.
// KEYS[1] = entry key; ARGV = expiresAt, before ('' for token/session), channel, message.
const WRITE_SCRIPT = `
local exp = tonumber(ARGV[1])
local before = tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, ' ', 1, true)
  local cexp, cbefore
  if sep then
    cbefore = tonumber(string.sub(cur, 1, sep - 1))
    cexp = tonumber(string.sub(cur, sep + 1))
  else
    cexp = tonumber(cur)
  end
  if cexp and cexp > exp then exp = cexp end
  if before and cbefore and cbefore > before then before = cbefore end
end
local value = string.format('%d', exp)
if before then value = string.format('%d %d', before, exp) end
redis.call('SET', KEYS[1], value)
redis.call('EXPIREAT', KEYS[1], exp + 1)
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`

interface Message {
  /** The announcing store, so a store ignores its own writes. */
  o: string
  k: RevocationEntry['kind']
  i: string
  e: number
  b?: number | undefined
}

/**
 * A {@link DurableRevocationStore} in Redis, with pub/sub fan-out. Pair it with an in-memory replica:
 *
 * @example
 * const durable = redisRevocationStore({ client: new Redis(url) })
 * const revocation = replicatedRevocationStore({ durable, replica: memoryRevocationStore() })
 * await durable.subscribe((entry) => applyRevocation(revocation.replica, entry), {
 *   onReconnect: () => void revocation.sync(),
 * })
 * await revocation.sync()
 * const auth = createTessera({ keys, revocation })
 */
export function redisRevocationStore(options: RedisRevocationStoreOptions): RedisRevocationStore {
  const { client } = options
  const prefix = options.prefix ?? 'tessera:'
  const channel = `${prefix}revocations`
  const origin = randomUUID()
  const keyOf = (kind: RevocationEntry['kind'], id: string): string => `${prefix}revocation:${kind}:${id}`

  const write = async (entry: RevocationEntry): Promise<void> => {
    const expiresAt = wholeSecondsUp(entry.expiresAt, 'expiresAt')
    const before = entry.kind === 'user' ? wholeSecondsUp(entry.before, 'before') : undefined
    const message: Message = { o: origin, k: entry.kind, i: entry.id, e: expiresAt }
    if (before !== undefined) message.b = before
    await client.eval(
      WRITE_SCRIPT,
      1,
      keyOf(entry.kind, entry.id),
      String(expiresAt),
      before === undefined ? '' : String(before),
      channel,
      JSON.stringify(message),
    )
  }

  return {
    async isRevoked({ jti, sid, sub, iat }) {
      const keys: string[] = []
      if (jti !== undefined) keys.push(keyOf('token', jti))
      if (sid !== undefined) keys.push(keyOf('session', sid))
      if (sub !== undefined) keys.push(keyOf('user', sub))
      if (keys.length === 0) return false
      const values = await client.mget(...keys)
      const now = nowSeconds()
      return keys.some((key, index) => {
        const entry = parseValue(key, values[index] ?? null, prefix)
        if (entry === undefined || entry.expiresAt < now) return false
        return entry.kind !== 'user' || (iat ?? 0) < entry.before
      })
    },
    revokeToken: (jti, expiresAt) => write({ kind: 'token', id: jti, expiresAt }),
    revokeSession: (sid, expiresAt) => write({ kind: 'session', id: sid, expiresAt }),
    revokeUser: (sub, before, expiresAt) => write({ kind: 'user', id: sub, before, expiresAt }),
    write,
    async loadLive(now = nowSeconds()) {
      const entries: RevocationEntry[] = []
      let cursor = '0'
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}revocation:*`, 'COUNT', 1000)
        cursor = next
        if (keys.length > 0) {
          const values = await client.mget(...keys)
          keys.forEach((key, index) => {
            const entry = parseValue(key, values[index] ?? null, prefix)
            if (entry !== undefined && entry.expiresAt >= now) entries.push(entry)
          })
        }
      } while (cursor !== '0')
      return entries
    },
    async subscribe(onEntry, subscribeOptions = {}) {
      // Its own connection (subscriber mode allows nothing else), which queues the SUBSCRIBE while
      // Redis is unreachable and reconnects forever. ioredis's own re-subscription after a reconnect
      // is off: it sends the command without a handler, so closing before Redis answers left an
      // unhandled 'Connection is closed' (ioredis 5 and 6.0); the 'ready' handler below re-subscribes.
      const subscriber = client.duplicate({
        enableOfflineQueue: true,
        maxRetriesPerRequest: null,
        autoResubscribe: false,
      })
      // Errors surface as reconnects; without a listener ioredis would print them as unhandled.
      subscriber.on('error', () => undefined)
      let subscribed = false
      subscriber.on('ready', () => {
        if (!subscribed) return
        // Once the re-subscription answers nothing announced from then on can be missed, so the
        // re-sync comes after it.
        subscriber
          .subscribe(channel)
          .then(() => subscribeOptions.onReconnect?.())
          .catch(() => undefined)
      })
      subscriber.on('message', (from: string, text: string) => {
        if (from !== channel) return
        const entry = parseMessage(text, origin)
        if (entry !== undefined) onEntry(entry)
      })
      await subscriber.subscribe(channel)
      subscribed = true
      return {
        async close() {
          subscriber.disconnect()
          await Promise.resolve()
        },
      }
    },
  } satisfies RedisRevocationStore
}

function parseValue(key: string, value: string | null, prefix: string): RevocationEntry | undefined {
  if (value === null) return undefined
  const rest = key.slice(`${prefix}revocation:`.length)
  const colon = rest.indexOf(':')
  const kind = rest.slice(0, colon)
  const id = rest.slice(colon + 1)
  const numbers = value.split(' ').map(Number)
  if (numbers.some((n) => !Number.isSafeInteger(n))) return undefined
  if (kind === 'user' && numbers.length === 2) {
    return { kind, id, before: numbers[0] ?? 0, expiresAt: numbers[1] ?? 0 }
  }
  if ((kind === 'token' || kind === 'session') && numbers.length === 1) {
    return { kind, id, expiresAt: numbers[0] ?? 0 }
  }
  return undefined
}

function parseMessage(text: string, self: string): RevocationEntry | undefined {
  let message: Partial<Message>
  try {
    message = JSON.parse(text) as Partial<Message>
  } catch {
    return undefined
  }
  if (message.o === self || typeof message.i !== 'string' || typeof message.e !== 'number') return undefined
  if (message.k === 'user' && typeof message.b === 'number') {
    return { kind: 'user', id: message.i, before: message.b, expiresAt: message.e }
  }
  if (message.k === 'token' || message.k === 'session') {
    return { kind: message.k, id: message.i, expiresAt: message.e }
  }
  return undefined
}
