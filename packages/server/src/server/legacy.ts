/**
 * The previous system's tokens during a migration (docs/migrating-from-flask.md): flask-jwt-extended
 * HS256 tokens signed with the old app's secret (`TESSERA_LEGACY_HS_SECRET`), honoured until
 * `TESSERA_LEGACY_UNTIL`.
 *
 * Additive, never a weaker main path: protected routes run the server's own engine first, unchanged.
 * Only a token it refused, whose header says HS256 and names no `kid` (Tessera always writes one), is
 * tried here, with the legacy secret alone: never a key of the server's ring, so an HS256 token signed
 * with a public key as the secret verifies nowhere (alg confusion). A legacy signature that does not
 * verify leaves the main engine's own refusal standing.
 *
 * Legacy rules (flask-jwt-extended 4.x): `alg` HS256, identity in `sub` (or 3.x's `identity`), `type`
 * access or refresh, `jti`, `exp` required, `nbf` / `iat` honoured, `fresh` and `csrf` optional. The
 * identity maps to the imported user through `legacy_identities` (exactly, case included: Flask's
 * "Alice" and "alice" were two users). An access token is accepted until its own `exp` while the
 * window is open and its `jti` is not revoked (the imported `revoked_tokens` are); a refresh token is
 * only good for one exchange (service/legacy-exchange.ts).
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import {
  FreshTokenRequiredError,
  TokenClaimInvalidError,
  TokenClaimMissingError,
  TokenError,
  TokenExpiredError,
  TokenNotYetValidError,
  TokenRevokedError,
  TokenWrongTypeError,
  UserNotFoundError,
  refusingVerify,
  throwingVerify,
  type JwtClaims,
  type JwtHeader,
  type RefusingVerify,
  type Tessera,
  type VerifiedToken,
  type VerifyOptions,
} from 'tessera'
import type { Kysely } from 'kysely'
import type { TesseraDatabase } from '../stores/sql/schema.js'
import type { UserRecord } from '../stores/sql/users.js'
import type { ServerConfig } from './config.js'
import type { ServerContext } from './context.js'
import { ServiceError } from './errors.js'
import { LEGACY_SUBJECT_PREFIX, legacySubject } from './revocations.js'

/** What a legacy token carried, kept beside the Tessera-shaped claims the routes see. */
export interface LegacyToken {
  /** The old identity (`sub` or `identity`), exactly as signed. */
  identity: string
  userId: number
  jti: string
  exp: number
  /** Its `iat`, when it has one (the revocations of all the user's legacy tokens compare it). */
  iat: number | undefined
  type: 'access' | 'refresh'
}

// Claims objects the legacy path made: a route can tell them apart without trusting token content.
const LEGACY = new WeakMap<object, LegacyToken>()

/** The legacy token behind verified claims, or `undefined` for the server's own tokens. */
export function legacyTokenOf(claims: object): LegacyToken | undefined {
  return LEGACY.get(claims)
}

const SEGMENT = /^[A-Za-z0-9_-]+$/
const MAX_TOKEN_LENGTH = 8192
const REFUSED_HEADER_PARAMETERS = ['jwk', 'jku', 'x5u', 'x5c', 'crit', 'b64', 'kid']

interface Parsed {
  header: JwtHeader
  payload: Record<string, unknown>
  /**
   * The payload as the claims the token errors carry: what the token said, unchecked (the core's
   * errors carry the same, claims.ts).
   */
  claims: JwtClaims
  signingInput: string
  signature: string
}

/**
 * Header segments already judged not to be a legacy candidate (every token of the server's own, whose
 * header names its `kid`): a refused token with one of them costs a set lookup here instead of a
 * base64 decode and a JSON parse. Bounded: cleared when full, as the core's header cache is.
 */
const NOT_CANDIDATES = new Set<string>()
const NOT_CANDIDATES_LIMIT = 1024
/** Longest header segment remembered (a Tessera header is about 100 characters). */
const LONGEST_REMEMBERED = 512

/** The header when it says HS256 without a kid (or any other refused parameter), else undefined. */
function candidateHeader(segment: string): Record<string, unknown> | undefined {
  if (NOT_CANDIDATES.has(segment) || !SEGMENT.test(segment)) return undefined
  const header = json(segment)
  if (
    header?.alg === 'HS256' &&
    !REFUSED_HEADER_PARAMETERS.some((name) => name in header) &&
    (header.typ === undefined || header.typ === 'JWT')
  )
    return header
  if (segment.length <= LONGEST_REMEMBERED) {
    if (NOT_CANDIDATES.size >= NOT_CANDIDATES_LIMIT) NOT_CANDIDATES.clear()
    // A copy: the slice would keep the whole refused token alive.
    NOT_CANDIDATES.add(Buffer.from(segment, 'latin1').toString('latin1'))
  }
  return undefined
}

