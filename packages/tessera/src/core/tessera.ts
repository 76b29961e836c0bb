/**
 * `createTessera()`: the framework-free token engine. It creates access and refresh tokens, verifies
 * them (signature, claims, revocation) and revokes them. Adapters and the server are built on it.
 */
import { randomBytes } from 'node:crypto'
import { checkClaims, configuredRules, RESERVED_CLAIMS, TOKEN_TYP, type ClaimRules } from './claims.js'
import { resolveConfig, type ResolvedConfig, type TesseraOptions } from './config.js'
import { parseDuration, type Duration } from './duration.js'
import { ConfigurationError, TokenError, TokenRevokedError, TokenUnknownKeyError } from './errors.js'
import { createJwsVerifier, type VerifiedJws } from './jws.js'
import { revocationExpiry } from './revocation.js'
import type { Jwks, KeyRing } from './key-ring.js'
import type { TesseraKey } from './keys.js'
import { isRemoteJwks } from './remote-jwks.js'
import { nowSeconds } from './time.js'
import type { AppClaims, DeepReadonly, JwtClaims, TokenType, VerifiedToken } from './types.js'

/** Per-call options of {@link Tessera.createAccessToken} and {@link Tessera.createRefreshToken}. */
export interface CreateTokenOptions {
  /** Lifetime of this token instead of the configured one. */
  expiresIn?: Duration | undefined
  /**
   * Access tokens only: `true` marks the token fresh (issued by a password login), a duration keeps it
   * fresh for that long. Refresh tokens are never fresh. @default false
   */
  fresh?: boolean | Duration | undefined
  /**
   * Extra claims, checked against the claims declared in `TesseraTypes`. Reserved claims (`exp`,
   * `type`, `jti`, …) are set by their own options instead. Read-only values are accepted, so a
   * verified token's claims (`roles: verified.claims.roles`) can be passed on as they are.
   */
  claims?: (Partial<DeepReadonly<AppClaims>> & Record<string, unknown>) | undefined
  /** Extra header parameters. `alg`, `kid`, `typ` and key-bearing parameters cannot be set. */
  headers?: Record<string, unknown> | undefined
  /** Session id written as `sid`. */
  sid?: string | undefined
  /** Token id; random (128 bits) by default. */
  jti?: string | undefined
  /** Double-submit CSRF value written as `csrf`: `true` for a random one. */
  csrf?: boolean | string | undefined
  /** Audience of this token instead of the configured one. */
  audience?: string | readonly string[] | undefined
  /** Issuer of this token instead of the configured one. */
  issuer?: string | undefined
}

/** Per-call options of {@link Tessera.verify}. */
export interface VerifyOptions {
  /** Token type required; `'any'` accepts both. @default 'access' */
  type?: TokenType | 'any' | undefined
  /** Require a fresh token. @default false */
  fresh?: boolean | undefined
  /** Accepted audiences instead of the configured ones. */
  audience?: string | readonly string[] | undefined
  /** Accepted issuers instead of the configured ones. */
  issuer?: string | readonly string[] | undefined
  /** Clock skew instead of the configured leeway. */
  leeway?: Duration | undefined
  /** Claims that must be present beyond the always-required `exp`, identity, `jti` and `type`. */
  requiredClaims?: readonly string[] | undefined
  /** Skip the revocation store for this call. @default false */
  skipRevocationCheck?: boolean | undefined
  /**
   * Accept a token whose `exp` has passed, to read an expired token's claims (which session ended,
   * "continue as …"): flask-jwt-extended's `decode_token(token, allow_expired=True)`. Every other check
   * still applies: signature with the key its `kid` selects, algorithm pinned by the key, structure,
   * `type`/`typ`, `nbf`/`iat`, audience, issuer, freshness and revocation. Never accepted by a route guard
   * or `verifyRequest`. @default false
   */
  allowExpired?: boolean | undefined
}

