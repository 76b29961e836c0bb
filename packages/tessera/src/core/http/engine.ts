/**
 * The framework-independent request pipeline both adapters run (every method, OPTIONS too): find the token, CSRF
 * checks for cookies, `verifyInline`, the app's hooks, roles and scopes, implicit refresh. The result is
 * returned synchronously when nothing on the way is asynchronous (the common case: a header token, the
 * in-memory revocation store, no hooks), so adapters only await when they are handed a promise.
 */
import { isNumericDate, RESERVED_CLAIMS } from '../claims.js'
import {
  ClaimsVerificationFailedError,
  ConfigurationError,
  ForbiddenError,
  TokenError,
  TokenMissingError,
  TokenRevokedError,
  UserNotFoundError,
  type AnyTesseraError,
} from '../errors.js'
import { isRemoteJwks } from '../remote-jwks.js'
import { refusingVerify, type Refusable, type Tessera } from '../tessera.js'
import type { TokenType, VerifiedToken } from '../types.js'
import {
  clearCookies,
  isLoopbackHost,
  resolveSetCookieOptions,
  tokenCookies,
  type SetCookieOptions,
  type UnsetCookieOptions,
} from './cookies.js'
import { checkCsrfClaim, checkOrigin, csrfBeforeRefusal, readCsrfValue } from './csrf.js'
import { missingVariant, readToken } from './locate.js'
import { resolveAdapterOptions, type AdapterOptions, type ResolvedAdapterOptions } from './options.js'
import { errorResponse, flaskRefusal, withConfiguredStatus } from './respond.js'
import { resolveRoute, type ResolvedRoute, type RouteOptions } from './route.js'
import type { ErrorResponse, HttpIO, RequestJwt, TokenLocation } from './types.js'

/** What an adapter builds on: resolved options and the request pipeline. */
export interface HttpAuth<C, U> {
  /** The core engine. */
  readonly auth: Tessera
  /** The resolved, frozen adapter options. */
  readonly options: ResolvedAdapterOptions<C, U>
  /** Validates a route's options once, at declaration. */
  route(options?: RouteOptions, path?: string): ResolvedRoute
  /**
   * The route options of one `verifyRequest` call, validated on first use and remembered per options
   * object, so a call site passing the same object pays once. `fn` names the call in messages.
   */
  callRoute(options: RouteOptions | undefined, fn: string): ResolvedRoute
  /**
   * Authenticates a request: the context, `null` (optional without a token), or a promise
   * of either when a step was asynchronous. A missing or refused token found synchronously is
   * **returned** as its {@link TokenError} (a throw would cost the refused request several µs); other
   * failures (CSRF, roles, the app's hooks, an asynchronous step's refusal) are thrown or rejected.
   */
  authenticate<Req, Res>(
    io: HttpIO<Req, Res>,
    req: Req,
    res: Res,
    route: ResolvedRoute,
  ): RequestJwt<C, U> | null | TokenError | Promise<RequestJwt<C, U> | null>
  /** The HTTP answer to a Tessera error. */
  errorResponse(error: AnyTesseraError): ErrorResponse
  /** Whether cookies set in answer to `req` get the `Secure` attribute. */
  isSecure<Req>(io: HttpIO<Req, unknown>, req: Req): boolean
  /** Appends the cookies storing `token` (an access or refresh token) to the reply. */
  setCookies<Req, Res>(
    io: HttpIO<Req, Res>,
    req: Req,
    res: Res,
    type: TokenType,
    token: string,
    options?: SetCookieOptions,
  ): void
  /** Appends the cookies deleting the JWT (and CSRF) cookies of each type. */
  clearCookies<Req, Res>(
    io: HttpIO<Req, Res>,
    req: Req,
    res: Res,
    types: readonly TokenType[],
    options?: UnsetCookieOptions,
  ): void
}

/**
 * Builds the pipeline for `auth` with adapter options, validated here: a bad option throws a
 * {@link ConfigurationError} naming it. `extraKeys` are adapter-specific option names to let through.
 */
