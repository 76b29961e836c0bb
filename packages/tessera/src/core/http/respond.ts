/**
 * One mapping from a {@link TesseraError} to an HTTP answer for both adapters: status, JSON body
 * `{ "error": code, "message": text }` and the RFC 6750 §3 `WWW-Authenticate` challenge, with per-code
 * formatter hooks and the flask-jwt-extended compatibility preset.
 */
import { checkClaims, configuredRules } from '../claims.js'
import type { ResolvedConfig } from '../config.js'
import {
  ConfigurationError,
  errorStatus,
  isTesseraError,
  TokenError,
  TokenWrongTypeError,
  wwwAuthenticate,
  type AnyTesseraError,
  type TesseraErrorCode,
} from '../errors.js'
import type { ErrorFormatter, ErrorResponse } from './types.js'
import { bool, fn, name, optionalStr, section } from '../validate.js'

/** One formatter per code, each typed with its own error class. */
export type ErrorFormatters = {
  [K in TesseraErrorCode]?: ErrorFormatter<Extract<AnyTesseraError, { code: K }>>
}

/** How failures are answered. */
export interface ErrorOptions {
  /**
   * Answer failures from the middleware. `false` hands the error to the framework instead (Fastify's
   * error handler, Express's `next(err)`), its `status` set to the configured one (`status` below).
   * @default true
   */
  respond?: boolean | undefined
  /** Body key of the message (`JWT_ERROR_MESSAGE_KEY`). @default 'message' ('msg' with the flask preset) */
  messageKey?: string | undefined
  /** Body key of the code, or `false` for none. @default 'error' (false with the flask preset) */
  codeKey?: string | false | undefined
  /** Status per code, over the defaults (and the preset). */
  status?: Partial<Record<TesseraErrorCode, number>> | undefined
  /** `realm` of the `WWW-Authenticate` challenge. */
  realm?: string | undefined
  /** One formatter per error code: the counterparts of flask-jwt-extended's response loaders. */
  formatters?: ErrorFormatters | undefined
  /** Formatter for every code without its own. */
  format?: ErrorFormatter | undefined
}

/** Error options after validation. */
export interface ResolvedErrorOptions {
  readonly respond: boolean
  readonly messageKey: string
  readonly codeKey: string | undefined
  readonly status: Readonly<Record<TesseraErrorCode, number>>
  readonly realm: string | undefined
  readonly formatters: Readonly<Partial<Record<TesseraErrorCode, ErrorFormatter>>>
  readonly format: ErrorFormatter | undefined
  readonly flask: boolean
}

// flask-jwt-extended's invalid_token_callback answers 422 for every decode failure, and its
// token_verification_failed_callback 400 (flask_jwt_extended/default_callbacks.py).
const FLASK_STATUS: Partial<Record<TesseraErrorCode, number>> = {
  token_malformed: 422,
  token_algorithm_rejected: 422,
  token_header_rejected: 422,
  token_unknown_key: 422,
  token_invalid_signature: 422,
  token_not_yet_valid: 422,
  token_claim_missing: 422,
  token_claim_invalid: 422,
  token_lifetime_exceeded: 422,
  token_wrong_type: 422,
  token_wrong_audience: 422,
  token_wrong_issuer: 422,
  claims_verification_failed: 400,
}

// flask-jwt-extended's fixed messages, for clients that match on them.
const FLASK_MESSAGES: Partial<Record<TesseraErrorCode, string>> = {
  token_expired: 'Token has expired',
  token_revoked: 'Token has been revoked',
  fresh_token_required: 'Fresh token required',
  csrf_missing: 'Missing CSRF token',
  csrf_mismatch: 'CSRF double submit tokens do not match',
  claims_verification_failed: 'User claims verification failed',
  token_invalid_signature: 'Signature verification failed',
}

// flask-jwt-extended's texts for a token of the other type (internal_utils.py `verify_token_type`); a
// token whose header `typ` alone is wrong keeps Tessera's message (flask has no such check). The user
// lookup's text names the identity (default_callbacks.py), so the engine writes it (engine.ts).
const FLASK_WRONG_TYPE: Readonly<Record<string, string>> = {
  'Only access tokens are accepted here': 'Only non-refresh tokens are allowed',
  'Only refresh tokens are accepted here': 'Only refresh tokens are allowed',
}

function flaskMessage(error: AnyTesseraError): string | undefined {
  if (error.code === 'token_wrong_type') return FLASK_WRONG_TYPE[error.message]
  // PyJWT's wording for the claims it requires (`MissingRequiredClaimError`: `aud`, `iss` when expected),
  // flask-jwt-extended's for the ones it checks itself (tokens.py `_decode_jwt`: the identity, `csrf`).
  if (error.code === 'token_claim_missing')
    return error.claim === 'aud' || error.claim === 'iss'
      ? `Token is missing the "${error.claim}" claim`
      : `Missing claim: ${error.claim}`
  return FLASK_MESSAGES[error.code]
}

/**
 * Under the flask-jwt-extended preset, the refusal flask-jwt-extended gives a token refused as
 * `token_wrong_type`. PyJWT checks `exp`, `nbf`, `iat`, `aud` and `iss` while decoding, before
 * flask-jwt-extended's `verify_token_type`: a refresh token presented for access that has also expired
 * is "Token has expired" (401) there, not the wrong type (422). The token's other claims are checked as
 * the engine checks them, its type aside; a refusal among them replaces the wrong type. Called on
 * refusals only: an accepted request pays nothing.
 */