/** The engine returned by {@link createTessera}. */
export interface Tessera {
  /** The resolved, frozen configuration. */
  readonly config: ResolvedConfig
  /** The key ring (rotate, add or prune keys at run time). */
  readonly keys: KeyRing
  /** Creates a signed access token for `identity` (a string, a number, or an object with `identityFrom`). */
  createAccessToken(identity: unknown, options?: CreateTokenOptions): Promise<string>
  /** Creates a signed refresh token for `identity`. */
  createRefreshToken(identity: unknown, options?: CreateTokenOptions): Promise<string>
  /**
   * Verifies a token: structure, key by `kid`, algorithm pinned by the key, signature, claims, type,
   * freshness and revocation. Rejects with a typed {@link TesseraError}.
   */
  verify<C = AppClaims>(token: string, options?: VerifyOptions): Promise<VerifiedToken<C>>
  /**
   * The same checks as {@link Tessera.verify}, returning the result directly when every step is
   * synchronous (as with the in-memory revocation store) and a promise otherwise. Throws synchronously.
   * For adapters on the hot path.
   */
  verifyInline<C = AppClaims>(
    token: unknown,
    options?: VerifyOptions,
  ): VerifiedToken<C> | Promise<VerifiedToken<C>>
  /** Revokes one verified token until it expires. */
  revokeToken(claims: Pick<JwtClaims, 'jti' | 'exp'>): Promise<void>
  /**
   * Revokes every token of a session: those created with `sid`, and a token created without a sid whose
   * `jti` it is (such a token is its own session). @default expiresAt now + refresh lifetime
   */
  revokeSession(sid: string, expiresAt?: number): Promise<void>
  /**
   * Revokes every token of `sub` whose `iat` is before `before` (Unix seconds). The default, the end of
   * the current second, also catches tokens issued a moment ago: use it for "user deleted" and
   * "logout everywhere"; a token issued later in that same second is refused too, so issue new
   * tokens from a new second or revoke by session instead.
   */
  revokeUser(sub: string, before?: number): Promise<void>
  /** The public keys as a JWKS (never an HMAC secret or any private member). */
  jwks(): Jwks
}

const RESERVED_HEADERS = new Set(['alg', 'kid', 'typ', 'crit', 'jwk', 'jku', 'x5u', 'x5c', 'b64'])

/**
 * Creates the token engine. Configuration is validated here: a bad option throws a
 * {@link ConfigurationError} naming it.
 *
 * @example
 * const auth = createTessera({ secret: process.env.JWT_SECRET })
 * const token = await auth.createAccessToken('alice', { claims: { roles: ['admin'] } })
 * const { identity, claims } = await auth.verify(token)
 */
