/**
 * CSRF defences for tokens carried by cookies, which a browser attaches to cross-site requests too:
 * the double-submit check (the `X-CSRF-TOKEN` header must equal the token's `csrf` claim, which a
 * cross-site page cannot read) and an optional `Origin` / `Sec-Fetch-Site` check.
 */
import { timingSafeEqual } from 'node:crypto'
import { CsrfMismatchError, CsrfMissingError, CsrfOriginRejectedError } from '../errors.js'
import type { VerifiedToken } from '../types.js'
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

/** Checks the value sent against the token's `csrf` claim; throws `csrf_mismatch` naming the header. */
export function checkCsrfClaim(token: VerifiedToken<unknown>, sent: string, names: ResolvedCsrfNames): void {
  const expected = token.claims.csrf
  if (typeof expected !== 'string' || !safeEqual(sent, expected)) {
    throw new CsrfMismatchError(
      `The ${names.headerName} header does not match the token's CSRF value`,
      token.header,
      token.claims,
      names.headerName,
    )
  }
}

/**
 * Checks a double-submit value against a verified token's `csrf` claim, in constant time: the CSRF half
 * of flask-jwt-extended's `decode_token(token, csrf_value)`, for a token read outside a guard (a
 * WebSocket upgrade, a hand-written check). Guards and `verifyRequest` check cookie requests themselves.
 * Throws `csrf_missing` when `value` is not a non-empty string (flask skips the check then; a request
 * without the value is refused here, as the guards refuse it), and `csrf_mismatch` when it differs from
 * the claim or the token has none (flask: `Missing claim: csrf`).
 *
 * @example
 * const verified = await auth.verify(token, { type: 'any' })
 * checkCsrfValue(verified, request.headers['x-csrf-token'])
 */
export function checkCsrfValue(token: VerifiedToken<unknown>, value: unknown): void {
  if (typeof value !== 'string' || value === '') {
    throw new CsrfMissingError('Missing CSRF token: no double-submit value to check')
  }
  const expected = token.claims.csrf
  if (typeof expected !== 'string' || !safeEqual(value, expected)) {
    throw new CsrfMismatchError(
      "The double-submit value does not match the token's CSRF value",
      token.header,
      token.claims,
    )
  }
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
