/** The rules of accounts and passwords: register, login, password change. */
import type { UserRecord } from '../../stores/sql/users.js'
import { invalidCredentials, ServiceError, validation } from '../errors.js'
import { checkPasswordStrength, serviceNamesOf } from '../password-policy.js'
import { accountKey, clientNetwork } from '../rate-limit.js'
import {
  estimateStrength,
  hashPassword,
  IMPORTED_HASH_COMPANION,
  OWASP_ARGON2ID,
  rehashPassword,
  validatePassword,
  verifyAgainstDummy,
  verifyPassword,
} from '../passwords.js'
import type { Caller, ClientInfo, Credentials, IssuedTokens } from '../service.js'
import { normalizeUsername, validateUsername } from '../username.js'
import {
  afterUserRevocation,
  audited,
  endLegacyTokens,
  endSessions,
  issue,
  limit,
  userIdOf,
  type ServiceDeps,
} from './deps.js'

/**
 * The hash of a new password: structurally valid (validation_error), then strong enough
 * (weak_password, saying why, never echoing it). Only new passwords: login never judges strength.
 *
 * The strength estimate and the argon2id hash run at the same time, in two of the password threads:
 * a registration waits for the slower of the two, not their sum (the estimate of a typical password
 * takes about as long as the hash, bench/RESULTS.md section 7). A weak password's hash is thrown away.
 */
async function strongPasswordHash(
  deps: ServiceDeps,
  field: string,
  password: string,
  username: string,
): Promise<string> {
  const check = validatePassword(password)
  if (!check.ok && check.reason !== 'too_short')
    throw validation(`${field}: ${check.reason.replace('_', ' ')} (8 to 1024 bytes)`)
  const hashing = hashPassword(password)
  // The strength verdict answers first; a failed hash (a password too short for the hash's own
  // policy, say) is then the verdict's to explain, or surfaces below.
  hashing.catch(() => undefined)
  await requireStrongPassword(deps, field, password, username)
  return hashing
}

async function requireStrongPassword(
  deps: ServiceDeps,
  field: string,
  password: string,
  username: string,
): Promise<void> {
  const { config } = deps.ctx
  const verdict = await checkPasswordStrength(
    password,
    { minLength: config.passwordMinLength, minScore: config.passwordMinScore },
    { username, serviceNames: serviceNamesOf(config) },
    estimateStrength,
  )
  if (!verdict.ok) {
    const hint = verdict.suggestions.length === 0 ? '' : ` (${verdict.suggestions.join(' ')})`
    throw new ServiceError('weak_password', `${field}: ${verdict.message}${hint}`)
  }
}

/** A username that can be registered, normalised; refuses `validation_error` saying why not. */
function registrableName(username: string): string {
  const name = validateUsername(username)
  if (name.ok) return name.normalized
  throw validation(
    name.reason === 'mixed_scripts'
      ? 'username: mixes scripts (such as Latin with a Cyrillic look-alike letter); use one script'
      : `username: ${name.reason.replace('_', ' ')} (1 to 64 characters, no control characters)`,
  )
}

/** Creates a user and opens their first session (see {@link AuthService.register}). */
export async function register(
  deps: ServiceDeps,
  body: Credentials,
  client: ClientInfo,
): Promise<IssuedTokens> {
  const { config, metrics } = deps.ctx
  if (config.registration === 'closed') {
    metrics.registrations.inc({ outcome: 'closed' })
    throw new ServiceError('registration_closed')
  }
  await limit(deps, `register:ip:${clientNetwork(client.ip)}`, config.registerRatePerIp).catch(
    (error: unknown) => {
      metrics.registrations.inc({ outcome: 'rate_limited' })
      throw error
    },
  )
  const normalized = registrableName(body.username)
  const passwordHash = await strongPasswordHash(deps, 'password', body.password, normalized)
  const issued = await deps.work.run(async (tx) => {
    const created = await tx.users.create({
      username: body.username.trim(),
      usernameNormalized: normalized,
      passwordHash,
    })
    if (!created.ok) return undefined
    await tx.audit(audited('register', created.user.id, client))
    return issue(deps, tx, created.user, client, true)
  })
  if (issued === undefined) {
    metrics.registrations.inc({ outcome: 'username_taken' })
    throw new ServiceError('username_taken')
  }
  metrics.registrations.inc({ outcome: 'created' })
  return issued
}