export function createTessera(options: TesseraOptions): Tessera {
  const config = resolveConfig(options)
  const ring = config.keyRing
  const remote = isRemoteJwks(ring) ? ring : undefined
  const verifyJws = createJwsVerifier(ring, {
    maxTokenLength: config.maxTokenLength,
    cacheSize: config.verifyCache,
  })
  const revocation = config.revocation
  const defaultRules = configuredRules(config, 'access')
  const refreshRules: ClaimRules = Object.freeze({ ...defaultRules, type: 'refresh' })
  const headerSegments = new Map<string, string>()

  const rulesFor = (opts: VerifyOptions | undefined): ClaimRules => {
    if (opts === undefined) return defaultRules
    const { type = 'access', fresh, audience, issuer, leeway, requiredClaims, allowExpired } = opts
    if (
      allowExpired === undefined &&
      fresh === undefined &&
      audience === undefined &&
      issuer === undefined &&
      leeway === undefined &&
      requiredClaims === undefined
    ) {
      if (type === 'access') return defaultRules
      if (type === 'refresh') return refreshRules
    }
    if (allowExpired !== undefined && typeof allowExpired !== 'boolean') {
      throw new ConfigurationError('verify.allowExpired', `must be true or false, got ${typeof allowExpired}`)
    }
    // Runtime guard for JavaScript callers.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    if (type !== 'access' && type !== 'refresh' && type !== 'any') {
      throw new ConfigurationError('verify.type', `must be "access", "refresh" or "any", got ${String(type)}`)
    }
    return {
      type,
      identityClaim: config.identityClaim,
      leeway:
        leeway === undefined ? config.leeway : parseDuration(leeway, 'verify.leeway', { allowZero: true }),
      maxTokenAge: config.maxTokenAge,
      audience:
        audience === undefined ? config.audience : typeof audience === 'string' ? [audience] : audience,
      issuer: issuer === undefined ? config.issuer : typeof issuer === 'string' ? [issuer] : issuer,
      fresh: fresh ?? false,
      requiredClaims: requiredClaims ?? [],
      allowExpired: allowExpired === true,
    }
  }

  const finish = <C>(result: VerifiedToken<C>, revoked: boolean): VerifiedToken<C> | TokenRevokedError =>
    revoked ? new TokenRevokedError('The token has been revoked', result.header, result.claims) : result

  const verifyOrRefuse: RefusingVerify = (token, opts) => {
    const rules = rulesFor(opts)
    const jws = verifyJws(token)
    if (!(jws instanceof TokenError)) return checkVerified(jws, rules, opts)
    // A remote key set may not hold the key yet (first request, or the first after a rotation): wait
    // for its one shared fetch, then verify once more. A token whose kid is known never comes here.
    const fetching =
      remote !== undefined && jws instanceof TokenUnknownKeyError ? remote.whenKeyMissing() : undefined
    if (fetching === undefined) return jws
    return fetching.then(() => {
      const again = verifyJws(token)
      return again instanceof TokenError ? again : checkVerified(again, rules, opts)
    })
  }
  const verifyInline = throwingVerify(verifyOrRefuse)

  function checkVerified<C>(
    { header, payload }: VerifiedJws,
    rules: ClaimRules,
    opts: VerifyOptions | undefined,
  ): Refusable<C> {
    const checked = checkClaims(header, payload, rules, Date.now() / 1000)
    if (checked instanceof TokenError) return checked
    const claims = checked as JwtClaims<C>
    const result: VerifiedToken<C> = { header, claims, identity: claims[config.identityClaim] as string }
    if (revocation === undefined || opts?.skipRevocationCheck === true) return result
    const revoked = revocation.isRevoked({
      jti: claims.jti,
      // A token created without a session is its own: `revokeSession(jti)` refuses it, and with it the
      // implicit refreshes made from it (they carry its jti as their sid, engine.ts).
      sid: typeof claims.sid === 'string' ? claims.sid : claims.jti,
      sub: result.identity,
      iat: claims.iat,
    })
    if (typeof revoked === 'boolean') return finish(result, revoked)
    // A store's own thenable becomes a native promise, so callers can tell an answer from a pending one.
    return Promise.resolve(revoked).then((r) => finish(result, r))
  }

  const toIdentity = (identity: unknown): string => {
    let value = identity
    if (config.identityFrom !== undefined && typeof identity === 'object' && identity !== null) {
      value = config.identityFrom(identity)
    }
    if (typeof value === 'number' && Number.isFinite(value)) value = String(value)
    if (typeof value !== 'string' || value === '') {
      throw new ConfigurationError(
        'identity',
        typeof identity === 'object' && identity !== null && config.identityFrom === undefined
          ? 'the identity is an object: configure "identityFrom" to turn it into a string'
          : 'the identity must be a non-empty string (or a number)',
      )
    }
    return value
  }

  // A verify-only engine (public keys, importJwks, remoteJwks) is refused here, at the call that signs.
  const signer = (): TesseraKey => {
    const key = remote === undefined ? ring.active : undefined
    if (key?.canSign !== true) {
      throw new ConfigurationError(
        'keys',
        'this engine only verifies: its keys are public keys (importJwks, remoteJwks or a publicKey), so it cannot create tokens; only the issuer, with the private key, signs',
      )
    }
    return key
  }

  async function createToken(
    type: TokenType,
    identity: unknown,
    opts: CreateTokenOptions = {},
  ): Promise<string> {
    signer()
    const sub = toIdentity(identity)
    const now = nowSeconds()
    const ttl =
      opts.expiresIn === undefined
        ? type === 'access'
          ? config.accessTokenTtl
          : config.refreshTokenTtl
        : parseDuration(opts.expiresIn, 'expiresIn')
    const bound = config.maxTokenAge?.[type]
    if (bound !== undefined && ttl > bound) {
      // Named after what set the lifetime: this call's expiresIn, or the engine's lifetime of the type.
      const option = opts.expiresIn === undefined ? `${type}TokenTtl` : 'expiresIn'
      throw new ConfigurationError(
        option,
        `${ttl} s is longer than maxTokenAge allows for ${type} tokens (${bound} s): verification would refuse the token; raise maxTokenAge, or set it to 'ttl' (each type's own lifetime)`,
      )
    }
    const hooked =
      config.additionalClaims === undefined ? undefined : await config.additionalClaims(sub, { type })
    const hookedHeaders =
      config.additionalHeaders === undefined ? undefined : await config.additionalHeaders(sub, { type })
    const claims: Record<string, unknown> = {}
    for (const extra of [hooked, opts.claims]) {
      if (extra === undefined) continue
      for (const [name, value] of Object.entries(extra)) {
        if (RESERVED_CLAIMS.has(name) || name === config.identityClaim) {
          throw new ConfigurationError(
            `claims.${name}`,
            'is reserved; set it through its own option (expiresIn, fresh, sid, …)',
          )
        }
        claims[name] = value
      }
    }
    claims[config.identityClaim] = sub
    claims.iat = now
    if (config.writeNbf) claims.nbf = now
    claims.exp = now + ttl
    claims.jti = opts.jti ?? randomBytes(16).toString('base64url')
    claims.type = type
    claims.fresh = type === 'access' ? freshness(opts.fresh, now) : false
    if (opts.sid !== undefined) claims.sid = opts.sid
    if (opts.csrf !== undefined && opts.csrf !== false) {
      claims.csrf = opts.csrf === true ? randomBytes(16).toString('base64url') : opts.csrf
    }
    const audience = opts.audience ?? config.audience
    if (audience !== undefined)
      claims.aud =
        typeof audience === 'string' ? audience : audience.length === 1 ? audience[0] : [...audience]
    const issuer = opts.issuer ?? config.issuer?.[0]
    if (issuer !== undefined) claims.iss = issuer

    const key = signer()
    const extraHeaders = { ...hookedHeaders, ...opts.headers }
    let headerSegment: string
    if (Object.keys(extraHeaders).length === 0) {
      const cacheKey = `${key.kid}\u0000${type}`
      headerSegment =
        headerSegments.get(cacheKey) ?? encode({ alg: key.alg, kid: key.kid, typ: TOKEN_TYP[type] })
      headerSegments.set(cacheKey, headerSegment)
    } else {
      for (const name of Object.keys(extraHeaders)) {
        if (RESERVED_HEADERS.has(name)) throw new ConfigurationError(`headers.${name}`, 'cannot be set')
      }
      headerSegment = encode({ ...extraHeaders, alg: key.alg, kid: key.kid, typ: TOKEN_TYP[type] })
    }
    const signingInput = `${headerSegment}.${encode(claims)}`
    return `${signingInput}.${key.sign(signingInput)}`
  }

  const requireStore = (): NonNullable<typeof revocation> => {
    if (revocation === undefined)
      throw new ConfigurationError('revocation', 'revocation is turned off (revocation: false)')
    return revocation
  }
  // Every token that can still pass verification was issued at most this long ago (plus the leeway).
  const longestLifetime =
    config.maxTokenAge === undefined
      ? Math.max(config.accessTokenTtl, config.refreshTokenTtl)
      : Math.max(config.maxTokenAge.access, config.maxTokenAge.refresh)

  return {
    config,
    keys: ring,
    createAccessToken: (identity, opts) => createToken('access', identity, opts),
    createRefreshToken: (identity, opts) => createToken('refresh', identity, opts),
    verify: async (token, opts) => verifyInline(token, opts),
    verifyInline,
    async revokeToken(claims) {
      if (typeof claims.jti !== 'string' || typeof claims.exp !== 'number') {
        throw new ConfigurationError('revokeToken', 'expected verified claims with "jti" and "exp"')
      }
      await requireStore().revokeToken(claims.jti, revocationExpiry(claims.exp, config.leeway))
    },
    async revokeSession(sid, expiresAt = nowSeconds() + longestLifetime) {
      await requireStore().revokeSession(sid, revocationExpiry(expiresAt, config.leeway))
    },
    async revokeUser(sub, before = nowSeconds() + 1) {
      await requireStore().revokeUser(
        sub,
        before,
        revocationExpiry(nowSeconds() + longestLifetime, config.leeway),
      )
    },
    jwks: () => ring.jwks(),
  }
}

