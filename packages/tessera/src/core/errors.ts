/**
 * Tessera's error family: one class per failure, each with a stable `code` that callers and tests switch
 * on, and the HTTP status it maps to (401 for authentication failures, 403 for authorization, 500 for
 * misconfiguration). Messages never contain token material or key material.
 *
 * The registry test (`test/core/errors.test.ts`) checks that every code is unique and documented in
 * `docs/errors.md`.
 */
import type { DeepReadonly, JwtHeader, JwtClaims } from './types.js'

/** Every stable error code Tessera produces. */
export type TesseraErrorCode =
  | 'configuration_error'
  | 'token_missing'
  | 'token_malformed'
  | 'token_algorithm_rejected'
  | 'token_header_rejected'
  | 'token_unknown_key'
  | 'token_invalid_signature'
  | 'token_expired'
  | 'token_lifetime_exceeded'
  | 'token_not_yet_valid'
  | 'token_claim_missing'
  | 'token_claim_invalid'
  | 'token_wrong_type'
  | 'token_wrong_audience'
  | 'token_wrong_issuer'
  | 'token_revoked'
  | 'fresh_token_required'
  | 'csrf_missing'
  | 'csrf_mismatch'
  | 'csrf_origin_rejected'
  | 'claims_verification_failed'
  | 'user_not_found'
  | 'forbidden'
  | 'jwks_unavailable'

/** Base class of every error Tessera throws on purpose. Switch on `code`, not on the message. */
export abstract class TesseraError extends Error {
  /** Stable, lower_snake machine-readable code. */
  abstract readonly code: TesseraErrorCode
  /** HTTP status this failure maps to. */
  abstract readonly status: number
  override name = 'TesseraError'
  /** Expected control flow, built without a stack trace (see {@link TokenError}). */
  protected static readonly expected: boolean = false
  constructor(message?: string, options?: ErrorOptions) {
    const limit = Error.stackTraceLimit
    if (new.target.expected) Error.stackTraceLimit = 0
    super(message, options)
    Error.stackTraceLimit = limit
  }
}

/** A misuse found at start-up or at a call site (bad option, bad key, reserved claim). HTTP 500. */
export class ConfigurationError extends TesseraError {
  readonly code = 'configuration_error'
  readonly status = 500
  override name = 'ConfigurationError'
  /** Dotted path of the option at fault, e.g. `keys[0].secret` or `accessTokenTtl`. */
  readonly option: string
  constructor(option: string, message: string, options?: ErrorOptions) {
    super(`${option}: ${message}`, options)
    this.option = option
  }
}

/**
 * Base of every failure to authenticate a token (HTTP 401).
 *
 * Refusing a token is expected control flow, not a bug: every request with an expired, forged or
 * revoked token makes one of these. They are built without capturing a stack trace (V8 walks and
 * records up to `Error.stackTraceLimit` frames per `new Error`, several µs under a framework's deep
 * call stack), so `stack` is only `Name: message`. Switch on `code`; see docs/errors.md.
 */
export abstract class TokenError extends TesseraError {
  readonly status: number = 401
  override name = 'TokenError'
  protected static override readonly expected = true
}

/**
 * A token error raised after the signature was verified: the header and claims are authentic and
 * are attached so error handlers (the counterparts of flask-jwt-extended's loaders) can use them.
 */
export abstract class VerifiedTokenError extends TokenError {
  readonly header: DeepReadonly<JwtHeader>
  readonly claims: JwtClaims
  constructor(message: string, header: DeepReadonly<JwtHeader>, claims: JwtClaims) {
    super(message)
    this.header = header
    this.claims = claims
  }
}

/** No token was found where one was looked for. */
export class TokenMissingError extends TokenError {
  readonly code = 'token_missing'
  override name = 'TokenMissingError'
}
/** The token is not a well-formed compact JWS (segments, base64url, JSON, length). */
export class TokenMalformedError extends TokenError {
  readonly code = 'token_malformed'
  override name = 'TokenMalformedError'
}
/** The header names `none`, or an algorithm other than the one pinned by the key. */
export class TokenAlgorithmRejectedError extends TokenError {
  readonly code = 'token_algorithm_rejected'
  override name = 'TokenAlgorithmRejectedError'
}
/** The header carries a parameter Tessera refuses (`jwk`, `jku`, `x5u`, `x5c`, unknown `crit`, `b64`). */
export class TokenHeaderRejectedError extends TokenError {
  readonly code = 'token_header_rejected'
  override name = 'TokenHeaderRejectedError'
}
/** The header's `kid` names no key in the key ring. */
export class TokenUnknownKeyError extends TokenError {
  readonly code = 'token_unknown_key'
  override name = 'TokenUnknownKeyError'
}
/** The signature does not verify with the key the `kid` selects. */
export class TokenInvalidSignatureError extends TokenError {
  readonly code = 'token_invalid_signature'
  override name = 'TokenInvalidSignatureError'
}
/** `exp` is in the past (beyond the leeway). */
export class TokenExpiredError extends VerifiedTokenError {
  readonly code = 'token_expired'
  override name = 'TokenExpiredError'
}
/**
 * `exp − iat` is longer than the longest lifetime this engine accepts for the token's type
 * (`maxTokenAge`): a token signed by a buggy or compromised signer to live for years. Defence in
 * depth: it would also outlive every revocation entry.
 */
