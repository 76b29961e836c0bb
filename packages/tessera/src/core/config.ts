/**
 * Options of {@link createTessera}: one table of defaults (flask-jwt-extended's where sensible),
 * validated once where they enter, then resolved and frozen. Every message names the option at fault.
 */
import { isAlgorithm, type Algorithm } from './algorithms.js'
import { parseDuration, type Duration } from './duration.js'
import { ConfigurationError } from './errors.js'
import { createKeyRing, isKeyRing, isTesseraKey, type KeyRing, type KeyRingInput } from './key-ring.js'
import type { KeyInput } from './keys.js'
import { memoryRevocationStore, type RevocationStore } from './revocation.js'
import type { TokenType } from './types.js'
import { bool, fn, positiveInteger, section, str, strList } from './validate.js'
import { weakSecretReason } from './weak-secret.js'

/** Context passed to the claim and header hooks. */
export interface ClaimsHookContext {
  type: TokenType
}

/** Options of {@link createTessera}. */
export interface TesseraOptions {
  /**
   * Signing and verification keys: a {@link KeyRing}, one key, or a list (the first signs). Give either
   * `keys` or `secret`.
   */
  keys?: KeyRing | KeyRingInput | undefined
  /** Shorthand for one HMAC key (flask-jwt-extended's `JWT_SECRET_KEY`). At least 32 bytes for HS256. */
  secret?: string | Uint8Array | undefined
  /** Algorithm used with `secret`. @default 'HS256' */
  algorithm?: Algorithm | undefined
  /** Access token lifetime. @default '15m' */
  accessTokenTtl?: Duration | undefined
  /** Refresh token lifetime. @default '30d' */
  refreshTokenTtl?: Duration | undefined
  /** Claim that holds the identity. @default 'sub' */
  identityClaim?: string | undefined
  /**
   * Clock skew tolerated on `exp`, `nbf` and `iat`; on `nbf` and `iat` at least one second whatever
   * this says (they are whole seconds of the issuer's clock). @default 0
   */
  leeway?: Duration | undefined
  /**
   * Longest lifetime (`exp − iat`) a token may have to be accepted, plus the leeway; a token without
   * `iat` is refused while the bound is on. `'ttl'`: the configured lifetime of the token's type
   * (`accessTokenTtl`, `refreshTokenTtl`); a duration: one bound for both types (use it when you pass
   * a longer `expiresIn` to some calls); `false`: no bound. Creating a token longer than the bound
   * throws a {@link ConfigurationError}: the engine never issues what it would refuse. @default 'ttl'
   */
  // eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- 'ttl' named for editors
  maxTokenAge?: 'ttl' | Duration | false | undefined
  /** Write `nbf` (equal to `iat`) into new tokens. @default true */
  writeNbf?: boolean | undefined
  /**
   * Audience: written into new tokens (all values) and required when verifying (any one must match).
   * When unset, a token that carries `aud` is refused (RFC 7519 §4.1.3).
   */
  audience?: string | readonly string[] | undefined
  /** Issuer: the first value is written; verification accepts any listed value. Unset: not checked. */
  issuer?: string | readonly string[] | undefined
  /** Longest token accepted, checked before any parsing. @default 8192 */
  maxTokenLength?: number | undefined
  /**
   * How many verified tokens to remember, so that the same token presented again skips the signature
   * computation (claims, expiry and revocation are still checked on every request). `false` or `0`
   * turns it off. @default 10000
   */
  verifyCache?: number | boolean | undefined
  /** Where revocations live; `false` turns revocation checks off. @default memoryRevocationStore() */
  revocation?: RevocationStore | false | undefined
  /** Turns a user object into the identity string (flask-jwt-extended's `user_identity_loader`). */
  identityFrom?: ((user: unknown) => string) | undefined
  /** Claims added to every new token (`additional_claims_loader`). Reserved claims cannot be set. */
  additionalClaims?:
    | ((
        identity: string,
        context: ClaimsHookContext,
      ) => Record<string, unknown> | Promise<Record<string, unknown>>)
    | undefined
  /** Header parameters added to every new token (`additional_headers_loader`). */
  additionalHeaders?:
    | ((
        identity: string,
        context: ClaimsHookContext,
      ) => Record<string, unknown> | Promise<Record<string, unknown>>)
    | undefined
}

/** Options after validation, with defaults applied. Frozen. */
export interface ResolvedConfig {
  readonly keyRing: KeyRing
  readonly accessTokenTtl: number
  readonly refreshTokenTtl: number
  readonly identityClaim: string
  readonly leeway: number
  /** Longest accepted `exp − iat` per token type (leeway not included); `undefined`: no bound. */
  readonly maxTokenAge: Readonly<Record<TokenType, number>> | undefined
  readonly writeNbf: boolean
  readonly audience: readonly string[] | undefined
  readonly issuer: readonly string[] | undefined
  readonly maxTokenLength: number
  /** Verified tokens remembered; 0 when the cache is off. */
  readonly verifyCache: number
  readonly revocation: RevocationStore | undefined
  readonly identityFrom: TesseraOptions['identityFrom']
  readonly additionalClaims: TesseraOptions['additionalClaims']
  readonly additionalHeaders: TesseraOptions['additionalHeaders']
}

/** Every option name of {@link TesseraOptions}. */
export const KNOWN_OPTIONS: ReadonlySet<string> = new Set<string>([
  'keys',
  'secret',
  'algorithm',
  'accessTokenTtl',
  'refreshTokenTtl',
  'identityClaim',
  'leeway',
  'maxTokenAge',
  'writeNbf',
  'audience',
  'issuer',
  'maxTokenLength',
  'verifyCache',
  'revocation',
  'identityFrom',
  'additionalClaims',
  'additionalHeaders',
])

