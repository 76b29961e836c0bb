/**
 * `tessera/express`: Express 5 middleware, Express 4 compatible. Same options and errors as the Fastify
 * plugin. Failures are answered by the middleware itself by default, since an Express app without an
 * error middleware would turn them into 500s; `errors.respond: false` hands them to `next(err)`.
 *
 * @packageDocumentation
 */
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express'
import { ConfigurationError, TokenError, isTesseraError, type AnyTesseraError } from '../core/errors.js'
import { createHttpAuth } from '../core/http/engine.js'
import type { SetCookieOptions, UnsetCookieOptions } from '../core/http/cookies.js'
import type { AdapterOptions } from '../core/http/options.js'
import type { ResolvedRoute, RouteOptions } from '../core/http/route.js'
import type { ErrorResponse, HttpIO, RequestJwt } from '../core/http/types.js'
import type { Tessera } from '../core/tessera.js'
import type { AppClaims, AppUser } from '../core/types.js'

declare module 'express-serve-static-core' {
  interface Request {
    /**
     * The verified token of a route protected by `jwtRequired`: claims, header, identity, location and
     * user. `null` on optional routes without a token; unset on unprotected routes.
     */
    jwt?: RequestJwt | null | undefined
  }
}

/**
 * The middleware `required()` and `jwtRequired()` return. Generic in the route parameters, so the
 * handlers after it keep what Express infers from the path (`'/items/:id'` → `req.params.id: string`):
 * a plain `RequestHandler` there would pin them to `ParamsDictionary` (`string | string[]` in Express
 * 5's types). Assignable to `RequestHandler`.
 */
export type JwtGuard = <P>(req: Request<P>, res: Response, next: NextFunction) => void

/** Options of {@link tesseraExpress}: the adapter options shared with Fastify. */
export type TesseraExpressOptions<C = AppClaims, U = AppUser> = AdapterOptions<C, U>

/** The Express integration returned by {@link tesseraExpress}. */
export interface TesseraExpress<C = AppClaims, U = AppUser> {
  /** The core engine. */
  readonly auth: Tessera
  /**
   * Middleware protecting a route (`@jwt_required()`).
   *
   * @example router.get('/admin', jwt.required({ roles: ['admin'] }), handler)
   */
  required(options?: RouteOptions): JwtGuard
  /**
   * Authenticates a request from your own code, with the options of `required`
   * (`verify_jwt_in_request()`): resolves to the context it also sets as `req.jwt` (`null` for an
   * optional call without a token), or rejects with the error a guard would have answered; pass it to
   * `next` and `app.use(jwt.errorHandler())` answers it the same way.
   *
   * @example
   * app.get('/feed', (req, res, next) => {
   *   jwt.verifyRequest(req, res, { optional: true }).then((ctx) => {
   *     res.json(ctx === null ? publicFeed() : feedFor(ctx.identity))
   *   }, next)
   * })
   */
  verifyRequest(req: Request, res: Response, options?: RouteOptions): Promise<RequestJwt<C, U> | null>
  /**
   * Sets the HttpOnly access token cookie and its readable CSRF cookie (`set_access_cookies`);
   * `options.maxAge` and `options.domain` override the configured values for this response.
   */
  setAccessCookies(res: Response, token: string, options?: SetCookieOptions): void
  /** Sets the HttpOnly refresh token cookie, scoped to the refresh path, and its CSRF cookie. */
  setRefreshCookies(res: Response, token: string, options?: SetCookieOptions): void
  /** Deletes the access and refresh cookies and their CSRF cookies (`unset_jwt_cookies`). */
  unsetJwtCookies(res: Response, options?: UnsetCookieOptions): void
  /** Deletes the access token cookie and its CSRF cookie. */
  unsetAccessCookies(res: Response, options?: UnsetCookieOptions): void
  /** Deletes the refresh token cookie and its CSRF cookie. */
  unsetRefreshCookies(res: Response, options?: UnsetCookieOptions): void
  /** Error middleware answering Tessera errors passed to `next(err)`; others go on to the next handler. */
  errorHandler(): ErrorRequestHandler
  /** The response the middleware would send for `error`. */
  errorResponse(error: AnyTesseraError): ErrorResponse
  /** `req.jwt` typed with this integration's claims and user types. */
  getJwt(req: Request): RequestJwt<C, U> | null
}

/** What Express compiles `trust proxy` into (its `trust proxy fn` setting): is the peer at `hop` a proxy to trust? */
type TrustProxy = (address: string | undefined, hop: number) => boolean

