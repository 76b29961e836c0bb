/**
 * Fixed-window rate limiting for login and registration, per client IP and per account. The store is
 * an interface so the counters can live in Redis when several instances share the limits
 * (`rate-limit-redis.ts`).
 */
import { createHash } from 'node:crypto'
import ipaddr from 'ipaddr.js'

/** The answer to one counted attempt. */
export interface RateDecision {
  allowed: boolean
  /** Attempts left in this window after this one. */
  remaining: number
  /** Seconds until the window resets (for `Retry-After`). */
  retryAfter: number
}

/** Counts attempts per key in fixed windows. */
export interface RateLimiter {
  /** Counts one attempt for `key` against `limit` per `windowSeconds`. */
  hit(key: string, limit: number, windowSeconds: number): RateDecision | Promise<RateDecision>
  close?(): void | Promise<void>
}

interface Window {
  count: number
  resetAt: number
}

/** Windows the in-memory limiter keeps at most per kind of key (about 15 MB each). */
export const MEMORY_LIMITER_MAX_KEYS = 100_000

/**
 * The kind of a key, what it counts by: its first two `:`-separated parts (`login:ip` of
 * `login:ip:2001:db8:0:7::/64`, `refresh:session`); `''` for a key with fewer.
 */
function kindOf(key: string): string {
  const second = key.indexOf(':', key.indexOf(':') + 1)
  return second < 0 ? '' : key.slice(0, second)
}

/**
 * An in-process {@link RateLimiter}: exact for one instance, bounded in memory and in time per call.
 *
 * Each kind of key (`login:ip`, `login:account`, …: see {@link kindOf}) has its own windows, kept in the order they end (a new
 * window is appended, its key's old one removed), so expired ones are always at the front: each call
 * drops those it finds there and stops at the first live one — no call ever walks the live windows.
 * With {@link MEMORY_LIMITER_MAX_KEYS} live windows of one kind, a new key drops that kind's oldest
 * window. A flood of distinct keys of one kind (many client networks; many names) thus costs the
 * flooder and never touches another kind: it cannot lock others out (when every new key shared one
 * overflow window, 100,000 cheap registrations from as many networks refused every login for a
 * minute), and to give one account under attack a fresh window it takes some 100,000 attempts on
 * other accounts within the minute, from thousands of networks (each network is limited too) — for
 * ten more guesses. Shared limits over Redis (rate-limit-redis.ts) have no such cap. Windows of
 * different lengths share the order only roughly (an expired window behind a live one waits until
 * the live one ends); the server uses one-minute windows throughout.
 */
export function memoryRateLimiter(options: { maxKeys?: number } = {}): RateLimiter {
  const maxKeys = options.maxKeys ?? MEMORY_LIMITER_MAX_KEYS
  const kinds = new Map<string, Map<string, Window>>()
  return {
    hit(key, limit, windowSeconds) {
      // The clock's steps (NTP) do not move windows: performance.now() only moves forward.
      const at = performance.now()
      const kind = kindOf(key)
      let windows = kinds.get(kind)
      if (windows === undefined) kinds.set(kind, (windows = new Map<string, Window>()))
      for (const [k, w] of windows) {
        if (w.resetAt > at) break
        windows.delete(k)
      }
      let window = windows.get(key)
      if (window === undefined || window.resetAt <= at) {
        windows.delete(key)
        if (windows.size >= maxKeys) {
          const oldest = windows.keys().next()
          if (oldest.done !== true) windows.delete(oldest.value)
        }
        window = { count: 0, resetAt: at + windowSeconds * 1000 }
        windows.set(key, window)
      }
      window.count++
      return {
        allowed: window.count <= limit,
        remaining: Math.max(0, limit - window.count),
        retryAfter: Math.max(1, Math.ceil((window.resetAt - at) / 1000)),
      }
    },
  }
}

/**
 * What the per-IP limits count by: an IPv4 address (also when written as IPv4-mapped IPv6, as a
 * dual-stack listener reports it), or an IPv6 address's /64 — the network one subscriber or host gets,
 * inside which it can use any of 2^64 addresses, each of which would otherwise count on its own.
 * Text that is no IP address (a forwarded header trusted with `TESSERA_TRUST_PROXY=true` can say
 * anything, kilobytes of it) is counted by a short digest of it.
 */
export function clientNetwork(ip: string): string {
  if (!ipaddr.isValid(ip)) return `text:${createHash('sha256').update(ip).digest('base64url').slice(0, 22)}`
  // `process` reads IPv4-mapped IPv6 as the IPv4 address it carries.
  const address = ipaddr.process(ip)
  if (address.kind() === 'ipv4') return address.toString()
  const network = (address as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16))
  return `${network.join(':')}::/64`
}

/**
 * What the per-account limits count by: a digest of the normalised username, so every key is short
 * whatever the name (a 256-character name can grow several times under normalisation). Not a secret:
 * a name can be found from its digest by guessing it.
 */
export function accountKey(normalized: string): string {
  return createHash('sha256').update(normalized).digest('base64url')
}
