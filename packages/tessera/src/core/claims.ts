/**
 * Claim checks of a token whose signature holds (RFC 7519 §4.1, RFC 9068 §4, RFC 8725 §3.11):
 * required claims and their JSON types, type and `typ`, exp/nbf/iat with leeway, aud, iss, freshness.
 */
import {
  FreshTokenRequiredError,
  TokenClaimInvalidError,
  TokenClaimMissingError,
  TokenExpiredError,
  TokenLifetimeExceededError,
  TokenNotYetValidError,
  TokenWrongAudienceError,
  TokenWrongIssuerError,
  TokenWrongTypeError,
  type VerifiedTokenError,
} from './errors.js'
import { formatDuration } from './duration.js'
import type { JwtClaims, JwtHeader, TokenType } from './types.js'

/** Header `typ` of each token type. Access tokens follow RFC 9068 §2.1. */
export const TOKEN_TYP = { access: 'at+jwt', refresh: 'refresh+jwt' } as const satisfies Record<
  TokenType,
  string
>

// The refusal of a token whose `type` claim is right but whose header `typ` is not its type's.
const WRONG_TYP: Record<TokenType, string> = {
  access: `The token header "typ" is not "${TOKEN_TYP.access}", the type of access tokens (RFC 9068)`,
  refresh: `The token header "typ" is not "${TOKEN_TYP.refresh}", the type of refresh tokens`,
}

/**
 * Claims the engine writes itself from its own options: `claims` and `additionalClaims` cannot set them,
 * and an implicit refresh carries every other claim over to the new token.
 */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set([
  'iat',
  'nbf',
  'exp',
  'jti',
  'type',
  'fresh',
  'sid',
  'csrf',
  'aud',
  'iss',
])

/** What {@link checkClaims} enforces; resolved once per call site. */
export interface ClaimRules {
  /** Token type required, or `'any'` to accept both (flask-jwt-extended's `verify_type=False`). */
  type: TokenType | 'any'
  identityClaim: string
  leeway: number
  /** Longest accepted `exp − iat` per token type, before the leeway; `undefined`: no bound. */
  maxTokenAge: Readonly<Record<TokenType, number>> | undefined
  audience: readonly string[] | undefined
  issuer: readonly string[] | undefined
  fresh: boolean
  requiredClaims: readonly string[]
  /** Accept a token past its `exp` (flask-jwt-extended's `decode_token(allow_expired=True)`). */
  allowExpired?: boolean | undefined
}

/** The engine's settings a token's claims are checked against. */
type ConfiguredChecks = Pick<ClaimRules, 'identityClaim' | 'leeway' | 'maxTokenAge' | 'audience' | 'issuer'>

/**
 * The rules of a check that adds nothing to the engine's settings (no freshness, no extra required
 * claim), for tokens of `type`: the engine's default rules, and the flask preset's re-check of a refusal.
 */
export function configuredRules(config: ConfiguredChecks, type: ClaimRules['type']): ClaimRules {
  return Object.freeze({
    type,
    identityClaim: config.identityClaim,
    leeway: config.leeway,
    maxTokenAge: config.maxTokenAge,
    audience: config.audience,
    issuer: config.issuer,
    fresh: false,
    requiredClaims: [],
  })
}

/**
 * Checks claims in place and returns them typed, or returns the refusal (never throws it: a refused
 * token is expected control flow, and a thrown exception costs a refused request several µs).
 * `now` is Unix seconds (fractional allowed).
 */
