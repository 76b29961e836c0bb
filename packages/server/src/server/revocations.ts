/**
 * What a revocation is and how long it is remembered: the one place the server computes a
 * revocation's expiry. Entries are recorded by a unit of work (`tx.revoke(entry)`, see
 * unit-of-work.ts) and reach the in-memory replica and Redis only after their transaction commits.
 *
 * How long: until the last token the entry can affect would be refused anyway, plus the verification
 * leeway. Refresh tokens are never accepted on the replica alone: every refresh is checked against the
 * `sessions` row (revoked, expired or deleted sessions are refused), so a session- or user-grain entry
 * only has to outlive the access tokens issued before it — at most the access token lifetime. The
 * replica, the `revocations` table and Redis thus hold about (revocation rate × access lifetime)
 * entries, instead of keeping each logout for the refresh lifetime (30 days by default).
 */
import { revocationExpiry as coreRevocationExpiry, type JwtClaims, type RevocationEntry } from 'tessera'
import type { RevokedSession } from '../stores/sql/sessions.js'
import { nowSeconds } from '../time.js'

/** The lifetimes a revocation's expiry depends on, in seconds. */
export interface RevocationLifetimes {
  accessTokenTtl: number
  /** The verifier's clock leeway: a token is accepted until `exp + leeway`. */
  leeway: number
  /** The end of the legacy window (Unix seconds), when one is configured (legacy.ts). */
  legacyUntil?: number | undefined
}

/**
 * The one expiry rule, the engine's own (`revocationExpiry` from `tessera`): a revocation lasts until
 * `exp + leeway` of the last token it can affect.
 */
function revocationExpiry(lastExp: number, lifetimes: RevocationLifetimes): number {
  return coreRevocationExpiry(lastExp, lifetimes.leeway)
}

/** Builds the revocation entries of the server, each with its expiry from {@link revocationExpiry}. */
export interface Revocations {
  /** One token (its `jti`), until it expires. A refresh token's entry is capped like a session's. */
  token(claims: Pick<JwtClaims, 'jti' | 'exp' | 'type'>, now?: number): RevocationEntry
  /** Every token of a session, until its last access token expires (refreshes are checked in SQL). */
  session(session: RevokedSession, now?: number): RevocationEntry
  /** Every token of a user issued before the next second (disable, demotion, deletion). */
  user(userId: number, now?: number): Extract<RevocationEntry, { kind: 'user' }>
  /**
   * Every token the previous system issued to a user (a logout everywhere, a password change), until
   * the legacy window closes; `undefined` when no window is open, as no such token is accepted then.
   */
  legacyUser(userId: number, now?: number): Extract<RevocationEntry, { kind: 'user' }> | undefined
}

/**
 * The subject under which a user's legacy tokens are revoked (a user-grain entry of its own): they
 * belong to no session, and a user entry under the user id would also end the tokens the server
 * issues in the same second (a password change keeps the caller's session).
 */
export const legacySubject = (userId: number): string => `${LEGACY_SUBJECT_PREFIX}${userId}`

/** What every {@link legacySubject} begins with. */
export const LEGACY_SUBJECT_PREFIX = 'legacy:'

/** The entry builders over the server's lifetimes. */
export function revocations(lifetimes: RevocationLifetimes): Revocations {
  const accessEnd = (now: number): number => now + lifetimes.accessTokenTtl
  return {
    token(claims, now = nowSeconds()) {
      const last = claims.type === 'refresh' ? Math.min(claims.exp, accessEnd(now)) : claims.exp
      return { kind: 'token', id: claims.jti, expiresAt: revocationExpiry(last, lifetimes) }
    },
    session(session, now = nowSeconds()) {
      const last = Math.min(session.expiresAt, accessEnd(now))
      return { kind: 'session', id: session.id, expiresAt: revocationExpiry(last, lifetimes) }
    },
    user(userId, now = nowSeconds()) {
      // Tokens issued in the second `before` itself stay valid: a login right after the revocation
      // waits for it (`afterUserRevocation`, service/deps.ts).
      const before = now + 1
      return {
        kind: 'user',
        id: String(userId),
        before,
        expiresAt: revocationExpiry(before + lifetimes.accessTokenTtl, lifetimes),
      }
    },
    legacyUser(userId, now = nowSeconds()) {
      const until = lifetimes.legacyUntil
      if (until === undefined || now >= until) return undefined
      // Every legacy token was issued before the cut-over, so before now: `before` needs no margin.
      return {
        kind: 'user',
        id: legacySubject(userId),
        before: now + 1,
        expiresAt: revocationExpiry(until, lifetimes),
      }
    },
  }
}