export class TokenLifetimeExceededError extends VerifiedTokenError {
  readonly code = 'token_lifetime_exceeded'
  override name = 'TokenLifetimeExceededError'
}
/** `nbf` or `iat` is in the future (beyond the leeway). */
export class TokenNotYetValidError extends VerifiedTokenError {
  readonly code = 'token_not_yet_valid'
  override name = 'TokenNotYetValidError'
}
/** A required claim is absent. */
export class TokenClaimMissingError extends VerifiedTokenError {
  readonly code = 'token_claim_missing'
  override name = 'TokenClaimMissingError'
  readonly claim: string
  constructor(claim: string, header: DeepReadonly<JwtHeader>, claims: JwtClaims) {
    super(`The token has no "${claim}" claim`, header, claims)
    this.claim = claim
  }
}
/** A claim has the wrong JSON type (e.g. `exp` as a string, `sub` as a number). */
export class TokenClaimInvalidError extends VerifiedTokenError {
  readonly code = 'token_claim_invalid'
  override name = 'TokenClaimInvalidError'
  readonly claim: string
  constructor(claim: string, message: string, header: DeepReadonly<JwtHeader>, claims: JwtClaims) {
    super(message, header, claims)
    this.claim = claim
  }
}
/** An access token where a refresh token is required, or the reverse (claim `type` or header `typ`). */
export class TokenWrongTypeError extends VerifiedTokenError {
  readonly code = 'token_wrong_type'
  override name = 'TokenWrongTypeError'
}
/** `aud` does not match the expected audience (or is present when none is expected). */
export class TokenWrongAudienceError extends VerifiedTokenError {
  readonly code = 'token_wrong_audience'
  override name = 'TokenWrongAudienceError'
}
/** `iss` does not match the expected issuer. */
export class TokenWrongIssuerError extends VerifiedTokenError {
  readonly code = 'token_wrong_issuer'
  override name = 'TokenWrongIssuerError'
}
/** The token, its session or all of its user's tokens were revoked. */
export class TokenRevokedError extends VerifiedTokenError {
  readonly code = 'token_revoked'
  override name = 'TokenRevokedError'
}
/** A fresh token is required and this one is not fresh (or its freshness deadline passed). */
export class FreshTokenRequiredError extends VerifiedTokenError {
  readonly code = 'fresh_token_required'
  override name = 'FreshTokenRequiredError'
}

/**
 * A cookie-borne token on a CSRF-checked method came without the double-submit value (header, or form
 * field when enabled), or `checkCsrfValue` was given no value. `headerName` is the header expected.
 */
export class CsrfMissingError extends TokenError {
  readonly code = 'csrf_missing'
  override name = 'CsrfMissingError'
  /**
   * The header the route reads the double-submit value from, e.g. `X-CSRF-TOKEN`; `undefined` when no
   * header was read (`checkCsrfValue`, given a value by the caller).
   */
  readonly headerName: string | undefined
  constructor(message: string, headerName?: string) {
    super(message)
    this.headerName = headerName
  }
}
/**
 * The double-submit value sent does not equal the token's `csrf` claim (or the token has none). `header`
 * and `claims` are the token's, as on every refusal of an authentic token.
 */
export class CsrfMismatchError extends VerifiedTokenError {
  readonly code = 'csrf_mismatch'
  override name = 'CsrfMismatchError'
  /**
   * The header the route reads the double-submit value from, e.g. `X-CSRF-TOKEN`; `undefined` when no
   * header was read (`checkCsrfValue`, given a value by the caller).
   */
  readonly headerName: string | undefined
  constructor(message: string, header: DeepReadonly<JwtHeader>, claims: JwtClaims, headerName?: string) {
    super(message, header, claims)
    this.headerName = headerName
  }
}
/** An unsafe cookie-authenticated request came from another site (`Origin` / `Sec-Fetch-Site`). */
export class CsrfOriginRejectedError extends TokenError {
  readonly code = 'csrf_origin_rejected'
  override name = 'CsrfOriginRejectedError'
}
/** The application's claims verification hook refused an authentic token. */
export class ClaimsVerificationFailedError extends VerifiedTokenError {
  readonly code = 'claims_verification_failed'
  override name = 'ClaimsVerificationFailedError'
}
/** The application's user lookup hook found no user for an authentic token's identity. */
export class UserNotFoundError extends VerifiedTokenError {
  readonly code = 'user_not_found'
  override name = 'UserNotFoundError'
}
/**
 * A valid token lacks a role or scope the route requires (HTTP 403, RFC 6750 `insufficient_scope`).
 * Not a {@link TokenError}: authentication succeeded, authorization did not. Expected control flow
 * too, so it is built without a stack trace, like the token errors.
 */
