/**
 * The auth service: what register, login, refresh, logout and the admin actions do, independent of
 * HTTP. Every multi-step change runs in one database transaction; the in-memory revocation replica is
 * updated after the commit, so the very next request sees the revocation.
 */
import { randomBytes } from 'node:crypto'
import { decodeUnverified, type JwtClaims } from 'tessera'
import type { RevokedSession } from '../stores/sql/sessions.js'
import type { UserRecord } from '../stores/sql/users.js'
import type { ServerContext } from './context.js'
import { legacyTokenOf, type LegacyToken } from './legacy.js'
import type { SqlStores } from '../stores/sql/stores.js'
import {
  hashPassword,
  IMPORTED_HASH_COMPANION,
  OWASP_ARGON2ID,
  rehashPassword,
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

  const limit = async (key: string, max: number): Promise<void> => {
    const decision = await limiter.hit(key, max, 60)
    if (!decision.allowed) throw rateLimited(decision.retryAfter)
  }

  /** Revokes sessions in the replica (after the transaction that revoked them durably committed). */
  const replicateSessions = (sessions: readonly RevokedSession[]): void => {
    for (const s of sessions) replica.revokeSession(s.id, s.expiresAt)
    if (sessions.length > 0) metrics.revocations.inc({ grain: 'session' }, sessions.length)
  }

  const accessClaims = (user: UserRecord): Record<string, unknown> => ({
    username: user.username,
    roles: user.roles,
  })

  async function issue(
    user: UserRecord,
    client: ClientInfo,
    fresh: boolean,
    db: SqlStores = stores,
  ): Promise<IssuedTokens> {
    const sessionId = randomId()
    const jti = randomId()
    const refreshToken = await auth.createRefreshToken(String(user.id), { sid: sessionId, jti, csrf })
    const expiresAt = decodeUnverified(refreshToken).payload.exp as number
    await db.sessions.create({
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

  // While the legacy window is open, imported hashes are expected: every login check also pays for one
  // (passwords.ts, IMPORTED_HASH_COMPANION), so argon2id, imported and unknown users take equally long.
  const companion = (): typeof IMPORTED_HASH_COMPANION | undefined =>
    config.legacyUntil !== undefined && Date.now() / 1000 < config.legacyUntil
      ? IMPORTED_HASH_COMPANION
      : undefined

  /** The refusal of a spent refresh token: the same answer for Tessera's and the old system's. */
  const reused = (): Problem =>
    new Problem(401, 'refresh_token_reused', 'This refresh token was already used: the session is revoked', {
      'www-authenticate': 'Bearer error="invalid_token", error_description="refresh token reused"',
    })

  /**
   * A refresh token of the previous system (legacy.ts verified it) becomes a Tessera session, once:
   * the exchange is recorded and its jti revoked in the transaction that creates the session. A
   * second presentation is reuse, and ends the session the first one made.
   */
  async function exchangeLegacy(legacy: LegacyToken, client: ClientInfo): Promise<IssuedTokens> {
    const count = (outcome: string): void => {
      metrics.legacyTokens.inc({ kind: 'exchange', outcome })
    }
    type Outcome =
      | { status: 'exchanged'; tokens: IssuedTokens }
      | { status: 'reuse'; sessionId: string | undefined }
      | { status: 'revoked' | 'user_gone' }
    class Spent extends Error {}
    const spent = new Spent('legacy refresh token exchanged concurrently')
    let outcome: Outcome
    try {
      outcome = await stores.transaction(async (tx): Promise<Outcome> => {
        const previous = await tx.db
          .selectFrom('legacy_exchanges')
          .select('session_id')
          .where('jti', '=', legacy.jti)
          .executeTakeFirst()
        if (previous !== undefined) return { status: 'reuse', sessionId: previous.session_id }
        // The old app's logouts (imported revoked_tokens) and any revocation of this jti since.
        const revoked = await tx.db
          .selectFrom('revocations')
          .select('id')
          .where('kind', '=', 'token')
          .where('id', '=', legacy.jti)
          .executeTakeFirst()
        if (revoked !== undefined) return { status: 'revoked' }
        const user = await tx.users.get(legacy.userId)
        if (user === undefined || user.disabled) return { status: 'user_gone' }
        const tokens = await issue(user, client, false, tx)
        const recorded = await tx.db
          .insertInto('legacy_exchanges')
          .values({
            jti: legacy.jti,
            user_id: user.id,
            session_id: tokens.sessionId,
            exchanged_at: nowSeconds(),
            expires_at: legacy.exp,
          })
          .onConflict((oc) => oc.column('jti').doNothing())
          .returning('jti')
          .executeTakeFirst()
        // A concurrent exchange of the same token committed first: undo this one entirely.
        if (recorded === undefined) throw spent
        await tx.revocations.revokeToken(legacy.jti, legacy.exp)
        return { status: 'exchanged', tokens }
      })
    } catch (error) {
      if (error !== spent) throw error
      outcome = { status: 'reuse', sessionId: undefined }
    }
    switch (outcome.status) {
      case 'exchanged':
        replica.revokeToken(legacy.jti, legacy.exp)
        metrics.revocations.inc({ grain: 'token' })
        count('exchanged')
        audit('legacy_exchange', {
          user_id: legacy.userId,
          session_id: outcome.tokens.sessionId,
          ip: client.ip,
        })
        return outcome.tokens
      case 'reuse': {
        const sessionId = outcome.sessionId
        if (sessionId !== undefined) {
          const ended = await stores.transaction(async (tx) => {
            const s = await tx.sessions.revoke(sessionId, { reason: 'refresh_reuse', userId: legacy.userId })
            if (s !== undefined) await tx.revocations.revokeSession(s.id, s.expiresAt)
            return s
          })
          replicateSessions(ended === undefined ? [] : [ended])
        }
        count('reused')
        metrics.refreshReuse.inc()
        audit('refresh_reuse_detected', {
          user_id: legacy.userId,
          session_id: sessionId ?? null,
          legacy: true,
          ip: client.ip,
        })
        throw reused()
      }
      case 'revoked':
        count('revoked')
        throw new Problem(401, 'token_revoked', 'This refresh token was revoked by the previous system', {
          'www-authenticate': 'Bearer error="invalid_token"',
        })
      case 'user_gone':
        count('refused')
        throw new Problem(401, 'token_revoked', 'The user of this session no longer exists or is disabled')
    }
  }

  return {
    async register(body: { username: string; password: string }, client: ClientInfo): Promise<IssuedTokens> {
      await limit(`register:ip:${client.ip}`, config.registerRatePerIp)
      const name = validateUsername(body.username)
      if (!name.ok)
        throw validation(
          `username: ${name.reason.replace('_', ' ')} (1 to 64 characters, no control characters)`,
        )
      const password = validatePassword(body.password)
      if (!password.ok) throw validation(`password: ${password.reason.replace('_', ' ')} (8 to 1024 bytes)`)
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
        await verifyAgainstDummy(body.password, OWASP_ARGON2ID, companion())
        metrics.logins.inc({ outcome: 'invalid_credentials' })
        audit('login_failed', { reason: 'unknown_user', ip: client.ip })
        throw invalidCredentials()
      }
      const check = await verifyPassword(user.passwordHash, body.password, OWASP_ARGON2ID, companion())
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
      if (check.needsRehash) {
        // The old hash (other argon2 parameters, or an imported foreign one) is replaced in the
        // transaction that creates the session: both happen, or neither.
        const passwordHash = await rehashPassword(body.password)
        const tokens = await stores.transaction(async (tx) => {
          const updated = (await tx.users.update(user.id, { passwordHash })) ?? user
          return issue(updated, client, true, tx)
        })
        metrics.logins.inc({ outcome: 'success' })
        audit('password_rehashed', { user_id: user.id, from: hashScheme(user.passwordHash) })
        audit('login', { user_id: user.id, ip: client.ip })
        return tokens
      }
      metrics.logins.inc({ outcome: 'success' })
      audit('login', { user_id: user.id, ip: client.ip })
      return issue(user, client, true)
    },

    async refresh(claims: JwtClaims, client: ClientInfo): Promise<IssuedTokens> {
      const legacy = legacyTokenOf(claims)
      if (legacy !== undefined) return exchangeLegacy(legacy, client)
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
        await stores.revocations.revokeSession(sid, outcome.expiresAt)
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
        await tx.revocations.revokeToken(claims.jti, claims.exp)
        if (typeof sid !== 'string') return undefined
        const session = await tx.sessions.revoke(sid, { reason, userId: Number(claims.sub) })
        if (session !== undefined) await tx.revocations.revokeSession(session.id, session.expiresAt)
        return session
      })
      replica.revokeToken(claims.jti, claims.exp)
      metrics.revocations.inc({ grain: 'token' })
      replicateSessions(revoked === undefined ? [] : [revoked])
      audit('logout', { user_id: claims.sub, session_id: sid ?? null })
    },

    async logoutAll(userId: number, reason = 'logout_all', exceptSessionId?: string): Promise<number> {
      const revoked = await stores.transaction(async (tx) => {
        const sessions = await tx.sessions.revokeAllForUser(userId, { reason, exceptId: exceptSessionId })
        for (const s of sessions) await tx.revocations.revokeSession(s.id, s.expiresAt)
        return sessions
      })
      replicateSessions(revoked)
      audit(reason, { user_id: userId, sessions: revoked.length })
      return revoked.length
    },

    async revokeOwnSession(userId: number, sessionId: string): Promise<boolean> {
      const session = await stores.transaction(async (tx) => {
        const s = await tx.sessions.revoke(sessionId, { reason: 'logout', userId })
        if (s !== undefined) await tx.revocations.revokeSession(s.id, s.expiresAt)
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
      const password = validatePassword(next)
      if (!password.ok)
        throw validation(`new_password: ${password.reason.replace('_', ' ')} (8 to 1024 bytes)`)
      const passwordHash = await hashPassword(next)
      const revoked = await stores.transaction(async (tx) => {
        await tx.users.update(userId, { passwordHash })
        const sessions = await tx.sessions.revokeAllForUser(userId, {
          reason: 'password_change',
          exceptId: sessionId,
        })
        for (const s of sessions) await tx.revocations.revokeSession(s.id, s.expiresAt)
        return sessions
      })
      replicateSessions(revoked)
      audit('password_changed', { user_id: userId, sessions_revoked: revoked.length })
    },

    /** Revokes every token of a user (disable, demotion, deletion) and, with `remove`, deletes the user. */
    async revokeUser(userId: number, reason: string, remove = false): Promise<boolean> {
      const before = nowSeconds() + 1
      const expiresAt = before + Math.max(config.accessTokenTtl, config.refreshTokenTtl)
      const result = await stores.transaction(async (tx) => {
        const user = await tx.users.get(userId)
        if (user === undefined) return undefined
        const sessions = await tx.sessions.revokeAllForUser(userId, { reason: 'user_revoked' })
        for (const s of sessions) await tx.revocations.revokeSession(s.id, s.expiresAt)
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

/** The scheme of a stored hash, for the audit log (never the hash itself). */
function hashScheme(stored: string): string {
  return (
    /^\$(argon2id|argon2i|argon2d|pbkdf2-sha256|pbkdf2-sha512|2[aby])\$/.exec(stored)?.[1] ??
    /^(pbkdf2:sha256|pbkdf2:sha512|scrypt):/.exec(stored)?.[1] ??
    'unknown'
  )
}

/** The service returned by {@link createAuthService}. */
export type AuthService = ReturnType<typeof createAuthService>
