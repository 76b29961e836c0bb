/**
 * The server's error registry: every code the server itself answers with (token refusals come from the
 * core's registry, docs/errors.md), each with its HTTP status, default message and RFC 6750 challenge.
 * The service throws {@link ServiceError}s, which know nothing of HTTP; the mapper (error-response.ts)
 * turns them, and every other error, into the answer.
 *
 * The registry test (`test/server/errors.test.ts`) checks it against docs/server-api.md.
 */

/** One registered code: how it is answered. */
export interface ServerErrorSpec {
  /** HTTP status. */
  readonly status: number
  /** The message when the error gives none. */
  readonly message: string
  /** The `WWW-Authenticate` value of its 401s (RFC 6750 §3); none for other statuses. */
  readonly challenge?: string
}

/** Every code the server itself answers with, mapped to its status, default message and challenge. */
export const serverErrors = {
  validation_error: { status: 400, message: 'The request does not match its schema' },
  weak_password: { status: 400, message: 'The new password is too weak' },
  invalid_json: { status: 400, message: 'The request body is not valid JSON' },
  bad_request: { status: 400, message: 'The request is malformed' },
  invalid_credentials: { status: 401, message: 'Bad username or password', challenge: 'Bearer' },
  refresh_token_reused: {
    status: 401,
    message: 'This refresh token was already used: the session is revoked',
    challenge: 'Bearer error="invalid_token", error_description="refresh token reused"',
  },
  token_revoked: {
    status: 401,
    message: 'This token was revoked',
    challenge: 'Bearer error="invalid_token"',
  },
  legacy_token_expired: {
    status: 401,
    message: 'Tokens of the previous system are not accepted here: log in again',
    challenge: 'Bearer error="invalid_token", error_description="legacy token no longer accepted"',
  },
  metrics_unauthorized: {
    status: 401,
    message: 'GET /metrics needs the scrape token (TESSERA_METRICS_TOKEN) as a Bearer token',
    challenge: 'Bearer realm="metrics"',
  },
  account_disabled: { status: 403, message: 'This account is disabled' },
  registration_closed: {
    status: 403,
    message: 'Registration is closed: ask an administrator for an account',
  },
  not_found: { status: 404, message: 'Not found' },
  request_timeout: { status: 408, message: 'The request took too long to arrive' },
  username_taken: { status: 409, message: 'This username is already taken' },
  last_admin: {
    status: 409,
    message:
      'This is the last enabled admin: make another user admin first (or use `tessera users set-roles`)',
  },
  payload_too_large: { status: 413, message: 'The request body is too large' },
  unsupported_media_type: { status: 415, message: 'Send JSON (Content-Type: application/json)' },
  rate_limited: { status: 429, message: 'Too many attempts; retry later' },
  headers_too_large: { status: 431, message: 'The request headers are too large' },
  internal_error: { status: 500, message: 'Internal server error' },
  service_unavailable: { status: 503, message: 'The service is unavailable; retry shortly' },
} as const satisfies Record<string, ServerErrorSpec>

/** A code of {@link serverErrors}. */
export type ServerErrorCode = keyof typeof serverErrors

/**
 * A refusal of the auth service (a domain error): a stable code and a message, never an HTTP status or
 * header. `retryAfter` (seconds) says when trying again can succeed (rate limits, unavailability).
 */
export class ServiceError extends Error {
  override name = 'ServiceError'
  readonly code: ServerErrorCode
  readonly retryAfter: number | undefined
  constructor(code: ServerErrorCode, message?: string, options: { retryAfter?: number } = {}) {
    super(message ?? serverErrors[code].message)
    this.code = code
    this.retryAfter = options.retryAfter
  }
}

/** Unknown user or wrong password: one answer for both. */
export const invalidCredentials = (): ServiceError => new ServiceError('invalid_credentials')

/** A rate limit was reached; trying again in `retryAfter` seconds can succeed. */
export const rateLimited = (retryAfter: number): ServiceError =>
  new ServiceError('rate_limited', `Too many attempts; retry in ${retryAfter} s`, { retryAfter })

/** `what` (a user, a session) does not exist, or is not the caller's. */
export const notFound = (what: string): ServiceError => new ServiceError('not_found', `${what} not found`)

/** A request field breaks a rule its schema cannot express. */
export const validation = (message: string): ServiceError => new ServiceError('validation_error', message)