export class ForbiddenError extends TesseraError {
  readonly code = 'forbidden'
  readonly status = 403
  override name = 'ForbiddenError'
  protected static override readonly expected = true
  readonly header: DeepReadonly<JwtHeader>
  readonly claims: JwtClaims
  constructor(message: string, header: DeepReadonly<JwtHeader>, claims: JwtClaims) {
    super(message)
    this.header = header
    this.claims = claims
  }
}

/**
 * A remote JWKS could not be fetched or was refused (network failure, timeout, HTTP error, not JSON, no
 * usable key, a refused key). Reported to `remoteJwks`'s `onError` and by `ready()`/`refresh()`; never
 * thrown by verification, where a key still unknown is `token_unknown_key`. HTTP 503.
 */
export class JwksUnavailableError extends TesseraError {
  readonly code = 'jwks_unavailable'
  readonly status = 503
  override name = 'JwksUnavailableError'
}

/** Union of every concrete Tessera error, for exhaustive `switch (err.code)`. */
export type AnyTesseraError =
  | ConfigurationError
  | TokenMissingError
  | TokenMalformedError
  | TokenAlgorithmRejectedError
  | TokenHeaderRejectedError
  | TokenUnknownKeyError
  | TokenInvalidSignatureError
  | TokenExpiredError
  | TokenLifetimeExceededError
  | TokenNotYetValidError
  | TokenClaimMissingError
  | TokenClaimInvalidError
  | TokenWrongTypeError
  | TokenWrongAudienceError
  | TokenWrongIssuerError
  | TokenRevokedError
  | FreshTokenRequiredError
  | CsrfMissingError
  | CsrfMismatchError
  | CsrfOriginRejectedError
  | ClaimsVerificationFailedError
  | UserNotFoundError
  | ForbiddenError
  | JwksUnavailableError

/** True when `value` is an error Tessera raised on purpose (as opposed to a bug or an I/O failure). */
export function isTesseraError(value: unknown): value is AnyTesseraError {
  return value instanceof TesseraError
}

/** Codes mapped to the HTTP status each produces. The registry test keeps this in step with the classes. */
export const errorStatus = {
  configuration_error: 500,
  token_missing: 401,
  token_malformed: 401,
  token_algorithm_rejected: 401,
  token_header_rejected: 401,
  token_unknown_key: 401,
  token_invalid_signature: 401,
  token_expired: 401,
  token_lifetime_exceeded: 401,
  token_not_yet_valid: 401,
  token_claim_missing: 401,
  token_claim_invalid: 401,
  token_wrong_type: 401,
  token_wrong_audience: 401,
  token_wrong_issuer: 401,
  token_revoked: 401,
  fresh_token_required: 401,
  csrf_missing: 401,
  csrf_mismatch: 401,
  csrf_origin_rejected: 401,
  claims_verification_failed: 401,
  user_not_found: 401,
  forbidden: 403,
  jwks_unavailable: 503,
} as const satisfies Record<TesseraErrorCode, number>

/**
 * The RFC 6750 §3 `WWW-Authenticate` value for an error, or `undefined` when the status is not 401/403.
 * A request that carried no token gets a bare challenge, as §3.1 asks ("SHOULD NOT include an error code").
 */
export function wwwAuthenticate(error: TesseraError, realm?: string): string | undefined {
  const params: string[] = []
  if (realm !== undefined) params.push(`realm="${quote(realm)}"`)
  if (error.status === 401 && error.code !== 'token_missing') {
    params.push('error="invalid_token"', `error_description="${description(error.message)}"`)
  } else if (error.status === 403) {
    params.push('error="insufficient_scope"', `error_description="${description(error.message)}"`)
  } else if (error.status !== 401) {
    return undefined
  }
  return params.length === 0 ? 'Bearer' : `Bearer ${params.join(', ')}`
}

// RFC 7230 quoted-string: escape backslash and double quote; drop control characters.
function quote(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\\"]/g, '\\$&').replace(/[\u0000-\u001f\u007f]/g, ' ')
}

// RFC 6750 §3: error_description holds %x20-21 / %x23-5B / %x5D-7E only, so no escape is allowed:
// a double quote becomes a single one, a backslash a slash, control characters spaces, and any other
// character outside printable ASCII a question mark.
function description(text: string): string {
  return (
    text
      .replace(/"/g, "'")
      .replace(/\\/g, '/')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f]/g, ' ')
      .replace(/[^\x20-\x7e]/gu, '?')
  )
}
