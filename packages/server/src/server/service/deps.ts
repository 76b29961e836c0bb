/**
 * What every part of the auth service shares: the server context, the unit-of-work runner, the
 * revocation entry builders, and the steps several rules take (rate limits, issuing a token pair,
 * ending sessions, audit fields).
 */
import { randomBytes } from 'node:crypto'
import { decodeUnverified, type JwtClaims } from 'tessera'
import type { NewAuditEvent } from '../../stores/sql/audit.js'
import type { RevokedSession } from '../../stores/sql/sessions.js'
import type { PublicUser, UserRecord } from '../../stores/sql/users.js'
import type { ServerContext } from '../context.js'
import { rateLimited, ServiceError } from '../errors.js'
import { legacyWindowOpen } from '../legacy.js'
import { revocations, type Revocations } from '../revocations.js'
import type { AuditLog, ClientInfo, IssuedTokens } from '../service.js'
import {
  createUnitOfWork,
  replicaPublisher,
  type UnitOfWork,
  type UnitOfWorkRunner,
} from '../unit-of-work.js'

/** The service's dependencies, built once per server. */
export interface ServiceDeps {
  readonly ctx: ServerContext
  readonly work: UnitOfWorkRunner
  readonly entries: Revocations
  /** Cookie mode: tokens carry the double-submit value their CSRF cookie repeats. */
  readonly csrf: boolean
  /** The log of events that have no transaction (refused logins under a rate limit). */
  readonly audit: AuditLog
}

/** Builds the dependencies over a server context. */
export function serviceDeps(ctx: ServerContext, audit: AuditLog): ServiceDeps {
  return {
    ctx,
    audit,
    csrf: ctx.config.tokenTransport === 'cookie',
    entries: revocations({
      accessTokenTtl: ctx.config.accessTokenTtl,
      leeway: ctx.auth.config.leeway,
      legacyUntil: legacyWindowOpen(ctx.config) ? ctx.config.legacyUntil : undefined,
    }),
    work: createUnitOfWork({
      stores: ctx.stores,
      publish: replicaPublisher(ctx.replica, ctx.metrics),
      log: ({ event, userId, actorId, ip, detail, requestId }) => {
        audit(event, {
          ...(requestId === undefined ? {} : { reqId: requestId }),
          user_id: userId,
          ...(actorId == null ? {} : { actor_id: actorId }),
          ip,
          ...detail,
        })
      },
    }),
  }
}

/** The audit fields of a request by `client` (about `userId`, by `actorId` when not the user). */
export function audited(
  event: string,
  userId: number | null,
  client: ClientInfo | undefined,
  detail?: Record<string, unknown>,
  actorId?: number,
): NewAuditEvent {
  return {
    event,
    userId,
    actorId: actorId ?? null,
    ip: client?.ip ?? null,
    userAgent: client?.userAgent ?? null,
    detail,
    requestId: client?.requestId,
  }
}

export const randomId = (): string => randomBytes(16).toString('base64url')

/**
 * The user id a token's `sub` names, or `undefined` when it is not one (this server's `sub` always is).
 * Only the canonical spelling: `038`, ` 38` or `38.0` would name user 38 to `Number` but escape a
 * revocation of the user, which matches `sub` as written.
 */
export function userIdOf(claims: Pick<JwtClaims, 'sub'>): number | undefined {
  const { sub } = claims
  if (typeof sub !== 'string' || !/^[1-9]\d{0,15}$/.test(sub)) return undefined
  const id = Number(sub)
  return Number.isSafeInteger(id) ? id : undefined
}

/** The refusal of a token whose user was deleted or disabled since it was issued. */
export const userGone = (): ServiceError =>
  new ServiceError('token_revoked', 'The user of this session no longer exists or is disabled')

/** The public form of a user: everything but the password hash. */
export function publicUser(user: PublicUser): PublicUser {
  return {
    id: user.id,
    username: user.username,
    usernameNormalized: user.usernameNormalized,
    roles: user.roles,
    disabled: user.disabled,
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
    passwordChangedAt: user.passwordChangedAt,
  }
}

/** Counts a hit on `key`; refuses `rate_limited` past `max` a minute. */
export async function limit(deps: ServiceDeps, key: string, max: number): Promise<void> {
  const decision = await deps.ctx.limiter.hit(key, max, 60)
  if (!decision.allowed) throw rateLimited(decision.retryAfter)
}

/** The claims an access token carries besides the registered ones. */
export function accessClaims(user: PublicUser): Record<string, unknown> {
  return { username: user.username, roles: user.roles }
}

/**
 * Opens a session for `user` in `tx` and signs its first token pair; `predecessorJti` is the token
 * exchanged for it, if any (`NewSession.predecessorJti`).
 */
