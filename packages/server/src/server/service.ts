/**
 * The auth service: what register, login, refresh, logout and the admin actions do, independent of
 * HTTP. Every multi-step change runs in one database transaction; the in-memory revocation replica is
 * updated after the commit, so the very next request sees the revocation.
 */
import { randomBytes } from 'node:crypto'
import { decodeUnverified, revocationExpiry, type JwtClaims } from 'tessera'
import type { RevokedSession } from '../stores/sql/sessions.js'
import type { UserRecord } from '../stores/sql/users.js'
import type { ServerContext } from './context.js'
import { checkPasswordStrength, serviceNamesOf } from './password-policy.js'
import {
  estimateStrength,
  hashPassword,
  validatePassword,
  verifyAgainstDummy,
  verifyPassword,
} from './passwords.js'
import { invalidCredentials, Problem, rateLimited, validation } from './problem.js'
import { normalizeUsername, validateUsername } from './username.js'

/** Who is asking: for rate limits, sessions and the audit log. */
export interface ClientInfo {
  ip: string
  userAgent: string | undefined
}

/** A freshly issued token pair. */
export interface IssuedTokens {
  accessToken: string
  refreshToken: string
  sessionId: string
  expiresIn: number
  refreshExpiresIn: number
  user: UserRecord
}

/** Audit events, written as structured log lines (never a password or a whole token). */
export type AuditLog = (event: string, detail: Record<string, unknown>) => void

const randomId = (): string => randomBytes(16).toString('base64url')
const nowSeconds = (): number => Math.floor(Date.now() / 1000)