function freshness(fresh: boolean | Duration | undefined, now: number): boolean | number {
  if (fresh === undefined || fresh === false) return false
  if (fresh === true) return true
  return now + parseDuration(fresh, 'fresh')
}

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/**
 * What a {@link RefusingVerify} answers: the verified token, or the refusal as a value; a promise of
 * either when a step is asynchronous (a remote key set's fetch, an asynchronous revocation store).
 */
export type Refusable<C = AppClaims> = VerifiedToken<C> | TokenError | Promise<VerifiedToken<C> | TokenError>

/**
 * {@link Tessera.verifyInline} with every token refusal **returned** as a {@link TokenError} instead of
 * thrown (or rejected). Anything else (a bad option, a revocation store that fails) still throws or
 * rejects. Adapters call it on the hot path: a thrown exception costs a refused request several µs in
 * V8, a returned one nothing.
 */
export type RefusingVerify = (token: unknown, options?: VerifyOptions) => Refusable

type VerifyInline = Tessera['verifyInline']

// Each `verifyInline` made by `throwingVerify`, with the refusing verifier it throws from.
const refusingOf = new WeakMap<VerifyInline, RefusingVerify>()

const raise = <C>(value: VerifiedToken<C> | TokenError): VerifiedToken<C> => {
  if (value instanceof TokenError) throw value
  return value
}