/**
 * The host the client asked for, as Fastify's `request.host` has it: the `Host` header, or
 * `X-Forwarded-Host` when the app's `trust proxy` setting trusts the peer; port included (the Origin
 * check compares `scheme://host[:port]`). Express 5's `req.host` is exactly that. Express 4's
 * `req.host` is its `req.hostname` (port dropped), so there the same choice is made with the trust
 * function Express 4 compiles from `trust proxy` for its own `req.hostname`.
 */
function forwardedHost(req: Request): string | undefined {
  // Express 5 removed req.param(): its presence means Express 4.
  if (!('param' in req)) return req.host
  const trust = req.app.get('trust proxy fn') as TrustProxy | undefined
  const forwarded = req.get('x-forwarded-host')
  const host =
    forwarded !== undefined && forwarded !== '' && trust !== undefined && trust(req.socket.remoteAddress, 0)
      ? forwarded.split(',', 1)[0]?.trimEnd()
      : req.get('host')
  return host === '' ? undefined : host
}

const io: HttpIO<Request, Response> = {
  method: (req) => req.method,
  header: (req, name) => {
    const value = req.headers[name]
    return typeof value === 'string' ? value : undefined
  },
  query: (req, name) => {
    const query: unknown = req.query
    return typeof query === 'object' && query !== null && Object.hasOwn(query, name)
      ? (query as Record<string, unknown>)[name]
      : undefined
  },
  body: (req) => req.body as unknown,
  protocol: (req) => req.protocol,
  host: forwardedHost,
  appendSetCookie: (res, cookie) => {
    res.append('Set-Cookie', cookie)
  },
}

function send(res: Response, response: ErrorResponse): void {
  res.status(response.status)
  for (const [header, value] of Object.entries(response.headers)) res.setHeader(header, value)
  res.json(response.body)
}

/**
 * Builds the Express integration: options are validated once, here.
 *
 * @example
 * const jwt = tesseraExpress(auth, { tokenLocations: ['headers', 'cookies'] })
 * app.get('/protected', jwt.required(), (req, res) => { res.json({ logged_in_as: req.jwt?.identity }) })
 */
export function tesseraExpress<C = AppClaims, U = AppUser>(
  auth: Tessera,
  options?: TesseraExpressOptions<C, U>,
): TesseraExpress<C, U> {
  const engine = createHttpAuth(auth, options)
  const respond = engine.options.errors.respond

  const fail = (error: unknown, res: Response, next: NextFunction): void => {
    if (respond && isTesseraError(error)) send(res, engine.errorResponse(error))
    else next(error)
  }

  const middleware = (route: ResolvedRoute): JwtGuard => {
    const guard: RequestHandler = function tesseraJwtRequired(req, res, next) {
      let result: RequestJwt<C, U> | null | TokenError | Promise<RequestJwt<C, U> | null>
      try {
        result = engine.authenticate(io, req, res, route)
      } catch (error) {
        fail(error, res, next)
        return
      }
      if (result instanceof TokenError) {
        fail(result, res, next)
        return
      }
      if (result instanceof Promise) {
        result.then(
          (jwt) => {
            req.jwt = jwt
            next()
          },
          (error: unknown) => {
            fail(error, res, next)
          },
        )
        return
      }
      req.jwt = result
      next()
    }
    // The guard reads only what every route has (headers, cookies, query, body): any `P` will do.
    return guard as JwtGuard
  }

  const integration: TesseraExpress<C, U> = {
    auth,
    required: (routeOptions) => middleware(engine.route(routeOptions)),
    async verifyRequest(req, res, routeOptions) {
      const jwt = await engine.authenticate(io, req, res, engine.callRoute(routeOptions, 'verifyRequest'))
      if (jwt instanceof TokenError) throw jwt
      req.jwt = jwt
      return jwt
    },
    setAccessCookies(res, token, cookieOptions) {
      engine.setCookies(io, res.req, res, 'access', token, cookieOptions)
    },
    setRefreshCookies(res, token, cookieOptions) {
      engine.setCookies(io, res.req, res, 'refresh', token, cookieOptions)
    },
    unsetJwtCookies(res, cookieOptions) {
      engine.clearCookies(io, res.req, res, ['access', 'refresh'], cookieOptions)
    },
    unsetAccessCookies(res, cookieOptions) {
      engine.clearCookies(io, res.req, res, ['access'], cookieOptions)
    },
    unsetRefreshCookies(res, cookieOptions) {
      engine.clearCookies(io, res.req, res, ['refresh'], cookieOptions)
    },
    errorHandler: () =>
      function tesseraErrorHandler(error: unknown, _req: Request, res: Response, next: NextFunction) {
        if (isTesseraError(error) && !res.headersSent) send(res, engine.errorResponse(error))
        else next(error)
      },
    errorResponse: (error) => engine.errorResponse(error),
    getJwt: (req) => (req.jwt ?? null) as RequestJwt<C, U> | null,
  }
  integrations.add(integration)
  return integration
}