export function flaskRefusal(config: ResolvedConfig): (error: TokenError) => TokenError {
  const rules = configuredRules(config, 'any')
  return (error) => {
    if (!(error instanceof TokenWrongTypeError)) return error
    const decoded = checkClaims(error.header, error.claims, rules, Date.now() / 1000)
    // A header `typ` that contradicts the token's own `type` is refused again as the wrong type: kept.
    return decoded instanceof TokenError && !(decoded instanceof TokenWrongTypeError) ? decoded : error
  }
}

/** The option names of {@link ErrorOptions}. */
export const ERROR_OPTIONS = Object.freeze([
  'respond',
  'messageKey',
  'codeKey',
  'status',
  'realm',
  'formatters',
  'format',
] as const)

/** Validates error options; `flask` applies the flask-jwt-extended preset under them. */
export function resolveErrorOptions(value: unknown, flask: boolean): ResolvedErrorOptions {
  const e = section(value, 'errors', ERROR_OPTIONS)
  const status: Record<string, number> = { ...errorStatus, ...(flask ? FLASK_STATUS : {}) }
  for (const [code, s] of Object.entries(section(e.status, 'errors.status', Object.keys(errorStatus)))) {
    if (typeof s !== 'number' || !Number.isInteger(s) || s < 400 || s > 599) {
      throw new ConfigurationError(`errors.status.${code}`, 'must be an HTTP error status (400-599)')
    }
    status[code] = s
  }
  const formatters = section(e.formatters, 'errors.formatters', Object.keys(errorStatus))
  for (const [code, f] of Object.entries(formatters)) fn(f, `errors.formatters.${code}`)
  let codeKey: string | undefined
  if (e.codeKey === undefined) codeKey = flask ? undefined : 'error'
  else if (e.codeKey !== false) codeKey = name(e.codeKey, '', 'errors.codeKey')
  return Object.freeze({
    respond: bool(e.respond, true, 'errors.respond'),
    messageKey: name(e.messageKey, flask ? 'msg' : 'message', 'errors.messageKey'),
    codeKey,
    status: Object.freeze(status as Record<TesseraErrorCode, number>),
    realm: optionalStr(e.realm, 'errors.realm'),
    formatters: Object.freeze(formatters as Partial<Record<TesseraErrorCode, ErrorFormatter>>),
    format: fn(e.format as ErrorFormatter | undefined, 'errors.format'),
    flask,
  })
}

// Challenges already built, by realm, code and message: token failures repeat a handful of fixed
// messages, so a refused request reuses the quoted header value instead of escaping it again. Looked up
// through nested maps keyed by the strings themselves (no key built per request). Bounded (a message can
// carry a client-sent value, e.g. Sec-Fetch-Site): emptied when full.
const CHALLENGES_MAX = 256
let challengeCount = 0
const challenges = new Map<string, Map<string, Map<string, string | undefined>>>()

function challengeFor(error: AnyTesseraError, realm: string | undefined): string | undefined {
  let byCode = challenges.get(realm ?? '')
  if (byCode === undefined)
    challenges.set(realm ?? '', (byCode = new Map<string, Map<string, string | undefined>>()))
  let byMessage = byCode.get(error.code)
  if (byMessage === undefined) byCode.set(error.code, (byMessage = new Map<string, string | undefined>()))
  const cached = byMessage.get(error.message)
  if (cached !== undefined || byMessage.has(error.message)) return cached
  const challenge = wwwAuthenticate(error, realm)
  if (challengeCount >= CHALLENGES_MAX) {
    // Full: start over (this challenge is built again next time).
    challenges.clear()
    challengeCount = 0
    return challenge
  }
  byMessage.set(error.message, challenge)
  challengeCount++
  return challenge
}

/** The HTTP answer to `error`. Status and challenge come from the code; formatters have the last word. */
export function errorResponse(error: AnyTesseraError, o: ResolvedErrorOptions): ErrorResponse {
  const status = o.status[error.code]
  const body: Record<string, unknown> = {}
  if (o.codeKey !== undefined) body[o.codeKey] = error.code
  body[o.messageKey] = (o.flask ? flaskMessage(error) : undefined) ?? error.message
  const headers: Record<string, string> = {}
  // RFC 7235 §3.1/RFC 6750 §3: the challenge belongs to 401 (and 403 insufficient_scope) answers only.
  if (status === 401 || status === 403) {
    const challenge = challengeFor(error, o.realm)
    if (challenge !== undefined) headers['www-authenticate'] = challenge
  }
  const response: ErrorResponse = { status, body, headers }
  const formatter = o.formatters[error.code] ?? o.format
  return formatter === undefined ? response : formatter(error, response)
}

/**
 * `error` with its `status` set to the configured one (`errors.status`, the preset), for an error handed
 * to the framework (`errors.respond: false`): frameworks answer from `error.status`, which is otherwise
 * the class's default. Other values are returned untouched.
 */
export function withConfiguredStatus(error: unknown, o: ResolvedErrorOptions): unknown {
  if (isTesseraError(error)) {
    const status = o.status[error.code]
    // `status` is a read-only own property for callers; the error was made for this request.
    if (error.status !== status) Object.defineProperty(error, 'status', { value: status })
  }
  return error
}
