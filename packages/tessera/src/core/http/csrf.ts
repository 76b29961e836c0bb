/**
 * CSRF defences for tokens carried by cookies, which a browser attaches to cross-site requests too:
 * the double-submit check (the `X-CSRF-TOKEN` header must equal the token's `csrf` claim, which a
 * cross-site page cannot read) and an optional `Origin` / `Sec-Fetch-Site` check.
 */
import { timingSafeEqual } from 'node:crypto'
import {
  CsrfMismatchError,
  CsrfMissingError,
  CsrfOriginRejectedError,
  FreshTokenRequiredError,
  TokenClaimMissingError,
  TokenRevokedError,
  TokenWrongTypeError,
  type TokenError,
  type VerifiedTokenError,
} from '../errors.js'
import type { JwtClaims, VerifiedToken } from '../types.js'
import type { ResolvedCsrfNames, ResolvedCsrfOptions } from './options.js'
import type { HttpIO } from './types.js'

/**
 * Compares two strings in time independent of where they differ. Only the length can leak, and CSRF
 * values have a fixed length anyway.
 */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

/**
 * The double-submit value sent with the request, read with the names of the token type the route
 * accepts; throws `csrf_missing` naming the header when absent.
 */
export function readCsrfValue<Req>(
  io: HttpIO<Req, never>,
  req: Req,
  csrf: ResolvedCsrfOptions,
  names: ResolvedCsrfNames,
): string {
  const header = io.header(req, names.headerKey)
  if (header !== undefined && header !== '') return header
  if (csrf.checkForm) {
    const body = io.body(req)
    if (typeof body === 'object' && body !== null && Object.hasOwn(body, names.fieldName)) {
      const field = (body as Record<string, unknown>)[names.fieldName]
      if (typeof field === 'string' && field !== '') return field
    }
  }
  const form = csrf.checkForm ? ` or the ${names.fieldName} field` : ''
  throw new CsrfMissingError(
    `Missing CSRF token: send the ${names.headerName} header${form}`,
    names.headerName,
  )
}

/** Whether `sent` equals the `csrf` claim, in constant time; a token without the claim matches nothing. */
function matchesClaim(claims: JwtClaims, sent: string): boolean {
  const expected = claims.csrf
  return typeof expected === 'string' && safeEqual(sent, expected)
}

/**
 * `csrf_mismatch` for a value read by {@link readCsrfValue}, naming where it was read: the header when the
 * request carries one (it is read first), else the form field. Under the flask-jwt-extended preset
 * (`flask`), a token without a `csrf` claim is `token_claim_missing` instead, as flask-jwt-extended's
 * `_decode_jwt` raises `JWTDecodeError("Missing claim: csrf")` (422). Worked out on refusals only.
 */
function mismatch<Req>(
  io: HttpIO<Req, never>,
  req: Req,
  token: Pick<VerifiedToken<unknown>, 'header' | 'claims'>,
  names: ResolvedCsrfNames,
  flask: boolean,
): CsrfMismatchError | TokenClaimMissingError {
  if (flask && typeof token.claims.csrf !== 'string')
    return new TokenClaimMissingError('csrf', token.header, token.claims)
  const header = io.header(req, names.headerKey)
  const source =
    header === undefined || header === '' ? `${names.fieldName} form field` : `${names.headerName} header`
  return new CsrfMismatchError(
    `The ${source} does not match the token's CSRF value`,
    token.header,
    token.claims,
    names.headerName,
  )
}

/**
 * Checks the value sent against the token's `csrf` claim; throws `csrf_mismatch` naming where the value
 * was read (the header, or the form field when the header was absent), or under the flask-jwt-extended
 * preset `token_claim_missing` for a token without the claim.
 */
export function checkCsrfClaim<Req>(
  io: HttpIO<Req, never>,
  req: Req,
  token: VerifiedToken<unknown>,
  sent: string,
  names: ResolvedCsrfNames,
  flask: boolean,
): void {
  if (!matchesClaim(token.claims, sent)) throw mismatch(io, req, token, names, flask)
}

/**
 * The refusal of a cookie request that sent the CSRF value `sent` and whose token the engine refused:
 * `csrf_mismatch` instead, when the value is wrong and the refusal is one a request must show the value
 * to learn. By default that is a revocation (the revocation store's answer): the server's state, which
 * the token does not carry, so a request without the value (a forged one, or one made with a stolen
 * cookie alone) cannot learn whether a token was revoked; a wrong type or a stale token is written in
 * the token itself and keeps its place, the type first whatever the token's age (claims.ts). With
 * `flask` (the flask-jwt-extended preset) the order is flask-jwt-extended's: `_decode_jwt` compares the
 * value after PyJWT's checks and before `verify_token_type`, the freshness check and the blocklist
 * (view_decorators.py `_decode_jwt_from_request`), so a wrong type and a stale token yield to it too.
 * The claims compared are authentic: these refusals come after the signature and the other claims were
 * checked (for a wrong type under the preset, `flaskRefusal` has already put a claim refused before it
 * first). Called on refusals only.
 */
