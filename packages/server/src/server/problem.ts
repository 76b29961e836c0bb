/**
 * Server-level failures (validation, conflicts, rate limits, credentials): one class with a stable
 * `code` and status, answered as `{ "error": code, "message": text }` like the token errors.
 */

/** The codes the server itself answers with (token errors come from the core's registry). */
export type ProblemCode =
  | 'validation_error'
  | 'weak_password'
  | 'invalid_json'
  | 'payload_too_large'
  | 'username_taken'
  | 'invalid_credentials'
  | 'account_disabled'
  | 'rate_limited'
  | 'refresh_token_reused'
  | 'token_revoked'
  | 'not_found'
  | 'service_unavailable'
  | 'internal_error'
  | 'legacy_token_expired'

/** An HTTP failure with a stable code. */
export class Problem extends Error {
  override name = 'Problem'
  readonly status: number
  readonly code: ProblemCode
  readonly headers: Record<string, string>
  constructor(status: number, code: ProblemCode, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.status = status
    this.code = code
    this.headers = headers
  }
}

export const invalidCredentials = (): Problem =>
  new Problem(401, 'invalid_credentials', 'Bad username or password', { 'www-authenticate': 'Bearer' })

export const rateLimited = (retryAfter: number): Problem =>
  new Problem(429, 'rate_limited', `Too many attempts; retry in ${retryAfter} s`, {
    'retry-after': String(retryAfter),
  })

export const notFound = (what: string): Problem => new Problem(404, 'not_found', `${what} not found`)

export const validation = (message: string): Problem => new Problem(400, 'validation_error', message)
