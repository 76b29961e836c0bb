/**
 * The refresh rule: rotation with reuse detection and a grace window for two tabs (the state machine
 * itself is the store's atomic `sessions.rotate`, stores/sql/rotation.ts).
 */
import { decodeUnverified, type JwtClaims } from 'tessera'
import type { RotateResult } from '../../stores/sql/rotation.js'
import type { UserRecord } from '../../stores/sql/users.js'
import { nowSeconds } from '../../time.js'
import { ServiceError } from '../errors.js'
import { legacyTokenOf } from '../legacy.js'
import type { Caller, ClientInfo, IssuedTokens } from '../service.js'
import {
  accessClaims,
  audited,
  limit,
  publicUser,
  randomId,
  userGone,
  userIdOf,
  type ServiceDeps,
} from './deps.js'
import { exchangeLegacy } from './legacy-exchange.js'

/** A rotation that spent the presented token and handed out its successor. */
type Rotated = Extract<RotateResult, { status: 'rotated' | 'grace' }>

/** The claims a rotation reads of the presented refresh token. */
type Presented = Pick<JwtClaims, 'sub' | 'jti' | 'sid'>

/** Rotates a refresh token, or exchanges a previous system's (see {@link AuthService.refresh}). */
export async function refresh(deps: ServiceDeps, { token: claims, client }: Caller): Promise<IssuedTokens> {
  const legacy = legacyTokenOf(claims)
  if (legacy === undefined) return rotateRefresh(deps, claims, client)
  const exchange = await exchangeLegacy(deps, legacy, client)
  if (exchange.status === 'exchanged') return exchange.tokens
  // Presented again: the session its exchange opened counts as rotated from it (legacy-exchange.ts).
  const count = (outcome: string): void => {
    deps.ctx.metrics.legacyTokens.inc({ kind: 'exchange', outcome })
  }
  const again = { sub: String(legacy.userId), jti: legacy.jti, sid: exchange.sessionId }
  try {
    const tokens = await rotateRefresh(deps, again, client, LEGACY_DETAIL)
    count('grace')
    return tokens
  } catch (error) {
    count(error instanceof ServiceError && error.code === 'refresh_token_reused' ? 'reused' : 'refused')
    throw error
  }
}

/** The audit detail of a rotation answered for a previous system's refresh token (grace or reuse). */
const LEGACY_DETAIL = { legacy: true } as const

/**
 * The rotation rule: the presented token's successor, the same one within the grace window, or reuse.
 * `detail` is added to the audit event it writes.
 */
async function rotateRefresh(
  deps: ServiceDeps,
  claims: Presented,
  client: ClientInfo,
  detail: Readonly<Record<string, unknown>> = {},
): Promise<IssuedTokens> {
  const { auth, metrics } = deps.ctx
  const sid = claims.sid
  if (typeof sid !== 'string' || userIdOf(claims) === undefined) {
    metrics.refreshes.inc({ outcome: 'not_found' })
    throw new ServiceError('token_revoked', 'This refresh token belongs to no session')
  }
  // A session refreshes every few minutes; one refreshed in a loop (or a spent token replayed within
  // the grace window) writes an audit event each time, kept TESSERA_AUDIT_ROUTINE_RETENTION (unset:
  // TESSERA_AUDIT_RETENTION): refused here, before any signature or write.
  await limit(deps, `refresh:session:${sid}`, deps.ctx.config.refreshRatePerSession).catch(
    (error: unknown) => {
      metrics.refreshes.inc({ outcome: 'rate_limited' })
      throw error
    },
  )
  // Sign the successor first: the rotation records its exp, and an unused token is harmless.
  const newJti = randomId()
  const candidate = await auth.createRefreshToken(claims.sub, { sid, jti: newJti, csrf: deps.csrf })
  const newExpiresAt = decodeUnverified(candidate).payload.exp as number
  const { outcome, user } = await rotate(deps, claims, sid, { newJti, newExpiresAt }, client, detail)
  metrics.refreshes.inc({ outcome: outcome.status })
  if (outcome.status === 'reuse') {
    metrics.refreshReuse.inc()
    throw new ServiceError('refresh_token_reused')
  }
  if (outcome.status !== 'rotated' && outcome.status !== 'grace')
    throw new ServiceError('token_revoked', `This session is ${outcome.status.replace('_', ' ')}`)
  if (user === undefined || user.disabled) {
    metrics.refreshes.inc({ outcome: 'user_gone' })
    throw userGone()
  }
  return successorTokens(deps, claims, sid, outcome, candidate, user)
}

/** The rotation in one unit of work: a reuse revokes the family's tokens, a success is audited. */
async function rotate(
  deps: ServiceDeps,
  claims: Presented,
  sid: string,
  next: { newJti: string; newExpiresAt: number },
  client: ClientInfo,
  detail: Readonly<Record<string, unknown>>,
): Promise<{ outcome: RotateResult; user?: UserRecord }> {
  return deps.work.run(async (tx) => {
    const rotation = await tx.sessions.rotate({
      sid,
      presentedJti: claims.jti,
      ...next,
      graceSeconds: deps.ctx.config.refreshGraceSeconds,
    })
    if (rotation.status === 'reuse') {
      // The rotation revoked the family in this transaction: revoke its tokens with it.
      await tx.revoke(deps.entries.session({ id: sid, expiresAt: rotation.expiresAt }))
      await tx.audit(
        audited('refresh_reuse_detected', rotation.userId, client, { session_id: sid, ...detail }),
      )
    }
    if (rotation.status !== 'rotated' && rotation.status !== 'grace') return { outcome: rotation }
    const owner = await tx.users.get(rotation.userId)
    // A grace answer (another tab, a retry, or a thief within the window) is recorded too: the
    // per-session limit above bounds how many a client can have written.
    if (owner !== undefined && !owner.disabled) {
      await tx.audit(
        audited('refresh', owner.id, client, { session_id: sid, outcome: rotation.status, ...detail }),
      )
    }
    return { outcome: rotation, user: owner }
  })
}

/** The token pair of a successful rotation. */
async function successorTokens(
  deps: ServiceDeps,
  claims: Presented,
  sid: string,
  outcome: Rotated,
  candidate: string,
  user: UserRecord,
): Promise<IssuedTokens> {
  const { auth, config } = deps.ctx
  const csrf = deps.csrf
  let refreshToken = candidate
  if (outcome.status === 'grace') {
    // Two tabs: hand out the same successor (same jti and exp), never a second family.
    const expiresIn = Math.max(1, outcome.expiresAt - nowSeconds())
    refreshToken = await auth.createRefreshToken(claims.sub, {
      sid,
      jti: outcome.successorJti,
      expiresIn,
      csrf,
    })
  }
  const accessToken = await auth.createAccessToken(claims.sub, {
    sid,
    fresh: false,
    csrf,
    claims: accessClaims(user),
  })
  return {
    accessToken,
    refreshToken,
    sessionId: sid,
    expiresIn: config.accessTokenTtl,
    refreshExpiresIn: config.refreshTokenTtl,
    user: publicUser(user),
  }
}
