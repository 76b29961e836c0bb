/**
 * `tessera/fastify`: the Fastify 5 plugin. It finds the token, runs the core pipeline, sets
 * `request.jwt` and answers failures; everything else lives in `core/http`.
 *
 * @packageDocumentation
 */
import type {
  FastifyError,
  FastifyInstance,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  preHandlerHookHandler,
} from 'fastify'
import { ConfigurationError, TokenError, isTesseraError, type AnyTesseraError } from '../core/errors.js'
import { createHttpAuth, type HttpAuth } from '../core/http/engine.js'
import type { SetCookieOptions, UnsetCookieOptions } from '../core/http/cookies.js'
import type { AdapterOptions } from '../core/http/options.js'
import type { ResolvedRoute, RouteOptions } from '../core/http/route.js'
import type { ErrorResponse, HttpIO, RequestJwt } from '../core/http/types.js'
import type { Tessera } from '../core/tessera.js'
import type { AppClaims, AppUser } from '../core/types.js'

/** Options of {@link tesseraFastify}: the engine plus the adapter options shared with Express. */
export interface TesseraFastifyOptions<C = AppClaims, U = AppUser> extends AdapterOptions<C, U> {
  /** The engine returned by `createTessera()`. */
  auth: Tessera
}

/**
 * What the plugin decorates the instance with as `app.tessera`; `jwtRequired` and `verifyRequest` are
 * the same as `app.jwtRequired` and `app.verifyRequest`.
 */
export interface TesseraFastify extends Pick<FastifyInstance, 'jwtRequired' | 'verifyRequest'> {
  /** The core engine: create tokens in login routes with `app.tessera.auth.createAccessToken()`. */
  readonly auth: Tessera
  /** The response the plugin would send for `error`, for apps that set `errors.respond: false`. */
  errorResponse(error: AnyTesseraError): ErrorResponse
  /**
   * An error handler answering Tessera errors as a route guard does (for `verifyRequest` failures and
   * `errors.respond: false`); other errors go on to Fastify's default handler.
   *
   * @example app.setErrorHandler(app.tessera.errorHandler)
   */
  readonly errorHandler: (error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => void
}

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The verified token of a route protected by `jwtRequired`: claims, header, identity, location and
     * user. `null` on unprotected routes and optional routes without a token.
     */
    jwt: RequestJwt | null
  }
  interface FastifyReply {
    /**
     * Sets the HttpOnly access token cookie and its readable CSRF cookie (`set_access_cookies`);
     * `options.maxAge` and `options.domain` override the configured values for this reply.
     */
    setAccessCookies(token: string, options?: SetCookieOptions): FastifyReply
    /** Sets the HttpOnly refresh token cookie, scoped to the refresh path, and its CSRF cookie. */
    setRefreshCookies(token: string, options?: SetCookieOptions): FastifyReply
    /** Deletes the access and refresh cookies and their CSRF cookies (`unset_jwt_cookies`). */
    unsetJwtCookies(options?: UnsetCookieOptions): FastifyReply
    /** Deletes the access token cookie and its CSRF cookie. */
    unsetAccessCookies(options?: UnsetCookieOptions): FastifyReply
    /** Deletes the refresh token cookie and its CSRF cookie. */
    unsetRefreshCookies(options?: UnsetCookieOptions): FastifyReply
  }
  interface FastifyInstance {
    /**
     * A `preHandler` that protects a route (`@jwt_required()`).
     *
     * @example app.get('/admin', { preHandler: app.jwtRequired({ roles: ['admin'] }) }, handler)
     */
    jwtRequired(options?: RouteOptions): preHandlerHookHandler
    /**
     * Authenticates a request from your own code, with the options of `jwtRequired`
     * (`verify_jwt_in_request()`): resolves to the context it also sets as `request.jwt` (`null` for an
     * optional call without a token), or rejects with the error a guard would have answered; let it
     * reach `app.setErrorHandler(app.tessera.errorHandler)` to answer it the same way.
     *
     * @example
     * app.get('/feed', async (request, reply) => {
     *   const jwt = await app.verifyRequest(request, reply, { optional: true })
     *   return jwt === null ? publicFeed() : feedFor(jwt.identity)
     * })
     */
    verifyRequest(
      request: FastifyRequest,
      reply: FastifyReply,
      options?: RouteOptions,
    ): Promise<RequestJwt | null>
    /** The engine and helpers registered by the Tessera plugin. */
    tessera: TesseraFastify
  }
  interface FastifyContextConfig {
    /** Protect this route: `true` or `jwtRequired` options (`{ config: { jwt: { fresh: true } } }`). */
    jwt?: boolean | RouteOptions | undefined
  }
}

