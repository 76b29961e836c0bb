// Type-level tests of the adapters' public types (vitest typecheck). Declaration merging through
// `declare module 'tessera'` is checked in an isolated program by declaration-merging.test.ts, since an
// augmentation here would leak into every other file of this program.
import express, { type RequestHandler } from 'express'
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type preHandlerHookHandler,
} from 'fastify'
import { describe, expectTypeOf, it } from 'vitest'
import {
  getJwt as getExpressJwt,
  jwtRequired,
  setAccessCookies,
  tesseraExpress,
  verifyRequest,
  type JwtGuard,
  type TesseraExpress,
  type TesseraExpressOptions,
} from '../../packages/tessera/src/adapters/express.js'
import {
  getJwt,
  tesseraFastify,
  type AdapterOptions,
  type ErrorResponse,
  type RequestJwt,
  type RouteOptions,
  type SetCookieOptions,
  type TesseraFastify,
  type TesseraFastifyOptions,
  type TokenLocation,
  type UnsetCookieOptions,
} from '../../packages/tessera/src/adapters/fastify.js'
import {
  createTessera,
  type AppClaims,
  type AppUser,
  type DeepReadonly,
  type ForbiddenError,
  type JwtHeader,
  type Tessera,
  type TokenExpiredError,
  type VerifiedToken,
} from '../../packages/tessera/src/index.js'

const auth = createTessera({ secret: 'x'.repeat(32) })
declare const request: FastifyRequest
declare const req: express.Request
declare const res: express.Response
declare function typed(options: TesseraFastifyOptions<Claims, User>): void
declare function adapter(options: AdapterOptions): void
interface Claims {
  roles: string[]
  tenant: string
}
interface User {
  id: number
}

describe('fastify', () => {
  it('types request.jwt as the request context or null, with the app types by default', () => {
    const app = Fastify()
    app.get('/', { preHandler: app.jwtRequired() }, (request) => {
      expectTypeOf(request.jwt).toEqualTypeOf<RequestJwt | null>()
      expectTypeOf(request.jwt!.user).toEqualTypeOf<AppUser>()
      expectTypeOf(request.jwt!.claims).toExtend<AppClaims>()
      const jwt = request.jwt!
      expectTypeOf(jwt.identity).toEqualTypeOf<string>()
      expectTypeOf(jwt.claims.sub).toEqualTypeOf<string>()
      expectTypeOf(jwt.claims.exp).toEqualTypeOf<number>()
      expectTypeOf(jwt.header).toEqualTypeOf<DeepReadonly<JwtHeader>>()
      expectTypeOf(jwt.header.alg).toEqualTypeOf<string>()
      // @ts-expect-error the verified header is frozen
      jwt.header.alg = 'none'
      // @ts-expect-error and so are the claims
      jwt.claims.sub = 'mallory'
      expectTypeOf(jwt.location).toEqualTypeOf<TokenLocation>()
      expectTypeOf(jwt.location).toEqualTypeOf<'headers' | 'cookies' | 'query' | 'json'>()
      return {}
    })
  })

  it('gives explicit claims and user types through getJwt', () => {
    expectTypeOf(getJwt<Claims, User>(request)).toEqualTypeOf<RequestJwt<Claims, User> | null>()
    expectTypeOf(getJwt<Claims, User>(request)!.claims.roles).toEqualTypeOf<readonly string[]>()
    expectTypeOf(getJwt<Claims, User>(request)!.user).toEqualTypeOf<User>()
    // @ts-expect-error tenant is a string
    expectTypeOf(getJwt<Claims>(request)!.claims.tenant).toEqualTypeOf<number>()
  })

  it('returns a preHandler usable on typed routes and as route config', () => {
    const app = Fastify()
    expectTypeOf(app.jwtRequired({ roles: ['admin'] })).toEqualTypeOf<preHandlerHookHandler>()
    app.get<{ Querystring: { page: string } }>(
      '/typed',
      { preHandler: [app.jwtRequired()] },
      (request) => request.query.page,
    )
    app.get('/config', { config: { jwt: { fresh: true } } }, () => 'ok')
    app.get('/on', { config: { jwt: true } }, () => 'ok')
    // @ts-expect-error unknown route option
    app.jwtRequired({ role: ['admin'] })
  })

  it('decorates the reply with chainable cookie helpers', () => {
    expectTypeOf<FastifyReply['setAccessCookies']>().parameters.toEqualTypeOf<
      [token: string, options?: SetCookieOptions]
    >()
    expectTypeOf<FastifyReply['setAccessCookies']>().returns.toEqualTypeOf<FastifyReply>()
    expectTypeOf<FastifyReply['unsetJwtCookies']>().parameters.toEqualTypeOf<[options?: UnsetCookieOptions]>()
    expectTypeOf<TesseraFastify['errorResponse']>().returns.toEqualTypeOf<ErrorResponse>()
    expectTypeOf<TesseraFastify['auth']>().toEqualTypeOf<Tessera>()
    expectTypeOf<ReturnType<TesseraFastify['verifyRequest']>>().toEqualTypeOf<Promise<RequestJwt | null>>()
    expectTypeOf<FastifyInstance['verifyRequest']>().toEqualTypeOf<TesseraFastify['verifyRequest']>()
  })

  it('types plugin options, hooks and formatters from the generics', () => {
    const options: TesseraFastifyOptions<Claims, User> = {
      auth,
      userLookup: (token) => {
        expectTypeOf(token).toEqualTypeOf<VerifiedToken<Claims>>()
        expectTypeOf(token.claims.tenant).toEqualTypeOf<string>()
        return { id: 1 }
      },
      verifyClaims: (token) => token.claims.roles.includes('user'),
      errors: {
        formatters: {
          token_expired: (error, response) => {
            expectTypeOf(error).toEqualTypeOf<TokenExpiredError>()
            return response
          },
          forbidden: (error, response) => {
            expectTypeOf(error).toEqualTypeOf<ForbiddenError>()
            return { ...response, status: 404 }
          },
        },
      },
    }
    expectTypeOf(options).toExtend<AdapterOptions<Claims, User>>()
    void Fastify().register(tesseraFastify, { auth, tokenLocations: ['headers', 'cookies'] })
    // @ts-expect-error the user lookup must return the user type
    typed({ auth, userLookup: () => ({ id: 'one' }) })
    // @ts-expect-error unknown location
    adapter({ tokenLocations: ['body'] })
    // SameSite as on the wire or in lower case (Express's spelling); other values are refused.
    adapter({ cookies: { sameSite: 'Lax' } })
    adapter({ cookies: { sameSite: 'lax' } })
    // @ts-expect-error not a SameSite value
    adapter({ cookies: { sameSite: 'lenient' } })
  })
})