/** Validates options and applies defaults. Throws a {@link ConfigurationError} naming the first bad option. */
export function resolveConfig(options: TesseraOptions): ResolvedConfig {
  // There is no default key, so "no options" is as wrong as null, a number or an array (JavaScript callers).
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- guard for JavaScript callers
  section(options ?? null, '', [...KNOWN_OPTIONS], 'engine')
  const accessTokenTtl = parseDuration(options.accessTokenTtl ?? '15m', 'accessTokenTtl')
  const refreshTokenTtl = parseDuration(options.refreshTokenTtl ?? '30d', 'refreshTokenTtl')
  return Object.freeze({
    keyRing: resolveKeys(options),
    accessTokenTtl,
    refreshTokenTtl,
    identityClaim: str(options.identityClaim, 'sub', 'identityClaim'),
    leeway: parseDuration(options.leeway ?? 0, 'leeway', { allowZero: true }),
    maxTokenAge: resolveMaxTokenAge(options.maxTokenAge, accessTokenTtl, refreshTokenTtl),
    writeNbf: bool(options.writeNbf, true, 'writeNbf'),
    audience: strList(options.audience, 'audience'),
    issuer: strList(options.issuer, 'issuer'),
    maxTokenLength: positiveInteger(options.maxTokenLength, 8192, 'maxTokenLength'),
    verifyCache: resolveVerifyCache(options.verifyCache),
    revocation: resolveRevocation(options.revocation),
    identityFrom: fn(options.identityFrom, 'identityFrom'),
    additionalClaims: fn(options.additionalClaims, 'additionalClaims'),
    additionalHeaders: fn(options.additionalHeaders, 'additionalHeaders'),
  })
}

function resolveKeys(options: TesseraOptions): KeyRing {
  const { keys, secret, algorithm } = options
  if (keys !== undefined && secret !== undefined) {
    throw new ConfigurationError('secret', 'give either "keys" or "secret", not both')
  }
  if (secret !== undefined) {
    const alg = algorithm ?? 'HS256'
    if (!isAlgorithm(alg) || !alg.startsWith('HS')) {
      throw new ConfigurationError('algorithm', `"secret" works with HS256, HS384 or HS512, not ${alg}`)
    }
    if (typeof secret !== 'string' && !(secret instanceof Uint8Array)) {
      throw new ConfigurationError('secret', 'expected a string or bytes')
    }
    let ring: KeyRing
    try {
      ring = createKeyRing({ alg, secret })
    } catch (error) {
      // Re-label "keys[0].secret" as the option the user actually wrote.
      if (error instanceof ConfigurationError)
        throw new ConfigurationError('secret', error.message.replace(/^[^:]*: /, ''))
      throw error
    }
    refuseWeakSecret(secret, 'secret')
    return ring
  }
  if (algorithm !== undefined) {
    throw new ConfigurationError(
      'algorithm',
      'is only read with "secret"; each entry of "keys" names its own alg',
    )
  }
  if (keys === undefined && Object.hasOwn(options, 'secret')) {
    // `{ secret: process.env.JWT_SECRET }` with the variable unset: name the option that was written.
    throw new ConfigurationError(
      'secret',
      'is undefined (is the environment variable it is read from set?); an HS256 secret is at least 32 bytes: generate one with `openssl rand -base64 32`',
    )
  }
  if (keys === undefined) {
    throw new ConfigurationError(
      'keys',
      'a signing key is required: pass "secret" (HS256) or "keys" (e.g. from generateKey())',
    )
  }
  if (isKeyRing(keys)) return keys
  const ring = createKeyRing(keys)
  const inputs: readonly unknown[] = Array.isArray(keys) ? keys : [keys]
  inputs.forEach((input, i) => {
    const secret = isTesseraKey(input) ? undefined : (input as KeyInput).secret
    if (typeof secret === 'string' || secret instanceof Uint8Array)
      refuseWeakSecret(secret, Array.isArray(keys) ? `keys[${i}].secret` : 'keys.secret')
  })
  return ring
}

// RFC 8725 §3.5: a secret a person made up (a tutorial's sample, a padded word) is not a key.
function refuseWeakSecret(secret: string | Uint8Array, option: string): void {
  const reason = weakSecretReason(secret)
  if (reason !== undefined) throw new ConfigurationError(option, reason)
}

function resolveMaxTokenAge(
  value: TesseraOptions['maxTokenAge'],
  access: number,
  refresh: number,
): Readonly<Record<TokenType, number>> | undefined {
  if (value === false) return undefined
  if (value === undefined || value === 'ttl') return Object.freeze({ access, refresh })
  const bound = parseDuration(value, 'maxTokenAge')
  return Object.freeze({ access: bound, refresh: bound })
}

function resolveRevocation(value: TesseraOptions['revocation']): RevocationStore | undefined {
  if (value === false) return undefined
  if (value === undefined) return memoryRevocationStore()
  if (
    typeof value !== 'object' ||
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- guard for JavaScript callers
    value === null ||
    typeof (value as Partial<RevocationStore>).isRevoked !== 'function'
  ) {
    throw new ConfigurationError(
      'revocation',
      'expected a RevocationStore (e.g. memoryRevocationStore()) or false',
    )
  }
  return value
}

/** Default size of the verified-token cache: about 8 MB with Tessera's ~400-character tokens. */
const DEFAULT_VERIFY_CACHE = 10_000

function resolveVerifyCache(value: unknown): number {
  if (value === undefined || value === true) return DEFAULT_VERIFY_CACHE
  if (value === false || value === 0) return 0
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ConfigurationError(
      'verifyCache',
      `must be a whole number of tokens (0 or false: off), got ${JSON.stringify(value)}`,
    )
  }
  return value
}
