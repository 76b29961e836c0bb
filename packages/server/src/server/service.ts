/**
 * The auth service: what register, login, refresh, logout and the admin actions do, independent of
 * HTTP. Every change runs as one unit of work (unit-of-work.ts): one database transaction that also
 * records its revocations (`tx.revoke`) and audit events (`tx.audit`); the revocations reach the
 * in-memory replica after the commit, so the very next request sees them.
 */
import { randomBytes } from 'node:crypto'
import { decodeUnverified, type JwtClaims } from 'tessera'
import type { NewAuditEvent } from '../stores/sql/audit.js'
import type { UserRecord } from '../stores/sql/users.js'
import type { ServerContext } from './context.js'
import { checkPasswordStrength, serviceNamesOf } from './password-policy.js'
import { legacyTokenOf, type LegacyToken } from './legacy.js'
import {
  hashPassword,
  IMPORTED_HASH_COMPANION,
  OWASP_ARGON2ID,
  rehashPassword,
  estimateStrength,
  validatePassword,
  verifyAgainstDummy,
  verifyPassword,
} from './passwords.js'
import { invalidCredentials, Problem, rateLimited, validation } from './problem.js'
import { revocations } from './revocations.js'
import { createUnitOfWork, replicaPublisher, type UnitOfWork } from './unit-of-work.js'
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

/**
 * Audit events, also written as structured log lines once their transaction committed (the
 * `audit_events` row is written in it). Never a password or a whole token.
 */
export type AuditLog = (event: string, detail: Record<string, unknown>) => void

/** Who made an admin change: the admin's user id and client. */
export interface Actor {
  userId: number
  client?: ClientInfo
}

/** The audit fields of a request by `client` (about `userId`, by `actorId` when not the user). */
const audited = (
  event: string,
  userId: number | null,
  client: ClientInfo | undefined,
  detail?: Record<string, unknown>,
  actorId?: number,
): NewAuditEvent => ({
  event,
  userId,
  actorId: actorId ?? null,
  ip: client?.ip ?? null,
  userAgent: client?.userAgent ?? null,
  detail,
})

const randomId = (): string => randomBytes(16).toString('base64url')
const nowSeconds = (): number => Math.floor(Date.now() / 1000)