describe('express', () => {
  it('types req.jwt as optional context, and the helpers as Express middleware', () => {
    const app = express()
    const jwt = tesseraExpress(auth)
    expectTypeOf(jwt.required()).toEqualTypeOf<JwtGuard>()
    expectTypeOf(jwt.required()).toExtend<RequestHandler>()
    expectTypeOf(jwtRequired(auth, { optional: true })).toEqualTypeOf<JwtGuard>()
    app.get('/', jwt.required(), (req, res) => {
      expectTypeOf(req.jwt).toEqualTypeOf<RequestJwt | null | undefined>()
      res.json({ logged_in_as: req.jwt?.identity })
    })
  })

  it("keeps the route's own parameter and query types for the handlers after a guard", () => {
    const jwt = tesseraExpress(auth)
    const router = express.Router()
    router.get('/items/:id', jwt.required(), (req, res) => {
      expectTypeOf(req.params).toEqualTypeOf<{ id: string }>()
      res.json({ id: req.params.id })
    })
    router.get('/users/:user/notes/:note', jwtRequired(auth, { roles: ['admin'] }), (req, res) => {
      expectTypeOf(req.params.user).toEqualTypeOf<string>()
      expectTypeOf(req.params.note).toEqualTypeOf<string>()
      res.end()
    })
    router.get<{ id: string }, { ok: boolean }, never, { q?: string }>(
      '/typed/:id',
      jwt.required(),
      (req, res) => {
        expectTypeOf(req.query.q).toEqualTypeOf<string | undefined>()
        res.json({ ok: true })
      },
    )
    router.use(jwt.required())
    express().use('/api', jwt.required(), router)
    // Still a RequestHandler wherever one is expected.
    const guards: RequestHandler[] = [jwt.required(), jwtRequired(jwt)]
    expectTypeOf(guards).items.toExtend<RequestHandler>()
  })

  it('flows the integration generics into hooks and getJwt', () => {
    const jwt = tesseraExpress<Claims, User>(auth, {
      userLookup: (token) => ({ id: token.claims.tenant.length }),
    })
    expectTypeOf(jwt).toEqualTypeOf<TesseraExpress<Claims, User>>()
    expectTypeOf(jwt.getJwt(req)).toEqualTypeOf<RequestJwt<Claims, User> | null>()
    expectTypeOf(getExpressJwt<Claims>(req)!.claims.roles).toEqualTypeOf<readonly string[]>()
    // A typed integration is accepted wherever an integration is expected.
    expectTypeOf(jwtRequired(jwt)).toEqualTypeOf<JwtGuard>()
    setAccessCookies(res, 'token', jwt, { maxAge: '30d', domain: 'example.com' })
    // verifyRequest resolves to the integration's typed context, like the guard's req.jwt.
    expectTypeOf(jwt.verifyRequest(req, res)).toEqualTypeOf<Promise<RequestJwt<Claims, User> | null>>()
    expectTypeOf(verifyRequest(req, res, jwt, { optional: true })).toEqualTypeOf<Promise<RequestJwt | null>>()
    // @ts-expect-error a route option a guard does not take
    void jwt.verifyRequest(req, res, { allowExpired: true })
    // @ts-expect-error the engine or an integration is required
    jwtRequired({ required: true })
  })

  it('shares one options type with Fastify', () => {
    expectTypeOf<TesseraExpressOptions>().toEqualTypeOf<AdapterOptions>()
    expectTypeOf<Parameters<TesseraExpress['required']>[0]>().toEqualTypeOf<RouteOptions | undefined>()
  })
})
