/** The rules of a signed-in user's own sessions: logout, logout everywhere, who am I, list, revoke one. */
import { applyRevocation, type JwtClaims, type RevocationEntry } from 'tessera'
import { nowSeconds } from '../../time.js'
import { notFound, ServiceError } from '../errors.js'
import { legacyTokenOf } from '../legacy.js'
import type { UnitOfWork } from '../unit-of-work.js'
import type { Caller, SessionView, TokenOwner } from '../service.js'
import { audited, endLegacyTokens, endSessions, userIdOf, type ServiceDeps } from './deps.js'

const sessionOf = (token: JwtClaims): string | undefined =>
  typeof token.sid === 'string' ? token.sid : undefined

/** The session an exchange of this previous system's refresh token opened, if it was exchanged. */
async function exchangedSession(tx: UnitOfWork, token: JwtClaims): Promise<string | undefined> {
  const legacy = legacyTokenOf(token)
  if (legacy?.type !== 'refresh') return undefined
  const row = await tx.db
    .selectFrom('legacy_exchanges')
    .select('session_id')
    .where('jti', '=', legacy.jti)
    .where('user_id', '=', legacy.userId)
    .executeTakeFirst()
  return row?.session_id
}

/**
 * Ends the session of the caller's token and revokes the token (see {@link AuthService.logout}). A
 * session already revoked (or purged) makes it a no-op (idempotent, as the routes are): a refresh token
 * outlives its session's revocation entry, which lasts only as long as the access tokens (revocations.ts),
 * and presenting it again must not write a revocation and an audit event each time.
 */
export async function logout(deps: ServiceDeps, { token, client }: Caller): Promise<void> {
  const userId = userIdOf(token)
  const earlier = await deps.work.run(async (tx): Promise<RevocationEntry | undefined> => {
    // A previous system's refresh token has no `sid`; once exchanged, its session is the one the
    // exchange opened (counted as rotated from it: legacy-exchange.ts), ended as a spent token's is.
    const sid = sessionOf(token) ?? (await exchangedSession(tx, token))
    // Only a session of the token's own user (a token without a user id ends none).
    const session =
      sid === undefined || userId === undefined
        ? undefined
        : await tx.sessions.revoke(sid, { reason: 'logout', userId })
    if (session === undefined && sid !== undefined) {
      // Not live: revoked before (or revoked and purged since) — nothing to write. A session that
      // merely expired still has its last access token's revocation written below.
      const ended = await tx.sessions.get(sid)
      if (ended === undefined) return undefined
      if (ended.revokedAt !== null) return deps.entries.session(ended, ended.revokedAt)
    }
    await tx.revoke(deps.entries.token(token))
    if (session !== undefined) await tx.revoke(deps.entries.session(session))
    const legacy = legacyTokenOf(token) === undefined ? {} : { legacy: true }
    await tx.audit(
      audited('logout', userId ?? null, client, { session_id: sid ?? null, token: token.type, ...legacy }),
    )
    return undefined
  })
  // Revoked by another instance whose announcement has not reached this one yet (or, without Redis, its
  // next read of the table): its entry, as written then, goes to this replica now, while it lasts.
  if (earlier !== undefined && earlier.expiresAt > nowSeconds())
    await applyRevocation(deps.ctx.replica, earlier)
}

/** Ends every session of the caller and revokes their token (see {@link AuthService.logoutAll}). */
export async function logoutAll(deps: ServiceDeps, { token, client }: Caller): Promise<number> {
  const userId = ownerOf(token)
  return deps.work.run(async (tx) => {
    // The previous system's tokens have no session: every one of the user's ends (first: it waits for
    // an exchange of one in flight, whose session is then ended below). The presented token is also
    // revoked by its jti, whatever it is: a previous system's has no session to end it otherwise.
    await endLegacyTokens(deps, tx, userId)
    const ended = await endSessions(deps, tx, userId, 'logout_all')
    await tx.revoke(deps.entries.token(token))
    await tx.audit(audited('logout_all', userId, client, { sessions: ended }))
    return ended
  })
}

/** The user id of a verified token; refuses `token_revoked` when its subject is none. */
function ownerOf(token: JwtClaims): number {
  const id = userIdOf(token)
  // Authentic but not one of this server's users (its `sub` is always a user id): refused, never a
  // 500 from serialising NaN.
  if (id === undefined)
    throw new ServiceError('token_revoked', 'The token subject is not a user of this server')
  return id
}

/** Whom a token belongs to, from its claims (see {@link AuthService.whoAmI}). */
export function whoAmI(token: JwtClaims): TokenOwner {
  // Like every protected route it answers from the token, so it keeps working while the database is
  // down. The token's roles are the ones every protected route enforces; a change of roles or a
  // deletion revokes the user's tokens.
  return {
    id: ownerOf(token),
    username: typeof token.username === 'string' ? token.username : token.sub,
    roles: Array.isArray(token.roles) ? token.roles.filter((r): r is string => typeof r === 'string') : [],
    sessionId: sessionOf(token) ?? null,
  }
}

/** The token's user's live sessions (see {@link AuthService.listSessions}). */
export async function listSessions(deps: ServiceDeps, token: JwtClaims): Promise<SessionView[]> {
  const userId = userIdOf(token)
  if (userId === undefined) return []
  const sessions = await deps.ctx.stores.sessions.listForUser(userId)
  return sessions.map((s) => ({
    id: s.id,
    createdAt: s.createdAt,
    lastUsedAt: s.lastUsedAt,
    expiresAt: s.expiresAt,
    userAgent: s.userAgent,
    ip: s.ip,
    current: s.id === token.sid,
  }))
}

/** Ends one of the caller's sessions (see {@link AuthService.revokeSession}). */
export async function revokeSession(
  deps: ServiceDeps,
  { token, client }: Caller,
  sessionId: string,
): Promise<void> {
  const userId = userIdOf(token)
  const ended = await deps.work.run(async (tx) => {
    if (userId === undefined) return false
    const session = await tx.sessions.revoke(sessionId, { reason: 'logout', userId })
    if (session === undefined) return false
    await tx.revoke(deps.entries.session(session))
    await tx.audit(audited('session_revoked', userId, client, { session_id: sessionId }))
    return true
  })
  if (!ended) throw notFound('Session')
}
