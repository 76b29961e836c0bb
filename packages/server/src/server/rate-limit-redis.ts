/**
 * Fixed-window rate limiting in Redis, so limits hold across every instance: one INCR per attempt
 * and an expiry set with the first one, in one script (atomic: no window without an expiry).
 */
import type { Redis } from 'ioredis'
import type { RateLimiter } from './rate-limit.js'

// KEYS[1] = counter; ARGV[1] = window in milliseconds. Returns { count, milliseconds left }.
const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return { count, ttl }
`

/** Options of {@link redisRateLimiter}. */
export interface RedisRateLimiterOptions {
  /** A connected ioredis client; the limiter never closes it. */
  client: Redis
  /** @default 'tessera:' */
  prefix?: string
}

/**
 * A {@link RateLimiter} whose counters live in Redis. Errors (Redis down) are thrown: the server wraps
 * it to fall back to per-instance counters.
 *
 * @example const limiter = redisRateLimiter({ client: new Redis(url) })
 */
export function redisRateLimiter(options: RedisRateLimiterOptions): RateLimiter {
  const { client } = options
  const prefix = `${options.prefix ?? 'tessera:'}rate:`
  return {
    async hit(key, limit, windowSeconds) {
      const windowMs = Math.max(1, Math.round(windowSeconds * 1000))
      const reply = (await client.eval(HIT_SCRIPT, 1, `${prefix}${key}`, String(windowMs))) as [
        number,
        number,
      ]
      const [count, ttl] = reply
      return {
        allowed: count <= limit,
        remaining: Math.max(0, limit - count),
        retryAfter: Math.max(1, Math.ceil(ttl / 1000)),
      }
    },
  }
}
