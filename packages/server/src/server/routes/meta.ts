/** JWKS and discovery, health, readiness, metrics, and the tutorials' demo resources. */
import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import { Type } from 'typebox'
import type { ServerContext } from '../context.js'
import { errors } from '../schemas.js'
import { jwtOf } from './auth.js'
import { discoveryRoutes } from './discovery.js'

/** Registers the operational and demo routes. */
export function metaRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get(
    '/.well-known/jwks.json',
    { schema: { tags: ['keys'], summary: 'Public signing keys (JWKS)' } },
    async (_request, reply) =>
      reply.header('cache-control', `public, max-age=${ctx.config.jwksMaxAge}`).send(ctx.auth.jwks()),
  )
  discoveryRoutes(app, ctx)

  app.get('/healthz', { schema: { tags: ['ops'], summary: 'Liveness' } }, () => ({ status: 'ok' }))

  app.get(
    '/readyz',
    { schema: { tags: ['ops'], summary: 'Readiness: the database answers (and Redis, when configured)' } },
    async (_request, reply) => {
      // Redis down is `degraded`, still 200: this instance keeps serving (revocations from memory,
      // queued for Redis; rate limits counted locally), so a load balancer should keep it.
      const redis = ctx.redis === undefined ? {} : { redis: ctx.redis.status() }
      // Stopping (SIGTERM): still serving, but a load balancer should send nothing new.
      if (ctx.lifecycle.draining) {
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({ status: 'draining', checks: { ...redis } })
      }
      try {
        await sql`select 1`.execute(ctx.db)
        const status = redis.redis === 'down' ? 'degraded' : 'ready'
        return { status, checks: { database: 'ok', ...redis } }
      } catch {
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({ status: 'unavailable', checks: { database: 'down', ...redis } })
      }
    },
  )

  app.get(
    '/metrics',
    { schema: { tags: ['ops'], summary: 'Prometheus metrics', hide: true } },
    async (_request, reply) =>
      reply
        .header('content-type', ctx.metrics.registry.contentType)
        .send(await ctx.metrics.registry.metrics()),
  )

  const security = [{ bearerAuth: [] }]
  app.get(
    '/protected',
    {
      preHandler: app.jwtRequired(),
      schema: {
        tags: ['demo'],
        summary: 'Who you are (the tutorials’ /protected)',
        security,
        response: { 200: Type.Object({ logged_in_as: Type.String() }), ...errors(401) },
      },
    },
    (request) => {
      const { claims, identity } = jwtOf(request)
      return { logged_in_as: typeof claims.username === 'string' ? claims.username : identity }
    },
  )
  app.get(
    '/secret',
    {
      preHandler: app.jwtRequired(),
      schema: {
        tags: ['demo'],
        summary: 'A protected resource',
        security,
        response: { 200: Type.Object({ answer: Type.Integer() }), ...errors(401) },
      },
    },
    () => ({ answer: 42 }),
  )
  app.get(
    '/admin',
    {
      preHandler: app.jwtRequired({ roles: ['admin'] }),
      schema: {
        tags: ['demo'],
        summary: 'An admin-only resource',
        security,
        response: { 200: Type.Object({ message: Type.String() }), ...errors(401, 403) },
      },
    },
    () => ({ message: 'Welcome to the admin panel' }),
  )
}