export function checkClaims(
  header: JwtHeader,
  payload: Record<string, unknown>,
  rules: ClaimRules,
  now: number,
): JwtClaims | VerifiedTokenError {
  const claims = payload as JwtClaims

  const { exp, nbf, iat, jti, type, fresh } = payload
  if (exp === undefined) return new TokenClaimMissingError('exp', header, claims)
  if (!isNumericDate(exp)) return invalidClaim('exp', 'is not a NumericDate', header, claims)
  if (nbf !== undefined && !isNumericDate(nbf))
    return invalidClaim('nbf', 'is not a NumericDate', header, claims)
  if (iat !== undefined && !isNumericDate(iat))
    return invalidClaim('iat', 'is not a NumericDate', header, claims)
  // Without `iat` the lifetime cannot be bounded: required while the bound is on.
  if (iat === undefined && rules.maxTokenAge !== undefined)
    return new TokenClaimMissingError('iat', header, claims)
  const identity = payload[rules.identityClaim]
  if (identity === undefined) return new TokenClaimMissingError(rules.identityClaim, header, claims)
  // RFC 7519 §4.1.2: "sub" is a StringOrURI; a number or object is refused rather than coerced.
  if (typeof identity !== 'string' || identity === '')
    return invalidClaim(rules.identityClaim, 'is not a non-empty string', header, claims)
  if (jti === undefined) return new TokenClaimMissingError('jti', header, claims)
  if (typeof jti !== 'string' || jti === '')
    return invalidClaim('jti', 'is not a non-empty string', header, claims)
  if (type === undefined) return new TokenClaimMissingError('type', header, claims)
  if (type !== 'access' && type !== 'refresh')
    return invalidClaim('type', 'is neither "access" nor "refresh"', header, claims)
  if (fresh !== undefined && typeof fresh !== 'boolean' && !isNumericDate(fresh)) {
    return invalidClaim('fresh', 'is neither a boolean nor a NumericDate', header, claims)
  }
  for (const claim of rules.requiredClaims) {
    if (payload[claim] === undefined) return new TokenClaimMissingError(claim, header, claims)
  }

  // The type before the dates (PyJWT, hence flask-jwt-extended, checks `exp` first; the adapters' flask
  // preset reorders its refusals to match): a token of the wrong type gets the same answer whatever its
  // age, so a client that sent the refresh token for access is told that, not "expired" once the token
  // ages, which would only make it refresh and retry with the wrong token again.
  if (rules.type !== 'any') {
    // Both the claim and the explicit header type must agree (RFC 8725 §3.11: cross-JWT confusion).
    if (type !== rules.type) {
      return new TokenWrongTypeError(
        rules.type === 'access'
          ? 'Only access tokens are accepted here'
          : 'Only refresh tokens are accepted here',
        header,
        claims,
      )
    }
    if (normaliseTyp(header.typ) !== TOKEN_TYP[rules.type]) {
      // The claim is right and the header is not: a token of another issuer (flask-jwt-extended's say
      // `typ: JWT`), or one not made as a Tessera token. Said so, never echoing the header's value.
      return new TokenWrongTypeError(WRONG_TYP[rules.type], header, claims)
    }
  } else if (normaliseTyp(header.typ) !== TOKEN_TYP[type]) {
    return new TokenWrongTypeError('The token header "typ" does not match its type', header, claims)
  }

  if (now >= exp + rules.leeway && rules.allowExpired !== true) {
    return new TokenExpiredError('The token has expired', header, claims)
  }
  // Dates ahead of this clock are refused only past the leeway, and at least one second: the issuer
  // writes its clock's whole second, and no two machines' clocks agree to the millisecond, so without
  // it a verifier a fraction of a second behind refused that fraction of the tokens issued fresh.
  const ahead = now + Math.max(rules.leeway, 1)
  if (nbf !== undefined && ahead < nbf) {
    return new TokenNotYetValidError('The token is not valid yet (nbf)', header, claims)
  }
  if (iat !== undefined && ahead < iat) {
    return new TokenNotYetValidError('The token was issued in the future (iat)', header, claims)
  }
  // Defence in depth against authentic tokens made to live for years (a stolen or rotated-out key, a
  // buggy signer elsewhere): such a token would also outlive every revocation entry, which lasts only
  // as long as the longest token this bound lets through (revocationExpiry).
  if (rules.maxTokenAge !== undefined && exp - (iat as number) > rules.maxTokenAge[type] + rules.leeway) {
    // Names the option and both values: the usual cause is a verifier whose maxTokenAge (or TTL) is
    // shorter than the issuer's TTL.
    return new TokenLifetimeExceededError(
      `The ${type} token lifetime ${formatDuration(exp - (iat as number))} (exp - iat) exceeds maxTokenAge ${formatDuration(rules.maxTokenAge[type])}`,
      header,
      claims,
    )
  }

  const audience = checkAudience(payload.aud, rules.audience, header, claims)
  if (audience !== undefined) return audience
  if (rules.issuer !== undefined) {
    if (payload.iss === undefined) return new TokenClaimMissingError('iss', header, claims)
    if (typeof payload.iss !== 'string' || !rules.issuer.includes(payload.iss)) {
      return new TokenWrongIssuerError('The token was issued by an unexpected issuer', header, claims)
    }
  }

  if (rules.fresh && !(fresh === true || (typeof fresh === 'number' && now < fresh))) {
    return new FreshTokenRequiredError('A fresh token is required (log in again)', header, claims)
  }
  return claims
}

function invalidClaim(
  claim: string,
  what: string,
  header: JwtHeader,
  claims: JwtClaims,
): TokenClaimInvalidError {
  return new TokenClaimInvalidError(claim, `The "${claim}" claim ${what}`, header, claims)
}

function checkAudience(
  aud: unknown,
  expected: readonly string[] | undefined,
  header: JwtHeader,
  claims: JwtClaims,
): VerifiedTokenError | undefined {
  if (aud === undefined) {
    return expected === undefined ? undefined : new TokenClaimMissingError('aud', header, claims)
  }
  const list = typeof aud === 'string' ? [aud] : aud
  if (!Array.isArray(list) || !list.every((v) => typeof v === 'string')) {
    return new TokenClaimInvalidError(
      'aud',
      'The "aud" claim is not a string or a list of strings',
      header,
      claims,
    )
  }
  // RFC 7519 §4.1.3: a recipient that does not identify with a value in "aud" must reject the token,
  // including when it expects no audience at all.
  if (expected === undefined || !list.some((value) => expected.includes(value))) {
    return new TokenWrongAudienceError('The token is meant for another audience', header, claims)
  }
  return undefined
}

/** 9999-12-31T23:59:59Z: the last instant a Date and ISO 8601 (and every store column) can represent. */
const MAX_NUMERIC_DATE = 253_402_300_799

// RFC 7519 §2 NumericDate, bounded: a negative or astronomically large time (1e300, above 2^53) is no
// real instant; refused rather than read as "expired" or "never expires" (it also broke the SQL
// revocation store, which needs a safe integer, when such a token was logged out).
export function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && value >= 0 && value <= MAX_NUMERIC_DATE
}

// Media type names are case-insensitive and "application/" may be omitted (RFC 7515 §4.1.9).
function normaliseTyp(typ: unknown): string | undefined {
  if (typeof typ !== 'string') return undefined
  const lower = typ.toLowerCase()
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower
}