export function csrfBeforeRefusal<Req>(
  io: HttpIO<Req, never>,
  req: Req,
  error: TokenError,
  sent: string,
  names: ResolvedCsrfNames,
  flask: boolean,
): TokenError {
  return yieldsToCsrf(error, flask) && !matchesClaim(error.claims, sent)
    ? mismatch(io, req, error, names, flask)
    : error
}

/** Whether `error` is a refusal a wrong CSRF value comes before (see {@link csrfBeforeRefusal}). */
function yieldsToCsrf(error: TokenError, flask: boolean): error is VerifiedTokenError {
  if (error instanceof TokenRevokedError) return true
  return flask && (error instanceof TokenWrongTypeError || error instanceof FreshTokenRequiredError)
}

/**
 * Checks a double-submit value against a verified token's `csrf` claim, in constant time: the CSRF half
 * of flask-jwt-extended's `decode_token(token, csrf_value)`, for a token read outside a guard (a
 * WebSocket upgrade, a hand-written check). Guards and `verifyRequest` check cookie requests themselves.
 * Throws `csrf_missing` when `value` is not a non-empty string (flask skips the check then; a request
 * without the value is refused here, as the guards refuse it), and `csrf_mismatch` when it differs from
 * the claim or the token has none (flask: `Missing claim: csrf`). Read no header: the errors' messages
 * speak of the value given (its kind when it is not a string, never its content) and their `headerName`
 * is `undefined`.
 *
 * @example
 * const verified = await auth.verify(token, { type: 'any' })
 * checkCsrfValue(verified, request.headers['x-csrf-token'])
 */
export function checkCsrfValue(token: VerifiedToken<unknown>, value: unknown): void {
  if (typeof value !== 'string' || value === '') {
    throw new CsrfMissingError(`Missing CSRF token: checkCsrfValue was given ${kindOf(value)}`)
  }
  if (!matchesClaim(token.claims, value)) {
    throw new CsrfMismatchError(
      typeof token.claims.csrf === 'string'
        ? "The CSRF value given to checkCsrfValue does not match the token's csrf claim"
        : 'The token has no csrf claim to check the CSRF value given to checkCsrfValue against (create it with csrf: true)',
      token.header,
      token.claims,
    )
  }
}

// What was given instead of a double-submit value, by its kind only: the value may be a secret (a
// whole Cookie header, a token) and is never echoed.
function kindOf(value: unknown): string {
  if (value === undefined || value === null) return String(value)
  if (value === '') return 'an empty string'
  if (Array.isArray(value)) return 'an array (a value sent more than once?)'
  const type = typeof value
  return `${type === 'object' ? 'an' : 'a'} ${type}, not a string`
}

/**
 * Refuses a request a browser marks as sent by another site. `Sec-Fetch-Site: same-origin` is trusted
 * (scripts cannot forge it); otherwise an `Origin` must be this server's or a trusted one. Requests with
 * neither header do not come from a current browser's cross-site form or script, so they pass.
 */
export function checkOrigin<Req>(io: HttpIO<Req, never>, req: Req, csrf: ResolvedCsrfOptions): void {
  const site = io.header(req, 'sec-fetch-site')
  if (site === 'same-origin') return
  const origin = io.header(req, 'origin')
  if (origin !== undefined) {
    if (csrf.trustedOrigins.has(origin)) return
    const host = io.host(req)
    if (host !== undefined && origin === `${io.protocol(req)}://${host}`) return
    const own = host === undefined ? undefined : `${io.protocol(req)}://${host}`
    throw new CsrfOriginRejectedError(originRefused(origin, own, csrf.trustedOrigins.size))
  }
  if (site === undefined || site === 'none') return
  throw new CsrfOriginRejectedError(`Cross-site request refused (Sec-Fetch-Site: ${site})`)
}

// Longest Origin echoed in a message: a real one is scheme://host[:port]; the rest is cut.
const ORIGIN_SHOWN = 100

/**
 * What a developer needs to see why an Origin was refused: the request's Origin (the client's own
 * value, cut short), this server's origin as the request shows it (its protocol and Host: behind a
 * proxy, what the app sees), and how many origins are trusted besides, not which: the list would tell
 * any site which origins to take over.
 */
function originRefused(origin: string, own: string | undefined, trusted: number): string {
  const shown = origin.length > ORIGIN_SHOWN ? `${origin.slice(0, ORIGIN_SHOWN)}…` : origin
  const self = `this server's origin (${own ?? 'unknown: the request has no Host'})`
  const text =
    trusted === 0
      ? `Origin ${shown} is not ${self}, and no other origin is trusted`
      : `Origin ${shown} is neither ${self} nor ${trusted === 1 ? 'the trusted origin' : `one of the ${trusted} trusted origins`}`
  // The browser's https origin seen as http: a TLS-terminating proxy the app does not trust, so it
  // reads neither X-Forwarded-Proto nor the host the browser used (Fastify trustProxy, Express "trust proxy").
  const proxied =
    own !== undefined && origin.startsWith('https://') && own === `http://${origin.slice('https://'.length)}`
      ? ': behind a TLS-terminating proxy, trust the proxy so the app sees https'
      : ''
  return `Cross-site request refused: ${text}${proxied}`
}
