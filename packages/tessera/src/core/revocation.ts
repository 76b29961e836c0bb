/**
 * The revocation contract. Three grains: one token (`jti`), one session (`sid`), and every token of a
 * user issued before a time (logout everywhere, password change, user deleted). Each entry carries the
 * time after which it can be forgotten: when the longest-lived token it can affect has expired anyway.
 */
import { nowSeconds } from './time.js'

/** What a revocation check looks at in a verified token. */
export interface RevocationSubject {
  jti?: string | undefined
  sid?: string | undefined
  sub?: string | undefined
  /** NumericDate the token was issued at. A token without `iat` counts as issued at the epoch. */
  iat?: number | undefined
}

/**
 * A revocation store. `isRevoked` is on the verify path: implementations should answer from memory
 * (return a boolean, not a promise) and keep the durable copy elsewhere. Every time is Unix seconds.
 */
export interface RevocationStore {
  /** True when the token, its session or its user's earlier tokens were revoked. */
  isRevoked(subject: RevocationSubject): boolean | Promise<boolean>
  /** Revokes one token until `expiresAt` (its `exp`). */
  revokeToken(jti: string, expiresAt: number): void | Promise<void>
  /** Revokes every token carrying `sid` until `expiresAt` (the session's last refresh token `exp`). */
  revokeSession(sid: string, expiresAt: number): void | Promise<void>
  /**
   * Revokes every token of `sub` whose `iat` is before `before`, until `expiresAt` (now plus the longest
   * token lifetime). Tokens issued in the second `before` itself stay valid, so a login right after a
   * "logout everywhere" works: pair it with {@link RevocationStore.revokeSession} for sessions opened
   * in that same second.
   */
  revokeUser(sub: string, before: number, expiresAt: number): void | Promise<void>
  /** Releases timers and connections. */
  close?(): void | Promise<void>
}

/**
 * Until when a revocation must be kept: the last instant a token whose expiry is `exp` can still pass
 * verification, `exp` plus the leeway (Unix seconds). The engine and the server compute every
 * revocation expiry with this one function, so an entry never lapses while a token it revokes could
 * still be accepted (it would come back to life).
 *
 * @example await store.revokeToken(claims.jti, revocationExpiry(claims.exp, auth.config.leeway))
 */
export function revocationExpiry(exp: number, leeway: number): number {
  return Math.ceil(exp + leeway)
}

/** Options of {@link memoryRevocationStore}. */
export interface MemoryRevocationStoreOptions {
  /**
   * Seconds between sweeps of expired entries (a timer that does not keep the process alive);
   * 0 disables the timer (expired entries are still ignored; they stay until `sweep` is called).
   * @default 60
   */
  sweepIntervalSeconds?: number | undefined
}

/** The in-memory store, with inspection helpers for tests and metrics. */
export interface MemoryRevocationStore extends RevocationStore {
  isRevoked(subject: RevocationSubject): boolean
  revokeToken(jti: string, expiresAt: number): void
  revokeSession(sid: string, expiresAt: number): void
  revokeUser(sub: string, before: number, expiresAt: number): void
  /** Number of live entries of each grain. */
  size(): { tokens: number; sessions: number; users: number }
  /** Drops entries whose `expiresAt` has passed; returns how many were dropped. */
  sweep(now?: number): number
  close(): void
}

interface UserEntry {
  before: number
  expiresAt: number
}

/**
 * An in-memory {@link RevocationStore}. Lookups are O(1) Map hits; entries expire on their own.
 * Used alone it fits one process; the server keeps one per instance as the replica of a shared store.
 *
 * @example const auth = createTessera({ secret, revocation: memoryRevocationStore() })
 */
export function memoryRevocationStore(options: MemoryRevocationStoreOptions = {}): MemoryRevocationStore {
  const tokens = new Map<string, number>()
  const sessions = new Map<string, number>()
  const users = new Map<string, UserEntry>()
  const interval = options.sweepIntervalSeconds ?? 60
  let timer: NodeJS.Timeout | undefined

  // An entry met after its expiry answers "not revoked" (its token has expired too) but stays until a
  // sweep: dropped on a lookup, it would be gone for good if the clock was ahead and is then set back,
  // and the token it revokes would pass again. Only `sweep` deletes (the server drives it with a clock
  // that ignores forward jumps).
  const live = (map: Map<string, number>, id: string, now: number): boolean => {
    const expiresAt = map.get(id)
    return expiresAt !== undefined && expiresAt >= now
  }

  const sweep = (now = nowSeconds()): number => {
    let dropped = 0
    for (const map of [tokens, sessions]) {
      for (const [id, expiresAt] of map) {
        if (expiresAt < now) {
          map.delete(id)
          dropped++
        }
      }
    }
    for (const [sub, entry] of users) {
      if (entry.expiresAt < now) {
        users.delete(sub)
        dropped++
      }
    }
    return dropped
  }

  if (interval > 0) {
    timer = setInterval(sweep, interval * 1000)
    timer.unref()
  }

  const extend = (map: Map<string, number>, id: string, expiresAt: number): void => {
    const current = map.get(id)
    if (current === undefined || current < expiresAt) map.set(id, expiresAt)
  }

  return {
    isRevoked({ jti, sid, sub, iat }) {
      const now = nowSeconds()
      if (jti !== undefined && tokens.size > 0 && live(tokens, jti, now)) return true
      if (sid !== undefined && sessions.size > 0 && live(sessions, sid, now)) return true
      if (sub !== undefined && users.size > 0) {
        const entry = users.get(sub)
        if (entry !== undefined && entry.expiresAt >= now && (iat ?? 0) < entry.before) return true
      }
      return false
    },
    revokeToken(jti, expiresAt) {
      extend(tokens, jti, expiresAt)
    },
    revokeSession(sid, expiresAt) {
      extend(sessions, sid, expiresAt)
    },
    revokeUser(sub, before, expiresAt) {
      const current = users.get(sub)
      users.set(sub, {
        before: Math.max(before, current?.before ?? before),
        expiresAt: Math.max(expiresAt, current?.expiresAt ?? expiresAt),
      })
    },
    size: () => ({ tokens: tokens.size, sessions: sessions.size, users: users.size }),
    sweep,
    close() {
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
    },
  } satisfies MemoryRevocationStore
}