/** Any integration, whatever its claims and user types. */
export type AnyTesseraExpress = Omit<TesseraExpress, 'getJwt' | 'verifyRequest'> & {
  verifyRequest(req: Request, res: Response, options?: RouteOptions): Promise<unknown>
}

const integrations = new WeakSet<object>()
const defaults = new WeakMap<Tessera, TesseraExpress>()

function from(source: Tessera | AnyTesseraExpress, fn: string): AnyTesseraExpress {
  if (integrations.has(source)) return source as AnyTesseraExpress
  if (typeof source !== 'object' || !('verifyInline' in source)) {
    throw new ConfigurationError(
      fn,
      'expected the engine from createTessera() or an integration from tesseraExpress()',
    )
  }
  let integration = defaults.get(source)
  if (integration === undefined) {
    integration = tesseraExpress(source)
    defaults.set(source, integration)
  }
  return integration
}

/**
 * Middleware protecting a route, from the engine (default options) or an integration.
 *
 * @example
 * app.get('/protected', jwtRequired(auth), (req, res) => {
 *   res.json({ logged_in_as: req.jwt?.identity })
 * })
 */
export function jwtRequired(source: Tessera | AnyTesseraExpress, options?: RouteOptions): JwtGuard {
  return from(source, 'jwtRequired').required(options)
}

/**
 * Authenticates a request from your own code (`verify_jwt_in_request()`), from the engine (default
 * options) or an integration; see {@link TesseraExpress.verifyRequest}.
 */
export async function verifyRequest(
  req: Request,
  res: Response,
  source: Tessera | AnyTesseraExpress,
  options?: RouteOptions,
): Promise<RequestJwt | null> {
  // async: a bad `source` rejects like every other failure instead of throwing.
  return (await from(source, 'verifyRequest').verifyRequest(req, res, options)) as RequestJwt | null
}

/** Sets the access token cookies on `res` (`set_access_cookies(response, token, max_age, domain)`). */
export function setAccessCookies(
  res: Response,
  token: string,
  source: Tessera | AnyTesseraExpress,
  options?: SetCookieOptions,
): void {
  from(source, 'setAccessCookies').setAccessCookies(res, token, options)
}

/** Sets the refresh token cookies on `res` (`set_refresh_cookies(response, token, max_age, domain)`). */
export function setRefreshCookies(
  res: Response,
  token: string,
  source: Tessera | AnyTesseraExpress,
  options?: SetCookieOptions,
): void {
  from(source, 'setRefreshCookies').setRefreshCookies(res, token, options)
}

/** Deletes every JWT and CSRF cookie (`unset_jwt_cookies(response, domain)`). */
export function unsetJwtCookies(
  res: Response,
  source: Tessera | AnyTesseraExpress,
  options?: UnsetCookieOptions,
): void {
  from(source, 'unsetJwtCookies').unsetJwtCookies(res, options)
}

/** `req.jwt` typed with explicit claims and user types (instead of those declared in `TesseraTypes`). */
export function getJwt<C = AppClaims, U = AppUser>(req: Request): RequestJwt<C, U> | null {
  return (req.jwt ?? null) as unknown as RequestJwt<C, U> | null
}

export { getCsrfToken } from '../core/http/cookies.js'
export type {
  AdapterOptions,
  CsrfOptions,
  HeaderOptions,
  ImplicitRefreshOptions,
  JsonOptions,
  QueryOptions,
} from '../core/http/options.js'
export type { CookieOptions, SetCookieOptions, UnsetCookieOptions } from '../core/http/cookies.js'
export type { ErrorFormatters, ErrorOptions } from '../core/http/respond.js'
export type { RouteOptions } from '../core/http/route.js'
export type { ErrorFormatter, ErrorResponse, RequestJwt, TokenLocation } from '../core/http/types.js'
