/**
 * The tutorials' own paths (seeds 000–002), answering as the `/auth` endpoints do, so their clients run
 * against Tessera unchanged.
 */
import type { FastifyInstance, FastifySchema } from 'fastify'
import { Type } from 'typebox'
import type { ServerContext } from '../context.js'
import { REFRESH_TOKEN_BODY, tokenSecurity } from '../openapi.js'
import { Credentials, errors, Tokens } from '../schemas.js'
import type { AuthService } from '../service.js'
import { logoutHandler, tokenHandlers } from './auth.js'
import { guarded, ok } from './http.js'

const Revoked = Type.Object({ message: Type.String() })

// The refresh token in the Authorization header or the JSON body, never the cookie (its path is /auth).
const refreshInHeaderOrBody = { security: tokenSecurity.bearer, [REFRESH_TOKEN_BODY]: true } as const

/** Registers the tutorial aliases. */
export function tutorialRoutes(app: FastifyInstance, ctx: ServerContext, service: AuthService): void {
  const tags = ['tutorials']
  const handlers = tokenHandlers(ctx, service)
  // Each alias documents the statuses of the endpoint it stands for (a registration: 201, or 200 on
  // /registration), so that a client generated from the document knows every answer.
  const credentials = (summary: string, response: FastifySchema['response']): FastifySchema => ({
    tags,
    summary,
    body: Credentials,
    response,
  })
  const registered = errors(400, 403, 409, 429)
  app.post(
    '/register',
    { schema: credentials('Alias of POST /auth/register', { 201: Tokens, ...registered }) },
    handlers.register,
  )
  // Seed 001 (flask-restful) answered a registration 200; seed 000's /register answered 201.
  app.post(
    '/registration',
    {
      schema: credentials('Alias of POST /auth/register (200, as seed 001 answered)', {
        200: Tokens,
        ...registered,
      }),
    },
    tokenHandlers(ctx, service, 200).register,
  )
  app.post(
    '/login',
    { schema: credentials('Alias of POST /auth/login', ok(Tokens, 400, 401, 403, 429)) },
    handlers.login,
  )
  app.post(
    '/token/refresh',
    {
      preHandler: app.jwtRequired({ refresh: true, locations: ['headers', 'json'] }),
      schema: guarded(tags, 'Alias of POST /auth/refresh', ok(Tokens, 401, 429), refreshInHeaderOrBody),
    },
    handlers.refresh,
  )
  app.post(
    '/logout/access',
    { schema: guarded(tags, 'Revoke the access token and its session', ok(Revoked, 401)) },
    logoutHandler(app, service, {}, () => ({ message: 'Access token has been revoked' })),
  )
  app.post(
    '/logout/refresh',
    {
      schema: guarded(
        tags,
        'Revoke the refresh token and its session',
        ok(Revoked, 401),
        refreshInHeaderOrBody,
      ),
    },
    logoutHandler(app, service, { refresh: true, locations: ['headers', 'json'] }, () => ({
      message: 'Refresh token has been revoked',
    })),
  )
}