/** Builds the service over a server context. */
// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- exported as AuthService below
export function createAuthService(ctx: ServerContext, audit: AuditLog) {
  const { stores, auth, config, metrics, limiter } = ctx
  // Cookie mode: tokens carry the double-submit value their CSRF cookie repeats.
  const csrf = config.tokenTransport === 'cookie'
  const entries = revocations({ accessTokenTtl: config.accessTokenTtl, leeway: auth.config.leeway })
  const work = createUnitOfWork({
    stores,
    publish: replicaPublisher(ctx.replica, metrics),
    log: ({ event, userId, actorId, ip, detail }) => {
      audit(event, { user_id: userId, ...(actorId == null ? {} : { actor_id: actorId }), ip, ...detail })
    },
  })

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

  /** Revokes every live session of a user (but `exceptId`) with their tokens; returns how many. */
  const endSessions = async (
    tx: UnitOfWork,
    userId: number,
    reason: string,
    exceptId?: string,
  ): Promise<number> => {
    const sessions = await tx.sessions.revokeAllForUser(userId, { reason, exceptId })
    for (const s of sessions) await tx.revoke(entries.session(s))
    return sessions.length
  }

  const accessClaims = (user: UserRecord): Record<string, unknown> => ({
    username: user.username,
    roles: user.roles,
  })

  /** Revokes every session of a user and every token issued before the next second. */
  async function revokeEverything(tx: UnitOfWork, userId: number): Promise<void> {
    await endSessions(tx, userId, 'user_revoked')
    await tx.revoke(entries.user(userId))
  }

  async function issue(
    tx: UnitOfWork,
    user: UserRecord,
    client: ClientInfo,
    fresh: boolean,
  ): Promise<IssuedTokens> {
    const sessionId = randomId()
    const jti = randomId()
    const refreshToken = await auth.createRefreshToken(String(user.id), { sid: sessionId, jti, csrf })
    const expiresAt = decodeUnverified(refreshToken).payload.exp as number
    await tx.sessions.create({
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
      outcome = await work.run(async (tx): Promise<Outcome> => {
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
        const tokens = await issue(tx, user, client, false)
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
        // Until the old token's own exp: it is checked against this table, not against a session.
        await tx.revoke({ kind: 'token', id: legacy.jti, expiresAt: legacy.exp })
        await tx.audit(audited('legacy_exchange', user.id, client, { session_id: tokens.sessionId }))
        return { status: 'exchanged', tokens }
      })
    } catch (error) {
      if (error !== spent) throw error
      outcome = { status: 'reuse', sessionId: undefined }
    }
    switch (outcome.status) {
      case 'exchanged':
        count('exchanged')
        return outcome.tokens
      case 'reuse': {
        const sessionId = outcome.sessionId
        // The session the first exchange created ends with its tokens, as for Tessera's own reuse.
        await work.run(async (tx) => {
          const ended =
            sessionId === undefined
              ? undefined
              : await tx.sessions.revoke(sessionId, { reason: 'refresh_reuse', userId: legacy.userId })
          if (ended !== undefined) await tx.revoke(entries.session(ended))
          await tx.audit(
            audited('refresh_reuse_detected', legacy.userId, client, {
              session_id: sessionId ?? null,
              legacy: true,
            }),
          )
        })
        count('reused')
        metrics.refreshReuse.inc()
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
          name.reason === 'mixed_scripts'
            ? 'username: mixes scripts (such as Latin with a Cyrillic look-alike letter); use one script'
            : `username: ${name.reason.replace('_', ' ')} (1 to 64 characters, no control characters)`,
        )
      await requireStrongPassword('password', body.password, name.normalized)
      const passwordHash = await hashPassword(body.password)
      const issued = await work.run(async (tx) => {
        const created = await tx.users.create({
          username: body.username.trim(),
          usernameNormalized: name.normalized,
          passwordHash,
        })
        if (!created.ok) return undefined
        await tx.audit(audited('register', created.user.id, client))
        return issue(tx, created.user, client, true)
      })
      if (issued === undefined) {
        metrics.registrations.inc({ outcome: 'username_taken' })
        throw new Problem(409, 'username_taken', 'This username is already taken')
      }
      metrics.registrations.inc({ outcome: 'created' })
      return issued
    },

    async login(body: { username: string; password: string }, client: ClientInfo): Promise<IssuedTokens> {
      const normalized = typeof body.username === 'string' ? normalizeUsername(body.username) : ''
      try {
        await limit(`login:ip:${client.ip}`, config.loginRatePerIp)
        await limit(`login:account:${normalized}`, config.loginRatePerAccount)
      } catch (error) {
        // Logged only: a flood of refused attempts must not become a flood of writes.
        metrics.logins.inc({ outcome: 'rate_limited' })
        audit('login_failed', { reason: 'rate_limited', ip: client.ip })
        throw error
      }
      // A failed login's unit of work is just its audit event.
      const failed = (reason: string, userId: number | null): Promise<void> =>
        work.run((tx) => tx.audit(audited('login_failed', userId, client, { reason })))
      const user = normalized === '' ? undefined : await stores.users.getByUsername(normalized)
      if (user === undefined) {
        // Same work as a real check, so timing does not tell which usernames exist.
        await verifyAgainstDummy(body.password, OWASP_ARGON2ID, companion())
        metrics.logins.inc({ outcome: 'invalid_credentials' })
        await failed('unknown_user', null)
        throw invalidCredentials()
      }
      const check = await verifyPassword(user.passwordHash, body.password, OWASP_ARGON2ID, companion())
      if (!check.ok) {
        metrics.logins.inc({ outcome: 'invalid_credentials' })
        await failed('wrong_password', user.id)
        throw invalidCredentials()
      }
      if (user.disabled) {
        metrics.logins.inc({ outcome: 'disabled' })
        await failed('disabled', user.id)
        throw new Problem(403, 'account_disabled', 'This account is disabled')
      }
      // The old hash (other argon2 parameters, or an imported foreign one) is replaced in the
      // transaction that creates the session: both happen, or neither.
      const rehashed = check.needsRehash ? await rehashPassword(body.password) : undefined
      const issued = await work.run(async (tx) => {
        let current = user
        if (rehashed !== undefined) {
          current = (await tx.users.update(user.id, { passwordHash: rehashed })) ?? user
          await tx.audit(
            audited('password_rehashed', user.id, client, { from: hashScheme(user.passwordHash) }),
          )
        }
        await tx.audit(audited('login', user.id, client))
        return issue(tx, current, client, true)
      })
      metrics.logins.inc({ outcome: 'success' })
      return issued
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
      const { outcome, user } = await work.run(async (tx) => {
        const rotation = await tx.sessions.rotate({
          sid,
          presentedJti: claims.jti,
          newJti,
          newExpiresAt,
          graceSeconds: config.refreshGraceSeconds,
        })
        if (rotation.status === 'reuse') {
          // The rotation revoked the family in this transaction: revoke its tokens with it.
          await tx.revoke(entries.session({ id: sid, expiresAt: rotation.expiresAt }))
          await tx.audit(audited('refresh_reuse_detected', rotation.userId, client, { session_id: sid }))
        }
        if (rotation.status !== 'rotated' && rotation.status !== 'grace') return { outcome: rotation }
        const owner = await tx.users.get(rotation.userId)
        if (owner !== undefined && !owner.disabled) {
          await tx.audit(audited('refresh', owner.id, client, { session_id: sid, outcome: rotation.status }))
        }
        return { outcome: rotation, user: owner }
      })
      metrics.refreshes.inc({ outcome: outcome.status })
      if (outcome.status === 'reuse') {
        metrics.refreshReuse.inc()
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
    async logout(claims: JwtClaims, reason = 'logout', client?: ClientInfo): Promise<void> {
      const sid = typeof claims.sid === 'string' ? claims.sid : null
      const userId = Number(claims.sub)
      await work.run(async (tx) => {
        await tx.revoke(entries.token(claims))
        const session =
          sid === null ? undefined : await tx.sessions.revoke(sid, { reason, userId: Number(claims.sub) })
        if (session !== undefined) await tx.revoke(entries.session(session))
        await tx.audit(
          audited('logout', Number.isSafeInteger(userId) ? userId : null, client, {
            session_id: sid,
            token: claims.type,
          }),
        )
      })
    },

    /**
     * Ends every session of the user but `exceptSessionId`; with `token`, revokes that token as well
     * (the one the request came with). Returns how many sessions ended.
     */
    async logoutAll(
      userId: number,
      reason = 'logout_all',
      exceptSessionId?: string,
      request: { client?: ClientInfo; token?: JwtClaims } = {},
    ): Promise<number> {
      return work.run(async (tx) => {
        const ended = await endSessions(tx, userId, reason, exceptSessionId)
        if (request.token !== undefined) await tx.revoke(entries.token(request.token))
        await tx.audit(audited(reason, userId, request.client, { sessions: ended }))
        return ended
      })
    },

    async revokeOwnSession(userId: number, sessionId: string, client?: ClientInfo): Promise<boolean> {
      return work.run(async (tx) => {
        const session = await tx.sessions.revoke(sessionId, { reason: 'logout', userId })
        if (session === undefined) return false
        await tx.revoke(entries.session(session))
        await tx.audit(audited('session_revoked', userId, client, { session_id: sessionId }))
        return true
      })
    },

    async changePassword(
      userId: number,
      sessionId: string | undefined,
      current: string,
      next: string,
      client?: ClientInfo,
    ): Promise<void> {
      const user = await stores.users.get(userId)
      if (user === undefined) throw invalidCredentials()
      const check = await verifyPassword(user.passwordHash, current)
      if (!check.ok) {
        await work.run((tx) => tx.audit(audited('password_change_failed', userId, client)))
        throw invalidCredentials()
      }
      await requireStrongPassword('new_password', next, user.usernameNormalized)
      const passwordHash = await hashPassword(next)
      await work.run(async (tx) => {
        await tx.users.update(userId, { passwordHash })
        const ended = await endSessions(tx, userId, 'password_change', sessionId)
        await tx.audit(audited('password_changed', userId, client, { sessions_revoked: ended }))
      })
    },

    /** Revokes every token of a user (disable, demotion, deletion) and, with `remove`, deletes the user. */
    async revokeUser(userId: number, reason: string, remove = false, actor?: Actor): Promise<boolean> {
      return work.run(async (tx) => {
        const user = await tx.users.get(userId)
        if (user === undefined) return false
        await revokeEverything(tx, userId)
        if (remove) await tx.users.delete(userId)
        await tx.audit(audited(reason, userId, actor?.client, undefined, actor?.userId))
        return true
      })
    },

    /**
     * An admin's change of roles or the disabled flag. Removing a role or disabling revokes every token
     * of the user (least privilege: the change must not live on in unexpired tokens). Returns the
     * updated user, or `undefined` when there is none.
     */
    async updateUser(
      userId: number,
      patch: { roles?: string[]; disabled?: boolean },
      actor?: Actor,
    ): Promise<UserRecord | undefined> {
      return work.run(async (tx) => {
        const before = await tx.users.get(userId)
        if (before === undefined) return undefined
        const updated = await tx.users.update(userId, patch)
        if (updated === undefined) return undefined
        const demoted = patch.roles !== undefined && before.roles.some((role) => !patch.roles?.includes(role))
        const disabled = patch.disabled === true && !before.disabled
        if (demoted || disabled) await revokeEverything(tx, userId)
        const detail = {
          roles: updated.roles,
          disabled: updated.disabled,
          tokens_revoked: demoted || disabled,
        }
        await tx.audit(audited('user_updated', userId, actor?.client, detail, actor?.userId))
        return updated
      })
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
