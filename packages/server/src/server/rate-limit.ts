/**
 * Fixed-window rate limiting for login and registration, per client IP and per account. The store is
 * an interface so the counters can live in Redis when several instances share the limits
 * (`rate-limit-redis.ts`).
 */

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

/** Above this many live keys, expired windows are swept before adding another. */
const SWEEP_THRESHOLD = 10_000

/** An in-process {@link RateLimiter}: exact for one instance, bounded in memory. */
export function memoryRateLimiter(): RateLimiter {
  const windows = new Map<string, Window>()
  return {
    hit(key, limit, windowSeconds) {
      const now = Date.now()
      let window = windows.get(key)
      if (window === undefined || window.resetAt <= now) {
        if (windows.size >= SWEEP_THRESHOLD) {
          for (const [k, w] of windows) if (w.resetAt <= now) windows.delete(k)
        }
        window = { count: 0, resetAt: now + windowSeconds * 1000 }
        windows.set(key, window)
      }
      window.count++
      return {
        allowed: window.count <= limit,
        remaining: Math.max(0, limit - window.count),
        retryAfter: Math.max(1, Math.ceil((window.resetAt - now) / 1000)),
      }
    },
  }
}