export function createHttpAuth<C, U>(
  auth: Tessera,
  options: AdapterOptions<C, U> = {},
  extraKeys: readonly string[] = [],
): HttpAuth<C, U> {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- guard for JavaScript callers
  if (typeof auth !== 'object' || auth === null || typeof auth.verifyInline !== 'function') {
    throw new ConfigurationError('auth', 'expected the engine returned by createTessera()')
  }
  const o = resolveAdapterOptions(options, extraKeys)
  // A resource server's engine holds public keys only: refuse at start-up what would need to sign.
  if (o.implicitRefresh !== undefined && (isRemoteJwks(auth.keys) || !auth.keys.active.canSign)) {
    throw new ConfigurationError(
      'implicitRefresh',
      'the engine only verifies (public keys): it cannot issue the refreshed access token',
    )
  }
  const csrf = o.csrf
  // The refusal the flask-jwt-extended preset reports for a refused token (its order of checks).
  const refusal = o.errors.flask ? flaskRefusal(auth.config) : undefined
  // The answer to a token `verify` refused: the preset's reordering, then a wrong CSRF value first where
  // the order of checks puts it first (csrfBeforeRefusal). Refusals only: an accepted request pays nothing.
  const refuse = <Req>(
    io: HttpIO<Req, unknown>,
    req: Req,
    error: TokenError,
    csrfValue: string | undefined,
    route: ResolvedRoute,
  ): TokenError => {
    const refused = refusal === undefined ? error : refusal(error)
    return csrfValue === undefined
      ? refused
      : csrfBeforeRefusal(io, req, refused, csrfValue, route.csrf, o.errors.flask)
  }
  const hooks = o.userLookup !== undefined || o.verifyClaims !== undefined || o.tokenInBlocklist !== undefined
  const identityClaim = auth.config.identityClaim

  const isSecure = <Req>(io: HttpIO<Req, unknown>, req: Req): boolean =>
    o.cookies.secure === 'auto'
      ? io.protocol(req) === 'https' || !isLoopbackHost(io.host(req))
      : o.cookies.secure

  const checkAccess = (v: VerifiedToken<C>, route: ResolvedRoute): void => {
    if (route.roles !== undefined) {
      const have = v.claims[o.rolesClaim]
      const roles = route.roles
      const ok =
        typeof have === 'string'
          ? roles.includes(have)
          : Array.isArray(have) && roles.some((r) => have.includes(r))
      if (!ok)
        throw new ForbiddenError(`One of these roles is required: ${roles.join(', ')}`, v.header, v.claims)
    }
    if (route.scopes !== undefined) {
      const have = v.claims[o.scopeClaim]
      const list: unknown[] = typeof have === 'string' ? have.split(' ') : Array.isArray(have) ? have : []
      if (!route.scopes.every((s) => list.includes(s))) {
        throw new ForbiddenError(`These scopes are required: ${route.scopes.join(' ')}`, v.header, v.claims)
      }
    }
  }

  const refreshDue = (v: VerifiedToken<C>, location: TokenLocation): boolean =>
    o.implicitRefresh !== undefined &&
    location === 'cookies' &&
    v.claims.type === 'access' &&
    v.claims.exp - Date.now() / 1000 < o.implicitRefresh.window

  // A refresh mints a new jti and iat that no revocation names: on a route that skipped the revocation
  // check, run it (the store, then the hook) first, or a revoked token would come back as a valid one.
  // A revoked token, or a check that fails, gets no new cookie; the route is served as it asked.
  const mayReissue = async (token: string, route: ResolvedRoute, v: VerifiedToken<C>): Promise<boolean> => {
    if (route.revocationRecheck === false) return true
    try {
      if ((await verify(token, route.revocationRecheck)) instanceof TokenError) return false
      return o.tokenInBlocklist === undefined || !(await o.tokenInBlocklist(v))
    } catch {
      return false
    }
  }

  // Responses that already carry a re-issued access cookie: a route behind two guards (a router-wide
  // one, then its own) authenticates twice, and would otherwise sign and set two new tokens.
  const reissued = new WeakSet<object>()

  const reissue = async <Req, Res>(
    io: HttpIO<Req, Res>,
    req: Req,
    res: Res,
    v: VerifiedToken<C>,
    old: string,
    route: ResolvedRoute,
  ): Promise<void> => {
    // A chain of implicit refreshes ends when a refresh token made at its first token would have
    // expired: a stolen cookie presented now and then must not stay valid for ever. Each new token
    // carries the chain's start as `orig_iat` (the claim djangorestframework-jwt's refresh chains use;
    // not RFC 9068's `auth_time`, which would tell resource servers the user authenticated then).
    const startedAt = chainStart(v.claims)
    if (Date.now() / 1000 - startedAt >= auth.config.refreshTokenTtl) return
    const response = res as object
    if (reissued.has(response)) return
    reissued.add(response)
    if (!(await mayReissue(old, route, v))) return
    const pick = o.implicitRefresh?.claims
    const claims: Record<string, unknown> = {}
    if (pick === undefined) {
      for (const [key, value] of Object.entries(v.claims)) {
        if (!RESERVED_CLAIMS.has(key) && key !== identityClaim) claims[key] = value
      }
    }
    const token = await auth.createAccessToken(v.identity, {
      claims: { ...(pick === undefined ? claims : pick(v.claims)), orig_iat: startedAt },
      // A token created without a session starts one named by its jti: `auth.revokeSession(sid ?? jti)`
      // then reaches every token refreshed from it, which revoking the first token's jti alone would not.
      sid: v.claims.sid ?? v.claims.jti,
      // Keeping the CSRF value lets requests already in flight with the old header still pass.
      csrf: v.claims.csrf ?? csrf.protect,
    })
    for (const cookie of tokenCookies('access', token, isSecure(io, req), o.cookies, csrf))
      io.appendSetCookie(res, cookie)
  }

  /** When the chain of implicit refreshes `claims` belongs to began: its `orig_iat`, else its `iat`. */
  const chainStart = (claims: VerifiedToken<C>['claims']): number => {
    const iat = claims.iat ?? Math.floor(Date.now() / 1000)
    const start = (claims as { orig_iat?: unknown }).orig_iat
    return isNumericDate(start) && start <= iat ? start : iat
  }

  const context = (v: VerifiedToken<C>, location: TokenLocation, user: U): RequestJwt<C, U> => ({
    header: v.header,
    claims: v.claims,
    identity: v.identity,
    location,
    user,
  })

  // The app's hooks, in order: blocklist, claims check, user lookup (resolves to the user found).
  const runHooks = async (v: VerifiedToken<C>, route: ResolvedRoute): Promise<U> => {
    if (route.checkBlocklist && o.tokenInBlocklist !== undefined && (await o.tokenInBlocklist(v))) {
      throw new TokenRevokedError('The token has been revoked', v.header, v.claims)
    }
    if (o.verifyClaims !== undefined && !(await o.verifyClaims(v))) {
      throw new ClaimsVerificationFailedError('The token claims were refused', v.header, v.claims)
    }
    if (o.userLookup === undefined) return undefined as U
    const found = await o.userLookup(v)
    if (found === null || found === undefined) {
      // flask-jwt-extended's text names the identity (default_callbacks.py); a client may match on it.
      const message = o.errors.flask
        ? `Error loading the user ${v.identity}`
        : 'No user matches the token identity'
      throw new UserNotFoundError(message, v.header, v.claims)
    }
    return found
  }

  const accept = <Req, Res>(
    io: HttpIO<Req, Res>,
    req: Req,
    res: Res,
    route: ResolvedRoute,
    v: VerifiedToken<C>,
    token: string,
    location: TokenLocation,
    csrfValue: string | undefined,
  ): RequestJwt<C, U> | Promise<RequestJwt<C, U>> => {
    if (csrfValue !== undefined) checkCsrfClaim(io, req, v, csrfValue, route.csrf, o.errors.flask)
    // Roles and scopes, then the implicit refresh when due; asynchronous only when a refresh is.
    const grant = (user: U): RequestJwt<C, U> | Promise<RequestJwt<C, U>> => {
      checkAccess(v, route)
      const ctx = context(v, location, user)
      return refreshDue(v, location) ? reissue(io, req, res, v, token, route).then(() => ctx) : ctx
    }
    return hooks ? runHooks(v, route).then(grant) : grant(undefined as U)
  }

  // The engine's verifier with refusals as values (refusingVerify). Looked up again whenever the app
  // replaces `auth.verifyInline`: a hand-written wrapper is then called, never bypassed.
  // eslint-disable-next-line @typescript-eslint/unbound-method -- compared by identity, never called
  let verifyInline = auth.verifyInline
  let verify = refusingVerify(auth)

  const authenticate: HttpAuth<C, U>['authenticate'] = (io, req, res, route) => {
    // Every method is authenticated, OPTIONS too: flask-jwt-extended exempts it (its views rarely take
    // OPTIONS), but an Express `app.all`/`router.all` or Fastify `all` handler behind a guard would then
    // serve a token-less OPTIONS request (HTTP verb tampering). CORS preflights carry no credentials:
    // CORS middleware answers them before any guard (cors, @fastify/cors).
    let token: string | undefined
    let location: TokenLocation = 'headers'
    for (const candidate of route.locations) {
      token = readToken(io, req, candidate, o, route)
      if (token !== undefined) {
        location = candidate
        break
      }
    }
    if (token === undefined) {
      if (route.optional) return null
      const messages = route.missingMessages
      return new TokenMissingError(
        messages === undefined ? route.missingMessage : (messages[missingVariant(io, req, o, route)] ?? ''),
      )
    }
    let csrfValue: string | undefined
    if (location === 'cookies' && csrf.protect && csrf.methods.has(io.method(req))) {
      if (csrf.checkOrigin) checkOrigin(io, req, csrf)
      csrfValue = readCsrfValue(io, req, csrf, route.csrf)
    }
    if (auth.verifyInline !== verifyInline) {
      // eslint-disable-next-line @typescript-eslint/unbound-method -- compared by identity, never called
      verifyInline = auth.verifyInline
      verify = refusingVerify(auth)
    }
    // The app's C is its assertion about the claims, as with verifyInline<C>.
    const verified = verify(token, route.verify) as Refusable<C>
    if (verified instanceof TokenError) return refuse(io, req, verified, csrfValue, route)
    if (isPromiseLike(verified)) {
      const at = location
      const found = token
      return Promise.resolve(verified).then((v) => {
        if (v instanceof TokenError) throw refuse(io, req, v, csrfValue, route)
        return accept(io, req, res, route, v, found, at, csrfValue)
      })
    }
    return accept(io, req, res, route, verified, token, location, csrfValue)
  }

  // With `errors.respond: false` the framework answers from `error.status` (Fastify's error handler,
  // Express's finalhandler): it carries the configured status, so `errors.status` holds there too.
  const passOn = (error: unknown): never => {
    throw withConfiguredStatus(error, o.errors)
  }
  const authenticateOrPassOn: HttpAuth<C, U>['authenticate'] = (io, req, res, route) => {
    try {
      const result = authenticate(io, req, res, route)
      if (result instanceof TokenError) return passOn(result)
      return result instanceof Promise ? result.catch(passOn) : result
    } catch (error) {
      return passOn(error)
    }
  }

  const defaultCallRoutes = new Map<string, ResolvedRoute>()
  const callRoutes = new WeakMap<object, ResolvedRoute>()

  return {
    auth,
    options: o,
    route: (routeOptions, path) => resolveRoute(o, routeOptions, path),
    callRoute(routeOptions, fn) {
      if (routeOptions === undefined) {
        let route = defaultCallRoutes.get(fn)
        if (route === undefined) defaultCallRoutes.set(fn, (route = resolveRoute(o, undefined, fn)))
        return route
      }
      let route = callRoutes.get(routeOptions)
      if (route === undefined) callRoutes.set(routeOptions, (route = resolveRoute(o, routeOptions, fn)))
      return route
    },
    authenticate: o.errors.respond ? authenticate : authenticateOrPassOn,
    errorResponse: (error) => errorResponse(error, o.errors),
    isSecure,
    setCookies(io, req, res, type, token, callOptions) {
      const fn = type === 'access' ? 'setAccessCookies' : 'setRefreshCookies'
      const call = resolveSetCookieOptions(callOptions, fn, true)
      for (const cookie of tokenCookies(type, token, isSecure(io, req), o.cookies, csrf, undefined, call))
        io.appendSetCookie(res, cookie)
    },
    clearCookies(io, req, res, types, callOptions) {
      const { domain } = resolveSetCookieOptions(callOptions, 'unsetCookies', false)
      const secure = isSecure(io, req)
      for (const type of types)
        for (const cookie of clearCookies(type, secure, o.cookies, csrf, domain))
          io.appendSetCookie(res, cookie)
    },
  }
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown }).then === 'function'
}