/** Builds the service over a server context. */
// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- exported as AuthService below
export function createAuthService(ctx: ServerContext, audit: AuditLog) {
  const { stores, auth, config, metrics, replica, limiter } = ctx
  // Cookie mode: tokens carry the double-submit value their CSRF cookie repeats.
  const csrf = config.tokenTransport === 'cookie'

  // Every revocation lasts until the last instant a token it covers can pass verification (exp + leeway).
  const until = (exp: number): number => revocationExpiry(exp, auth.config.leeway)

  /**
   * A new password: structurally valid (400 validation_error), then strong enough (400 weak_password,
   * saying why, never echoing it). Only new passwords: login never judges strength.
   */
  const requireStrongPassword = async (field: string, password: string, username: string): Promise<void> => {
    const check = validatePassword(password)
    if (!check.ok && check.reason !== 'too_short')
      throw validation(`${field}: ${check.reason.replace('_', ' ')} (8 to 1024 bytes)`)
    const verdict = await checkPasswordStrength(
      password,
      { minLength: config.passwordMinLength, minScore: config.passwordMinScore },
      { username, serviceNames: serviceNamesOf(config) },
      estimateStrength,
    )
    if (!verdict.ok) {
      const hint = verdict.suggestions.length === 0 ? '' : ` (${verdict.suggestions.join(' ')})`
      throw new Problem(400, 'weak_password', `${field}: ${verdict.message}${hint}`)
    }
  }

  const limit = async (key: string, max: number): Promise<void> => {
    const decision = await limiter.hit(key, max, 60)
    if (!decision.allowed) throw rateLimited(decision.retryAfter)
  }

  /** Revokes sessions in the replica (after the transaction that revoked them durably committed). */
  const replicateSessions = (sessions: readonly RevokedSession[]): void => {
    for (const s of sessions) replica.revokeSession(s.id, until(s.expiresAt))
    if (sessions.length > 0) metrics.revocations.inc({ grain: 'session' }, sessions.length)
  }

  const accessClaims = (user: UserRecord): Record<string, unknown> => ({
    username: user.username,
    roles: user.roles,
  })

  async function issue(user: UserRecord, client: ClientInfo, fresh: boolean): Promise<IssuedTokens> {
    const sessionId = randomId()
    const jti = randomId()
    const refreshToken = await auth.createRefreshToken(String(user.id), { sid: sessionId, jti, csrf })
    const expiresAt = decodeUnverified(refreshToken).payload.exp as number
    await stores.sessions.create({
      id: sessionId,
      userId: user.id,
      jti,
      expiresAt,
      userAgent: client.userAgent ?? null,
      ip: client.ip,
    })
    const accessToken = await auth.createAccessToken(String(user.id), {
      sid: sessionId,
      fresh,
      csrf,
      claims: accessClaims(user),
    })
    return {
      accessToken,
      refreshToken,
      sessionId,
      expiresIn: config.accessTokenTtl,
      refreshExpiresIn: config.refreshTokenTtl,
      user,
    }
  }

  return {
    async register(body: { username: string; password: string }, client: ClientInfo): Promise<IssuedTokens> {
      await limit(`register:ip:${client.ip}`, config.registerRatePerIp)
      const name = validateUsername(body.username)
      if (!name.ok)
        throw validation(
          name.reason === 'mixed_scripts'
            ? 'username: mixes scripts (such as Latin with a Cyrillic look-alike letter); use one script'
            : `username: ${name.reason.replace('_', ' ')} (1 to 64 characters, no control characters)`,
        )
      await requireStrongPassword('password', body.password, name.normalized)
      const passwordHash = await hashPassword(body.password)
      const created = await stores.users.create({
        username: body.username.trim(),
        usernameNormalized: name.normalized,
        passwordHash,
      })
      if (!created.ok) {
        metrics.registrations.inc({ outcome: 'username_taken' })
        throw new Problem(409, 'username_taken', 'This username is already taken')
      }
      metrics.registrations.inc({ outcome: 'created' })
      audit('register', { user_id: created.user.id, ip: client.ip })
      return issue(created.user, client, true)
    },

    async login(body: { username: string; password: string }, client: ClientInfo): Promise<IssuedTokens> {
      const normalized = typeof body.username === 'string' ? normalizeUsername(body.username) : ''
      try {
        await limit(`login:ip:${client.ip}`, config.loginRatePerIp)
        await limit(`login:account:${normalized}`, config.loginRatePerAccount)
      } catch (error) {
        metrics.logins.inc({ outcome: 'rate_limited' })
        audit('login_failed', { reason: 'rate_limited', ip: client.ip })
        throw error
      }
      const user = normalized === '' ? undefined : await stores.users.getByUsername(normalized)
      if (user === undefined) {
        // Same work as a real check, so timing does not tell which usernames exist.
        await verifyAgainstDummy(body.password)
        metrics.logins.inc({ outcome: 'invalid_credentials' })
        audit('login_failed', { reason: 'unknown_user', ip: client.ip })
        throw invalidCredentials()
      }
      const check = await verifyPassword(user.passwordHash, body.password)
      if (!check.ok) {
        metrics.logins.inc({ outcome: 'invalid_credentials' })
        audit('login_failed', { reason: 'wrong_password', user_id: user.id, ip: client.ip })
        throw invalidCredentials()
      }
      if (user.disabled) {
        metrics.logins.inc({ outcome: 'disabled' })
        audit('login_failed', { reason: 'disabled', user_id: user.id, ip: client.ip })
        throw new Problem(403, 'account_disabled', 'This account is disabled')
      }
      let current = user
      if (check.needsRehash) {
        current =
          (await stores.users.update(user.id, { passwordHash: await hashPassword(body.password) })) ?? user
        audit('password_rehashed', { user_id: user.id })
      }
      metrics.logins.inc({ outcome: 'success' })
      audit('login', { user_id: user.id, ip: client.ip })
      return issue(current, client, true)
    },

    async refresh(claims: JwtClaims, client: ClientInfo): Promise<IssuedTokens> {
      const sid = claims.sid
      const userId = Number(claims.sub)
      if (typeof sid !== 'string' || !Number.isSafeInteger(userId)) {
        metrics.refreshes.inc({ outcome: 'not_found' })
        throw new Problem(401, 'token_revoked', 'This refresh token belongs to no session')
      }
      // Sign the successor first: the rotation records its exp, and an unused token is harmless.
      const newJti = randomId()
      const candidate = await auth.createRefreshToken(claims.sub, { sid, jti: newJti, csrf })
      const newExpiresAt = decodeUnverified(candidate).payload.exp as number
      const outcome = await stores.sessions.rotate({
        sid,
        presentedJti: claims.jti,
        newJti,
        newExpiresAt,
        graceSeconds: config.refreshGraceSeconds,
      })
      metrics.refreshes.inc({ outcome: outcome.status })
      if (outcome.status === 'reuse') {
        await stores.revocations.revokeSession(sid, until(outcome.expiresAt))
        replicateSessions([{ id: sid, expiresAt: outcome.expiresAt }])
        metrics.refreshReuse.inc()
        audit('refresh_reuse_detected', { user_id: outcome.userId, session_id: sid, ip: client.ip })
        throw new Problem(
          401,
          'refresh_token_reused',
          'This refresh token was already used: the session is revoked',
          {
            'www-authenticate': 'Bearer error="invalid_token", error_description="refresh token reused"',
          },
        )
      }
      if (outcome.status !== 'rotated' && outcome.status !== 'grace') {
        throw new Problem(401, 'token_revoked', `This session is ${outcome.status.replace('_', ' ')}`, {
          'www-authenticate': 'Bearer error="invalid_token"',
        })
      }
      const user = await stores.users.get(outcome.userId)
      if (user === undefined || user.disabled) {
        metrics.refreshes.inc({ outcome: 'user_gone' })
        throw new Problem(401, 'token_revoked', 'The user of this session no longer exists or is disabled')
      }
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
      audit('refresh', { user_id: user.id, session_id: sid, outcome: outcome.status })
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
        user,
      }
    },

    /** Ends the session of `claims` (an access or a refresh token) and revokes the token itself. */
    async logout(claims: JwtClaims, reason = 'logout'): Promise<void> {
      const sid = claims.sid
      const revoked = await stores.transaction(async (tx) => {
        await tx.revocations.revokeToken(claims.jti, until(claims.exp))
        if (typeof sid !== 'string') return undefined
        const session = await tx.sessions.revoke(sid, { reason, userId: Number(claims.sub) })
        if (session !== undefined) await tx.revocations.revokeSession(session.id, until(session.expiresAt))
        return session
      })
      replica.revokeToken(claims.jti, until(claims.exp))
      metrics.revocations.inc({ grain: 'token' })
      replicateSessions(revoked === undefined ? [] : [revoked])
      audit('logout', { user_id: claims.sub, session_id: sid ?? null })
    },

    async logoutAll(userId: number, reason = 'logout_all', exceptSessionId?: string): Promise<number> {
      const revoked = await stores.transaction(async (tx) => {
        const sessions = await tx.sessions.revokeAllForUser(userId, { reason, exceptId: exceptSessionId })
        for (const s of sessions) await tx.revocations.revokeSession(s.id, until(s.expiresAt))
        return sessions
      })
      replicateSessions(revoked)
      audit(reason, { user_id: userId, sessions: revoked.length })
      return revoked.length
    },

    async revokeOwnSession(userId: number, sessionId: string): Promise<boolean> {
      const session = await stores.transaction(async (tx) => {
        const s = await tx.sessions.revoke(sessionId, { reason: 'logout', userId })
        if (s !== undefined) await tx.revocations.revokeSession(s.id, until(s.expiresAt))
        return s
      })
      if (session === undefined) return false
      replicateSessions([session])
      audit('session_revoked', { user_id: userId, session_id: sessionId })
      return true
    },

    async changePassword(
      userId: number,
      sessionId: string | undefined,
      current: string,
      next: string,
    ): Promise<void> {
      const user = await stores.users.get(userId)
      if (user === undefined) throw invalidCredentials()
      const check = await verifyPassword(user.passwordHash, current)
      if (!check.ok) {
        audit('password_change_failed', { user_id: userId })
        throw invalidCredentials()
      }
      await requireStrongPassword('new_password', next, user.usernameNormalized)
      const passwordHash = await hashPassword(next)
      const revoked = await stores.transaction(async (tx) => {
        await tx.users.update(userId, { passwordHash })
        const sessions = await tx.sessions.revokeAllForUser(userId, {
          reason: 'password_change',
          exceptId: sessionId,
        })
        for (const s of sessions) await tx.revocations.revokeSession(s.id, until(s.expiresAt))
        return sessions
      })
      replicateSessions(revoked)
      audit('password_changed', { user_id: userId, sessions_revoked: revoked.length })
    },

    /** Revokes every token of a user (disable, demotion, deletion) and, with `remove`, deletes the user. */
    async revokeUser(userId: number, reason: string, remove = false): Promise<boolean> {
      const before = nowSeconds() + 1
      const expiresAt = until(before + Math.max(config.accessTokenTtl, config.refreshTokenTtl))
      const result = await stores.transaction(async (tx) => {
        const user = await tx.users.get(userId)
        if (user === undefined) return undefined
        const sessions = await tx.sessions.revokeAllForUser(userId, { reason: 'user_revoked' })
        for (const s of sessions) await tx.revocations.revokeSession(s.id, until(s.expiresAt))
        await tx.revocations.revokeUser(String(userId), before, expiresAt)
        if (remove) await tx.users.delete(userId)
        return sessions
      })
      if (result === undefined) return false
      replicateSessions(result)
      replica.revokeUser(String(userId), before, expiresAt)
      metrics.revocations.inc({ grain: 'user' })
      audit(reason, { user_id: userId })
      return true
    },
  }
}

/** The service returned by {@link createAuthService}. */
export type AuthService = ReturnType<typeof createAuthService>