// While the legacy window is open, imported hashes are expected: every login check also pays for one
// (passwords.ts, IMPORTED_HASH_COMPANION), so argon2id, imported and unknown users take equally long.
function companion(deps: ServiceDeps): typeof IMPORTED_HASH_COMPANION | undefined {
  const until = deps.ctx.config.legacyUntil
  return until !== undefined && Date.now() / 1000 < until ? IMPORTED_HASH_COMPANION : undefined
}

/**
 * The per-IP and per-account limits of a password guess: a login, or the current password of a
 * password change (one budget for both, so a stolen access token cannot guess the password at
 * `/auth/password` past the login's limits). A refusal is logged, never written.
 */
async function limitGuesses(
  deps: ServiceDeps,
  normalized: string,
  client: ClientInfo,
  refused: 'login_failed' | 'password_change_failed',
): Promise<void> {
  const { config, metrics } = deps.ctx
  try {
    await limit(deps, `login:ip:${clientNetwork(client.ip)}`, config.loginRatePerIp)
    await limit(deps, `login:account:${accountKey(normalized)}`, config.loginRatePerAccount)
  } catch (error) {
    // Logged only: a flood of refused attempts must not become a flood of writes.
    if (refused === 'login_failed') metrics.logins.inc({ outcome: 'rate_limited' })
    deps.audit(refused, {
      ...(client.requestId === undefined ? {} : { reqId: client.requestId }),
      reason: 'rate_limited',
      ip: client.ip,
    })
    throw error
  }
}

/** Counts, audits and throws a refused login. */
async function refuseLogin(
  deps: ServiceDeps,
  client: ClientInfo,
  refusal: { outcome: string; reason: string; userId: number | null },
): Promise<never> {
  deps.ctx.metrics.logins.inc({ outcome: refusal.outcome })
  // A failed login's unit of work is just its audit event.
  await deps.work.run((tx) =>
    tx.audit(audited('login_failed', refusal.userId, client, { reason: refusal.reason })),
  )
  throw refusal.outcome === 'disabled' ? new ServiceError('account_disabled') : invalidCredentials()
}

/** The user whose password `body` proves, or a refusal (counted and audited). */
async function authenticate(
  deps: ServiceDeps,
  body: Credentials,
  normalized: string,
  client: ClientInfo,
): Promise<{ user: UserRecord; needsRehash: boolean }> {
  const refuse = (outcome: string, reason: string, userId: number | null): Promise<never> =>
    refuseLogin(deps, client, { outcome, reason, userId })
  const user = normalized === '' ? undefined : await deps.ctx.stores.users.getByUsername(normalized)
  if (user === undefined) {
    // Same work as a real check, so timing does not tell which usernames exist.
    await verifyAgainstDummy(body.password, OWASP_ARGON2ID, companion(deps))
    return refuse('invalid_credentials', 'unknown_user', null)
  }
  const check = await verifyPassword(user.passwordHash, body.password, OWASP_ARGON2ID, companion(deps))
  if (!check.ok) return refuse('invalid_credentials', 'wrong_password', user.id)
  if (user.disabled) return refuse('disabled', 'disabled', user.id)
  return { user, needsRehash: check.needsRehash }
}

/** A refused login's outcome (metrics) and reason (audit). */
type Refusal = { outcome: string; reason: string }

/**
 * The user as they are when their session is opened, read under a lock (`getLocked`), against the one
 * whose password was verified: the check takes tens of milliseconds, and an admin's demotion, disabling
 * or deletion, a password change, or another login's rehash may commit meanwhile.
 */
function stillValid(
  checkedHash: string,
  current: UserRecord | undefined,
): { user: UserRecord } | { refused: Refusal } | { hashChanged: string } {
  if (current === undefined) return { refused: { outcome: 'invalid_credentials', reason: 'unknown_user' } }
  if (current.disabled) return { refused: { outcome: 'disabled', reason: 'disabled' } }
  // Another hash now: a password change, or another login's rehash of the same password. Told apart by
  // checking the password against it once more, outside the transaction.
  if (current.passwordHash !== checkedHash) return { hashChanged: current.passwordHash }
  return { user: current }
}