const io: HttpIO<FastifyRequest, FastifyReply> = {
  method: (request) => request.method,
  header: (request, name) => {
    const value = request.headers[name]
    return typeof value === 'string' ? value : undefined
  },
  query: (request, name) => {
    const query = request.query
    return typeof query === 'object' && query !== null && Object.hasOwn(query, name)
      ? (query as Record<string, unknown>)[name]
      : undefined
  },
  body: (request) => request.body,
  protocol: (request) => request.protocol,
  host: (request) => request.host,
  appendSetCookie: (reply, cookie) => {
    // Fastify appends repeated set-cookie headers instead of replacing them.
    void reply.header('set-cookie', cookie)
  },
}

// Fastify passes its own register options to the plugin along with ours.
const REGISTER_KEYS = ['auth', 'prefix', 'logLevel', 'logSerializers']

/** Marks the config of a route whose `config.jwt` the plugin enforces (set in `onRoute`). */
const GUARDED = Symbol('tessera.guarded')

const plugin: FastifyPluginCallback<TesseraFastifyOptions> = (app, options, done) => {
  let engine: HttpAuth<AppClaims, AppUser>
  try {
    engine = createHttpAuth(options.auth, options, REGISTER_KEYS)
  } catch (error) {
    // avvio does not catch a callback plugin's synchronous throw: report it as a registration error.
    done(error as Error)
    return
  }
  // A second registration in the same scope would throw from decorateRequest, which avvio does not
  // catch for a callback plugin: the process died on an uncaught exception instead of a rejected register.
  if (app.hasRequestDecorator('jwt') || app.hasDecorator('tessera')) {
    done(
      new ConfigurationError(
        'tesseraFastify',
        'tesseraFastify is already registered in this scope (request.jwt is taken): register it once, or once per encapsulated plugin to use several engines',
      ),
    )
    return
  }
  const respond = engine.options.errors.respond

  const fail = (error: unknown, reply: FastifyReply, next: HookHandlerDoneFunction): void => {
    if (!respond || !isTesseraError(error)) {
      next(error instanceof Error ? error : new Error(String(error)))
      return
    }
    const response = engine.errorResponse(error)
    void reply.code(response.status).headers(response.headers).send(response.body)
  }

  const preHandler = (route: ResolvedRoute): preHandlerHookHandler =>
    function tesseraJwtRequired(request, reply, next) {
      let result: RequestJwt | null | TokenError | Promise<RequestJwt | null>
      try {
        result = engine.authenticate(io, request, reply, route)
      } catch (error) {
        fail(error, reply, next)
        return
      }
      if (result instanceof TokenError) {
        fail(result, reply, next)
        return
      }
      if (result instanceof Promise) {
        result.then(
          (jwt) => {
            request.jwt = jwt
            next()
          },
          (error: unknown) => {
            fail(error, reply, next)
          },
        )
        return
      }
      request.jwt = result
      next()
    }

  const jwtRequired = (routeOptions?: RouteOptions): preHandlerHookHandler =>
    preHandler(engine.route(routeOptions))

  const verifyRequest = async (
    request: FastifyRequest,
    reply: FastifyReply,
    routeOptions?: RouteOptions,
  ): Promise<RequestJwt | null> => {
    const jwt = await engine.authenticate(io, request, reply, engine.callRoute(routeOptions, 'verifyRequest'))
    if (jwt instanceof TokenError) throw jwt
    request.jwt = jwt
    return jwt
  }

  const errorHandler = (error: FastifyError | Error, _request: FastifyRequest, reply: FastifyReply): void => {
    // Thrown on: Fastify hands an error handler's own error to its default handler.
    if (!isTesseraError(error)) throw error
    const response = engine.errorResponse(error)
    void reply.code(response.status).headers(response.headers).send(response.body)
  }

  app.decorateRequest('jwt', null)
  app.decorate('jwtRequired', jwtRequired)
  app.decorate('verifyRequest', verifyRequest)
  app.decorate('tessera', {
    auth: engine.auth,
    jwtRequired,
    verifyRequest,
    errorResponse: (error: AnyTesseraError) => engine.errorResponse(error),
    errorHandler,
  } satisfies TesseraFastify)
  app.decorateReply(
    'setAccessCookies',
    function (this: FastifyReply, token: string, cookieOptions?: SetCookieOptions) {
      engine.setCookies(io, this.request, this, 'access', token, cookieOptions)
      return this
    },
  )
  app.decorateReply(
    'setRefreshCookies',
    function (this: FastifyReply, token: string, cookieOptions?: SetCookieOptions) {
      engine.setCookies(io, this.request, this, 'refresh', token, cookieOptions)
      return this
    },
  )
  app.decorateReply('unsetJwtCookies', function (this: FastifyReply, cookieOptions?: UnsetCookieOptions) {
    engine.clearCookies(io, this.request, this, ['access', 'refresh'], cookieOptions)
    return this
  })
  app.decorateReply('unsetAccessCookies', function (this: FastifyReply, cookieOptions?: UnsetCookieOptions) {
    engine.clearCookies(io, this.request, this, ['access'], cookieOptions)
    return this
  })
  app.decorateReply('unsetRefreshCookies', function (this: FastifyReply, cookieOptions?: UnsetCookieOptions) {
    engine.clearCookies(io, this.request, this, ['refresh'], cookieOptions)
    return this
  })

  // Routes declared with `config: { jwt }` get the preHandler first, before their own. Each is marked in
  // its own copy of the config (Fastify copies it, symbols included, into the route's context): a mark
  // by method and URL would let a later guarded route vouch for an earlier one with the same method and
  // URL under another host or version constraint.
  app.addHook('onRoute', (routeOptions) => {
    const jwt = routeOptions.config?.jwt
    if (jwt === undefined || jwt === false) return
    const marked: Record<symbol, true> = { [GUARDED]: true }
    routeOptions.config = { ...routeOptions.config, ...marked }
    const path = `${String(routeOptions.method)} ${routeOptions.url} config.jwt`
    const guard = preHandler(engine.route(jwt === true ? undefined : jwt, path))
    const existing = routeOptions.preHandler
    routeOptions.preHandler =
      existing === undefined ? [guard] : Array.isArray(existing) ? [guard, ...existing] : [guard, existing]
  })
  // Routes declared before this plugin was registered (in the app or in a plugin registered earlier)
  // never pass through `onRoute`: their `config: { jwt }` would not be enforced, and they would answer
  // anyone (fail open). When routes exist already, one `onRequest` hook (Fastify adds a root hook to
  // every route, earlier ones too) refuses a request to such a route with 500 configuration_error.
  // Registered first, as documented, no route exists yet and no request pays for the check.
  if (app.printRoutes() !== '(empty tree)') {
    app.addHook('onRequest', function tesseraUnguardedRoutes(request, reply, next) {
      const { config, method, url } = request.routeOptions
      const { jwt, [GUARDED]: guarded } = config as { jwt?: unknown; [GUARDED]?: true }
      if (jwt === undefined || jwt === false || guarded === true) {
        next()
        return
      }
      fail(
        new ConfigurationError(
          'config.jwt',
          `${String(method)} ${String(url)} was declared before tesseraFastify was registered, so its config.jwt is not applied: register the plugin first`,
        ),
        reply,
        next,
      )
    })
  }
  done()
}

/**
 * The Fastify plugin. Register it once (it is not encapsulated); protect routes with
 * `app.jwtRequired(options)` as a `preHandler` or with `config: { jwt: options }`.
 *
 * @example
 * const auth = createTessera({ secret: process.env.JWT_SECRET })
 * await app.register(tesseraFastify, { auth })
 * app.get('/protected', { preHandler: app.jwtRequired() }, (request) => ({
 *   logged_in_as: request.jwt?.identity,
 * }))
 */
export const tesseraFastify: FastifyPluginCallback<TesseraFastifyOptions> = Object.assign(plugin, {
  // What fastify-plugin would set, without the dependency: the decorators and hooks reach the parent
  // scope (no encapsulation), and Fastify checks the version range when the plugin is registered.
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'tessera',
  [Symbol.for('plugin-meta')]: { fastify: '5.x', name: 'tessera' },
})

/** `request.jwt` typed with explicit claims and user types (instead of those declared in `TesseraTypes`). */
export function getJwt<C = AppClaims, U = AppUser>(request: FastifyRequest): RequestJwt<C, U> | null {
  return request.jwt as unknown as RequestJwt<C, U> | null
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
