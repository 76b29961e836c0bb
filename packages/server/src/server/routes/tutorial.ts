/**
 * The tutorials' own paths (seeds 000–002), answering as the `/auth` endpoints do, so their clients run
 * against Tessera unchanged.
 */
import type { FastifyInstance } from 'fastify'
import type { ServerContext } from '../context.js'
import { Credentials, errors, Tokens } from '../schemas.js'
import type { AuthService } from '../service.js'
import { logoutHandler, tokenHandlers } from './auth.js'

/** Registers the tutorial aliases. */
export function tutorialRoutes(app: FastifyInstance, ctx: ServerContext, service: AuthService): void {
  const tags = ['tutorials']
  const handlers = tokenHandlers(ctx, service)
  const schema = {
    tags,
    body: Credentials,
    response: { 200: Tokens, 201: Tokens, ...errors(400, 401, 409, 429) },
  }
  app.post('/register', { schema: { ...schema, summary: 'Alias of POST /auth/register' } }, handlers.register)
  // Seed 001 (flask-restful) answered a registration 200; seed 000's /register answered 201.
  app.post(
    '/registration',
    { schema: { ...schema, summary: 'Alias of POST /auth/register (200, as seed 001 answered)' } },
    tokenHandlers(ctx, service, 200).register,
  )
  app.post('/login', { schema: { ...schema, summary: 'Alias of POST /auth/login' } }, handlers.login)
  app.post(
    '/token/refresh',
    {
      preHandler: app.jwtRequired({ refresh: true, locations: ['headers', 'json'] }),
      schema: { tags, summary: 'Alias of POST /auth/refresh' },
    },
    handlers.refresh,
  )
  app.post(
    '/logout/access',
    { schema: { tags, summary: 'Revoke the access token and its session' } },
    logoutHandler(app, service, {}, () => ({ message: 'Access token has been revoked' })),
  )
  app.post(
    '/logout/refresh',
    { schema: { tags, summary: 'Revoke the refresh token and its session' } },
    logoutHandler(app, service, { refresh: true, locations: ['headers', 'json'] }, () => ({
      message: 'Refresh token has been revoked',
    })),
  )
}