export async function issue(
  deps: ServiceDeps,
  tx: UnitOfWork,
  user: UserRecord,
  client: ClientInfo,
  fresh: boolean,
  predecessorJti?: string,
): Promise<IssuedTokens> {
  const { auth, config } = deps.ctx
  const sessionId = randomId()
  const jti = randomId()
  const refreshToken = await auth.createRefreshToken(String(user.id), {
    sid: sessionId,
    jti,
    csrf: deps.csrf,
  })
  const expiresAt = decodeUnverified(refreshToken).payload.exp as number
  await tx.sessions.create({
    id: sessionId,
    userId: user.id,
    jti,
    expiresAt,
    userAgent: client.userAgent ?? null,
    ip: client.ip,
    predecessorJti,
  })
  // The least recently used sessions beyond the limit (this one counted) end with their tokens, in the
  // same transaction.
  if (config.maxSessionsPerUser > 0) {
    const ended = await tx.sessions.revokeBeyond(user.id, {
      keep: config.maxSessionsPerUser - 1,
      exceptId: sessionId,
      reason: 'session_limit',
    })
    await revokeSessionTokens(deps, tx, ended)
  }
  const accessToken = await auth.createAccessToken(String(user.id), {
    sid: sessionId,
    fresh,
    csrf: deps.csrf,
    claims: accessClaims(user),
  })
  return {
    accessToken,
    refreshToken,
    sessionId,
    expiresIn: config.accessTokenTtl,
    refreshExpiresIn: config.refreshTokenTtl,
    user: publicUser(user),
  }
}

/** Revokes every live session of a user (but `exceptId`) with their tokens; returns how many. */
export async function endSessions(
  deps: Pick<ServiceDeps, 'entries'>,
  tx: UnitOfWork,
  userId: number,
  reason: string,
  exceptId?: string,
): Promise<number> {
  const sessions = await tx.sessions.revokeAllForUser(userId, { reason, exceptId })
  await revokeSessionTokens(deps, tx, sessions)
  return sessions.length
}

/**
 * Revokes every token the previous system issued to a user, while the legacy window is open (legacy.ts):
 * they belong to no session, so ending the user's sessions (a logout everywhere, a password change)
 * does not reach them. Call it before ending the sessions: it locks the user's row, so an exchange of an
 * old token in flight (which reads the user under `getLocked`) commits its session first, for the
 * sessions' end to see, or waits and sees this end.
 */
export async function endLegacyTokens(
  deps: Pick<ServiceDeps, 'entries'>,
  tx: UnitOfWork,
  userId: number,
): Promise<void> {
  const entry = deps.entries.legacyUser(userId)
  if (entry === undefined) return
  await tx.users.lockForChange(userId)
  await tx.revoke(entry)
}

/** Revokes the tokens of sessions just ended in `tx` (one session entry each). */
async function revokeSessionTokens(
  deps: Pick<ServiceDeps, 'entries'>,
  tx: UnitOfWork,
  sessions: readonly RevokedSession[],
): Promise<void> {
  for (const s of sessions) await tx.revoke(deps.entries.session(s))
}

/**
 * Revokes every session of a user and every token issued before the next second (a deletion, a
 * disabling, a demotion: through the API or `tessera users set-roles`); returns the sessions ended.
 */
export async function revokeEverything(
  deps: Pick<ServiceDeps, 'entries'>,
  tx: UnitOfWork,
  userId: number,
): Promise<number> {
  const ended = await endSessions(deps, tx, userId, 'user_revoked')
  await tx.revoke(deps.entries.user(userId))
  return ended
}

/**
 * Waits until a token issued now would be newer than the user's latest revocation. A user revocation
 * covers every token issued up to the end of the second it was written in (`iat` counts whole
 * seconds, revocations.ts), so a login in that same second — a demoted admin logging in again at once
 * — would otherwise be handed tokens that are refused on arrival. Asks the database (one lookup by
 * key), so a revocation another instance or the CLI wrote counts too. Called before the unit of work
 * that issues, never inside one: the wait (under a second) must not hold the database. That unit of
 * work then reads the user again, so the tokens carry what the revocation's change left.
 */
export async function afterUserRevocation(deps: Pick<ServiceDeps, 'ctx'>, userId: number): Promise<void> {
  const sub = String(userId)
  // A revocation's `before` is at most the second after it was written: two waits at most.
  for (let attempt = 0; attempt < 2; attempt++) {
    const now = Date.now()
    const iat = Math.floor(now / 1000)
    if (!(await deps.ctx.stores.revocations.isRevoked({ sub, iat }))) return
    await new Promise((resolve) => setTimeout(resolve, (iat + 1) * 1000 - now))
  }
}

/** Whether changing `before` roles to `after` removes one: the user's tokens carry the old roles. */
export const removesRole = (before: readonly string[], after: readonly string[]): boolean =>
  before.some((role) => !after.includes(role))