/** Header says HS256 without a kid: the only tokens this path ever looks at. */
function parseCandidate(token: unknown): Parsed | undefined {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return undefined
  const dot = token.indexOf('.')
  if (dot < 0) return undefined
  const header = candidateHeader(token.slice(0, dot))
  if (header === undefined) return undefined
  const parts = token.split('.')
  if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p))) return undefined
  const [h = '', p = '', signature = ''] = parts
  const payload = json(p)
  if (payload === undefined) return undefined
  return {
    header: header as JwtHeader,
    payload,
    claims: payload as JwtClaims,
    signingInput: `${h}.${p}`,
    signature,
  }
}

/**
 * A segment's JSON object, deeply frozen (the reviver freezes every object and array as it is made),
 * as the core's verified header and claims are: routes and error handlers get read-only values here too.
 */
function json(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'), frozen)
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

function frozen(_key: string, value: unknown): unknown {
  return typeof value === 'object' && value !== null ? Object.freeze(value) : value
}

/** HMAC-SHA256 with the legacy secret (node:crypto), compared in constant time. */
function signatureHolds(parsed: Parsed, secret: Buffer): boolean {
  const expected = createHmac('sha256', secret).update(parsed.signingInput).digest()
  const actual = Buffer.from(parsed.signature, 'base64url')
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

// A flask-jwt-extended token by its shape (used only to name the refusal once the window is closed).
function looksLikeFlask(payload: Record<string, unknown>): boolean {
  return (
    (payload.type === 'access' || payload.type === 'refresh') &&
    typeof payload.jti === 'string' &&
    (payload.sub !== undefined || payload.identity !== undefined) &&
    payload.sid === undefined
  )
}

/** The claims of a legacy token that passed {@link checkLegacyClaims}. */
interface CheckedLegacyClaims {
  identity: string
  type: 'access' | 'refresh'
  jti: string
  exp: number
  iat: number | undefined
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0

/** Checks flask-jwt-extended's claims (after the signature held); throws Tessera's token errors. */
function checkLegacyClaims(
  parsed: Parsed,
  want: 'access' | 'refresh' | 'any',
  leeway: number,
  now: number,
): CheckedLegacyClaims {
  const { header, payload, claims } = parsed
  const { exp, nbf, iat, jti, type } = payload
  if (exp === undefined) throw new TokenClaimMissingError('exp', header, claims)
  if (!isTime(exp))
    throw new TokenClaimInvalidError('exp', 'The "exp" claim is not a NumericDate', header, claims)
  if (nbf !== undefined && !isTime(nbf))
    throw new TokenClaimInvalidError('nbf', 'The "nbf" claim is not a NumericDate', header, claims)
  if (iat !== undefined && !isTime(iat))
    throw new TokenClaimInvalidError('iat', 'The "iat" claim is not a NumericDate', header, claims)
  const raw = payload.sub ?? payload.identity
  if (raw === undefined) throw new TokenClaimMissingError('sub', header, claims)
  // flask-jwt-extended 3.x allowed any JSON identity; a number (a user id) is read as its text.
  const identity = typeof raw === 'number' && Number.isSafeInteger(raw) ? String(raw) : raw
  if (typeof identity !== 'string' || identity === '')
    throw new TokenClaimInvalidError('sub', 'The identity claim is not a non-empty string', header, claims)
  if (typeof jti !== 'string' || jti === '') throw new TokenClaimMissingError('jti', header, claims)
  if (type !== 'access' && type !== 'refresh')
    throw new TokenClaimInvalidError(
      'type',
      'The "type" claim is neither "access" nor "refresh"',
      header,
      claims,
    )
  if (want !== 'any' && type !== want)
    throw new TokenWrongTypeError(
      want === 'access' ? 'Only access tokens are accepted here' : 'Only refresh tokens are accepted here',
      header,
      claims,
    )
  if (now >= exp + leeway) throw new TokenExpiredError('The token has expired', header, claims)
  // As the engine (core/claims.ts): dates ahead of this clock pass within at least one second, the
  // issuer's whole second on a clock that is never quite this one.
  const ahead = now + Math.max(leeway, 1)
  if (nbf !== undefined && ahead < nbf)
    throw new TokenNotYetValidError('The token is not valid yet (nbf)', header, claims)
  if (iat !== undefined && ahead < iat)
    throw new TokenNotYetValidError('The token was issued in the future (iat)', header, claims)
  return { identity, type, jti, exp, iat }
}

/** The refusal of a legacy token outside the window (or with no window configured). */
function legacyWindowClosed(configured: boolean): ServiceError {
  return new ServiceError(
    'legacy_token_expired',
    configured
      ? 'Tokens of the previous system are no longer accepted (the legacy window is closed): log in again'
      : 'Tokens of the previous system are not accepted here: log in again',
  )
}

/**
 * Whether the legacy window is open at `now` (Unix seconds): a legacy secret and an end still ahead. The
 * one rule for accepting old tokens, ending them (service/deps.ts) and keeping their ends (context.ts).
 */
export function legacyWindowOpen(
  config: Pick<ServerConfig, 'legacyHsSecret' | 'legacyUntil'>,
  now = Date.now() / 1000,
): boolean {
  const { legacyHsSecret, legacyUntil } = config
  return (
    legacyHsSecret !== undefined && legacyHsSecret !== '' && legacyUntil !== undefined && now < legacyUntil
  )
}

type LegacyKind = 'exchange' | 'access'

function count(ctx: ServerContext, kind: LegacyKind, outcome: string): void {
  ctx.metrics.legacyTokens.inc({ kind, outcome })
}

/** The imported user a legacy identity maps to (exactly, case included), if any. */
async function importedUser(ctx: ServerContext, identity: string): Promise<UserRecord | undefined> {
  const row = await ctx.stores.db
    .selectFrom('legacy_identities')
    .select('user_id')
    .where('identity', '=', identity)
    .executeTakeFirst()
  return row === undefined ? undefined : ctx.stores.users.get(row.user_id)
}

/**
 * Whether a legacy access token is revoked: the imported revoked jtis, logouts made since, user-wide
 * revocations (disable, delete), and the ends of all the user's legacy tokens (a logout everywhere, a
 * password change). The database too: jtis imported while this instance ran are not in its replica yet.
 */
async function legacyAccessRevoked(
  ctx: ServerContext,
  checked: CheckedLegacyClaims,
  userId: number,
): Promise<boolean> {
  const { jti, iat } = checked
  if (ctx.revocation.isRevoked({ jti, sub: String(userId), iat })) return true
  if (ctx.revocation.isRevoked({ sub: legacySubject(userId), iat })) return true
  const row = await ctx.stores.db
    .selectFrom('revocations')
    .select('id')
    .where('kind', '=', 'token')
    .where('id', '=', checked.jti)
    .executeTakeFirst()
  return row !== undefined
}

/**
 * The claims the routes see: Tessera's shape (sub = user id), never the old app's csrf or fresh. `iat`
 * only when the token had one, as the core's claims of a token without `iat`.
 */
function legacyClaims(checked: CheckedLegacyClaims, user: UserRecord): JwtClaims {
  const claims: Omit<JwtClaims, 'iat'> & { iat?: number } = {
    sub: String(user.id),
    jti: checked.jti,
    exp: checked.exp,
    ...(checked.iat === undefined ? {} : { iat: checked.iat }),
    type: checked.type,
    fresh: false,
    username: user.username,
    roles: Object.freeze([...user.roles]),
    legacy: true,
  }
  return claims as JwtClaims
}

/** Verifies a legacy token whose signature held, inside the window: claims, user, revocation. */
async function verifyLegacy<C>(
  ctx: ServerContext,
  parsed: Parsed,
  opts: VerifyOptions | undefined,
  leeway: number,
): Promise<VerifiedToken<C>> {
  const want = opts?.type ?? 'access'
  const kind = want === 'refresh' ? 'exchange' : 'access'
  const refused = (error: unknown): unknown => {
    count(ctx, kind, 'refused')
    return error
  }
  let checked: CheckedLegacyClaims
  try {
    checked = checkLegacyClaims(parsed, want, leeway, Date.now() / 1000)
  } catch (error) {
    throw refused(error)
  }
  const { header, claims: raw } = parsed
  // Never fresh: a route that needs a password login (a password change) needs a Tessera one.
  if (opts?.fresh === true)
    throw refused(new FreshTokenRequiredError('A fresh token is required (log in again)', header, raw))
  const user = await importedUser(ctx, checked.identity)
  if (user === undefined)
    throw refused(new UserNotFoundError('No imported user matches this legacy token', header, raw))
  if (user.disabled) throw refused(new TokenRevokedError('The user of this token is disabled', header, raw))
  const claims = legacyClaims(checked, user)
  if (
    checked.type === 'access' &&
    opts?.skipRevocationCheck !== true &&
    (await legacyAccessRevoked(ctx, checked, user.id))
  ) {
    count(ctx, kind, 'revoked')
    throw new TokenRevokedError('The token has been revoked', header, claims)
  }
  // A refresh token's revocation (imported list, already exchanged, the user's old tokens ended) is
  // decided by the exchange, in its transaction: a second presentation gets the rotation rule of the
  // session the first one opened (grace or reuse).
  LEGACY.set(claims, {
    identity: checked.identity,
    userId: user.id,
    jti: checked.jti,
    exp: checked.exp,
    iat: checked.iat,
    type: checked.type,
  })
  if (checked.type === 'access') count(ctx, 'access', 'accepted')
  // The caller's C is its assertion about the claims, as with the core's verify.
  return { header, claims: Object.freeze(claims) as JwtClaims<C>, identity: claims.sub }
}

/**
 * What the legacy path makes of a token the main engine refused with `refusal`: that refusal (returned,
 * not thrown: see `refusingVerify`) unless the token is an HS256 one the legacy secret signed, then the
 * window's answer.
 */
function legacyFallback<C>(
  ctx: ServerContext,
  secret: Buffer | undefined,
  refusal: TokenError,
  token: unknown,
  opts: VerifyOptions | undefined,
): TokenError | Promise<VerifiedToken<C> | TokenError> {
  const parsed = parseCandidate(token)
  if (parsed === undefined) return refusal
  const kind = opts?.type === 'refresh' ? 'exchange' : 'access'
  if (secret === undefined) {
    if (!looksLikeFlask(parsed.payload)) return refusal
    count(ctx, kind, 'window_closed')
    throw legacyWindowClosed(false)
  }
  // Only the legacy secret: a token it did not sign keeps the main engine's answer.
  if (!signatureHolds(parsed, secret)) return refusal
  if (!legacyWindowOpen(ctx.config)) {
    count(ctx, kind, 'window_closed')
    throw legacyWindowClosed(true)
  }
  return verifyLegacy<C>(ctx, parsed, opts, ctx.auth.config.leeway).catch(asRefusal)
}

const asRefusal = (error: unknown): TokenError => {
  if (error instanceof TokenError) return error
  throw error
}

/**
 * The engine the protected routes use: the server's own, plus the legacy path for what it refused.
 * Every other member is the server's engine itself. Built on the engine's refusing verifier, so a
 * refused token of the server's own costs no thrown exception (the adapter answers the value).
 */
export function legacyAwareAuth(ctx: ServerContext): Tessera {
  const auth = ctx.auth
  const { legacyHsSecret } = ctx.config
  const secret =
    legacyHsSecret === undefined || legacyHsSecret === '' ? undefined : Buffer.from(legacyHsSecret, 'utf8')
  const own = refusingVerify(auth)

  const verify: RefusingVerify = (token, opts) => {
    const answer = own(token, opts)
    if (answer instanceof TokenError) return legacyFallback(ctx, secret, answer, token, opts)
    if (answer instanceof Promise) {
      return answer.then((settled) =>
        settled instanceof TokenError ? legacyFallback(ctx, secret, settled, token, opts) : settled,
      )
    }
    return answer
  }
  const verifyInline = throwingVerify(verify)

  return {
    ...auth,
    verifyInline,
    verify: async <C>(token: string, opts?: VerifyOptions) => verifyInline<C>(token, opts),
  }
}

/**
 * Keeps the ends of users' legacy tokens (`legacy:<id>` entries: a logout everywhere, a password change)
 * until `expiresAt` where they would lapse earlier: written under an earlier `TESSERA_LEGACY_UNTIL`, they
 * would let the user's old tokens back in once the window is extended. Run at start, before the replica
 * is filled; returns how many were extended.
 */
export async function keepLegacyEnds(db: Kysely<TesseraDatabase>, expiresAt: number): Promise<number> {
  const result = await db
    .updateTable('revocations')
    .set({ expires_at: expiresAt })
    .where('kind', '=', 'user')
    .where('id', 'like', `${LEGACY_SUBJECT_PREFIX}%`)
    .where('expires_at', '<', expiresAt)
    .executeTakeFirst()
  return Number(result.numUpdatedRows)
}