/** Checks a password and opens a session (see {@link AuthService.login}). */
export async function login(deps: ServiceDeps, body: Credentials, client: ClientInfo): Promise<IssuedTokens> {
  const normalized = typeof body.username === 'string' ? normalizeUsername(body.username) : ''
  await limitGuesses(deps, normalized, client, 'login_failed')
  const { user, needsRehash } = await authenticate(deps, body, normalized, client)
  // The old hash (other argon2 parameters, or an imported foreign one) is replaced in the
  // transaction that creates the session: both happen, or neither.
  let rehashed = needsRehash ? await rehashPassword(body.password) : undefined
  let checkedHash = user.passwordHash
  await afterUserRevocation(deps, user.id)
  for (let attempt = 0; ; attempt++) {
    const hash = checkedHash
    const issued = await deps.work.run(async (tx) => {
      // Read again where the session is written: the tokens carry the roles of now, not of the read
      // before the password check (a demotion in between would otherwise live on in them).
      const now = stillValid(hash, await tx.users.getLocked(user.id))
      if (!('user' in now)) return now
      let current = now.user
      if (rehashed !== undefined) {
        current = (await tx.users.update(user.id, { passwordHash: rehashed })) ?? current
        await tx.audit(audited('password_rehashed', user.id, client, { from: hashScheme(user.passwordHash) }))
      }
      await tx.audit(audited('login', user.id, client))
      return issue(deps, tx, current, client, true)
    })
    if ('refused' in issued) return refuseLogin(deps, client, { ...issued.refused, userId: user.id })
    if (!('hashChanged' in issued)) {
      deps.ctx.metrics.logins.inc({ outcome: 'success' })
      return issued
    }
    const again =
      attempt === 0
        ? await verifyPassword(issued.hashChanged, body.password, OWASP_ARGON2ID, companion(deps))
        : undefined
    if (again?.ok !== true) {
      return refuseLogin(deps, client, {
        outcome: 'invalid_credentials',
        reason: 'password_changed',
        userId: user.id,
      })
    }
    // The same password under a new hash (another login rehashed it): nothing left to rehash.
    checkedHash = issued.hashChanged
    rehashed = undefined
  }
}

/** Changes the caller's password and ends their other sessions (see {@link AuthService.changePassword}). */
export async function changePassword(
  deps: ServiceDeps,
  { token, client }: Caller,
  change: { currentPassword: string; newPassword: string },
): Promise<void> {
  const userId = userIdOf(token)
  const user = userId === undefined ? undefined : await deps.ctx.stores.users.get(userId)
  if (user === undefined) throw invalidCredentials()
  await limitGuesses(deps, user.usernameNormalized, client, 'password_change_failed')
  const check = await verifyPassword(user.passwordHash, change.currentPassword)
  if (!check.ok) {
    await deps.work.run((tx) => tx.audit(audited('password_change_failed', user.id, client)))
    throw invalidCredentials()
  }
  const passwordHash = await strongPasswordHash(
    deps,
    'new_password',
    change.newPassword,
    user.usernameNormalized,
  )
  const sessionId = typeof token.sid === 'string' ? token.sid : undefined
  await deps.work.run(async (tx) => {
    await tx.users.update(user.id, { passwordHash })
    // The caller's token is a Tessera one (a legacy token is never fresh): every legacy token is another's.
    await endLegacyTokens(deps, tx, user.id)
    const ended = await endSessions(deps, tx, user.id, 'password_change', sessionId)
    await tx.audit(audited('password_changed', user.id, client, { sessions_revoked: ended }))
  })
}

/** The scheme of a stored hash, for the audit log (never the hash itself). */
function hashScheme(stored: string): string {
  return (
    /^\$(argon2id|argon2i|argon2d|pbkdf2-sha256|pbkdf2-sha512|2[aby])\$/.exec(stored)?.[1] ??
    /^(pbkdf2:sha256|pbkdf2:sha512|scrypt):/.exec(stored)?.[1] ??
    'unknown'
  )
}