/**
 * The `verifyInline` of a {@link RefusingVerify}: the same answers, refusals thrown (or rejected). It
 * remembers `verify`, so {@link refusingVerify} of the function returned is `verify` itself: build a
 * wrapper's `verifyInline` with this to keep the adapters' fast refusals.
 *
 * @example
 * const own = refusingVerify(auth)
 * const wrapped = { ...auth, verifyInline: throwingVerify((token, options) => extraChecks(own(token, options))) }
 */
export function throwingVerify(verify: RefusingVerify): VerifyInline {
  const verifyInline = <C = AppClaims>(
    token: unknown,
    options?: VerifyOptions,
  ): VerifiedToken<C> | Promise<VerifiedToken<C>> => {
    // The caller's C is its assertion about the claims, as with verifyInline.
    const answer = verify(token, options) as Refusable<C>
    if (answer instanceof TokenError) throw answer
    return isPending(answer) ? Promise.resolve(answer).then(raise<C>) : answer
  }
  refusingOf.set(verifyInline, verify)
  return verifyInline
}

/**
 * The refusing form of `auth.verifyInline`: the verifier it was built from (`createTessera`'s own, or
 * one given to {@link throwingVerify}), or, for any other `verifyInline` (a wrapper written by hand),
 * that function with its thrown {@link TokenError}s caught and returned. A hand-written wrapper is
 * therefore never bypassed; it only keeps the cost of its throw.
 */
export function refusingVerify(auth: Pick<Tessera, 'verifyInline'>): RefusingVerify {
  const own = refusingOf.get(auth.verifyInline)
  if (own !== undefined) return own
  return (token, options) => {
    let answer: VerifiedToken | Promise<VerifiedToken>
    try {
      // Called on `auth`, as the adapters always did: a wrapper written as a method keeps its `this`.
      answer = auth.verifyInline(token, options)
    } catch (error) {
      if (error instanceof TokenError) return error
      throw error
    }
    return isPending(answer) ? Promise.resolve(answer).catch(refusal) : answer
  }
}

// A promise or any thenable (a hand-written verifier may return one): never a verified token.
function isPending<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown }).then === 'function'
}

const refusal = (error: unknown): TokenError => {
  if (error instanceof TokenError) return error
  throw error
}
