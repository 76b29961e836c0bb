/** JWKS and discovery, health, readiness, metrics, and the tutorials' demo resources. */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, onRequestHookHandler } from 'fastify'
import { sql } from 'kysely'
import { Type } from 'typebox'
import type { ServerContext } from '../context.js'
import { ServiceError } from '../errors.js'
import { guarded, jwtOf, noStore, ok } from './http.js'
import { discoveryRoutes } from './discovery.js'

/** The public keys as `/.well-known/jwks.json` serves them (RFC 7517): each key's members as they are. */
const Jwks = Type.Object(
  {
    keys: Type.Array(Type.Object({ kty: Type.String(), kid: Type.String() }, { additionalProperties: true })),
  },
  { description: 'JSON Web Key Set' },
)

const Liveness = Type.Object({ status: Type.Literal('ok') })

/** What `/readyz` checked: `ok`, or what is not (`down`, `starting`); `redis` only when configured. */
const Readiness = Type.Object({
  status: Type.Union(
    ['ready', 'degraded', 'draining', 'unavailable', 'starting'].map((s) => Type.Literal(s)),
  ),
  checks: Type.Object(
    {
      database: Type.Optional(Type.Union([Type.Literal('ok'), Type.Literal('down')])),
      workers: Type.String(),
      redis: Type.Optional(Type.String()),
    },
    { additionalProperties: false },
  ),
})

/** How long one rendering of `/metrics` is served again. */
const METRICS_MAX_AGE_MS = 1_000

/**
 * The hook of `/metrics` with `TESSERA_METRICS_TOKEN`: `Authorization: Bearer <token>` or a 401. The
 * two are compared as SHA-256 digests in constant time, so neither the token's length nor its first
 * differing character shows in the answer's timing.
 */
function scrapeToken(token: string): onRequestHookHandler {
  const expected = createHash('sha256').update(token).digest()
  return (request, _reply, done) => {
    const given = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '')?.[1] ?? ''
    const digest = createHash('sha256').update(given).digest()
    done(timingSafeEqual(digest, expected) ? undefined : new ServiceError('metrics_unauthorized'))
  }
}

/** Registers the operational and demo routes. */
export function metaRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get(
    '/.well-known/jwks.json',
    { schema: { tags: ['keys'], summary: 'Public signing keys (JWKS)', response: { 200: Jwks } } },
    async (_request, reply) =>
      reply.header('cache-control', `public, max-age=${ctx.config.jwksMaxAge}`).send(ctx.auth.jwks()),
  )
  discoveryRoutes(app, ctx)

  app.get(
    '/healthz',
    { onRequest: noStore, schema: { tags: ['ops'], summary: 'Liveness', response: { 200: Liveness } } },
    () => ({ status: 'ok' }),
  )

  app.get(
    '/readyz',
    {
      // A probe's answer is this instant's state: never one a cache kept.
      onRequest: noStore,
      schema: {
        tags: ['ops'],
        summary:
          'Readiness: the database answers, the password threads are started (and Redis, when configured)',
        description:
          '503 with `Retry-After` while starting (1 s), stopping (`draining`) or without the database (5 s): a load balancer sends nothing new; `degraded` (200) still serves.',
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (request, reply) => {
      const { lifecycle } = ctx
      // Redis down is `degraded`, still 200: this instance keeps serving (revocations from memory,
      // queued for Redis; rate limits counted locally), so a load balancer should keep it. The same
      // for password threads that failed to start: tokens are still verified, and each login tries
      // to start a thread again.
      const redis = ctx.redis === undefined ? {} : { redis: ctx.redis.status() }
      const workers = lifecycle.passwordThreads
      // Down: try again in the background; a later probe sees `ok` once the threads start.
      if (workers === 'down') lifecycle.rewarm?.()
      // Stopping (SIGTERM): still serving, but a load balancer should send nothing new.
      if (lifecycle.draining) {
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({ status: 'draining', checks: { workers, ...redis } })
      }
      let database: 'ok' | 'down' = 'ok'
      try {
        await sql`select 1`.execute(ctx.db)
      } catch {
        database = 'down'
      }
      // SQLite files deleted or replaced under the server: it answers, but what it writes is lost.
      const files = ctx.databaseFiles()
      if (files !== undefined) {
        database = 'down'
        request.log.error(files)
      }
      const checks = { database, workers, ...redis }
      if (database === 'down') {
        return reply.code(503).header('retry-after', '5').send({ status: 'unavailable', checks })
      }
      // Just started: logins would queue behind the threads loading argon2 and the dictionaries.
      if (workers === 'starting') {
        return reply.code(503).header('retry-after', '1').send({ status: 'starting', checks })
      }
      const degraded = redis.redis === 'down' || workers === 'down'
      return { status: degraded ? 'degraded' : 'ready', checks }
    },
  )

  // One exposition costs milliseconds of CPU (tens of KB of text): rendered at most once a second and
  // shared, so a client asking in a loop cannot take the event loop from everyone else. A scraper
  // asks every 15–60 s and sees values at most a second old.
  let exposition: { at: number; text: Promise<string> } | undefined
  app.get(
    '/metrics',
    {
      ...(ctx.config.metricsToken === undefined ? {} : { onRequest: scrapeToken(ctx.config.metricsToken) }),
      schema: { tags: ['ops'], summary: 'Prometheus metrics', hide: true },
    },
    async (_request, reply) => {
      const now = performance.now()
      if (exposition === undefined || now - exposition.at >= METRICS_MAX_AGE_MS) {
        const text = ctx.metrics.registry.metrics()
        exposition = { at: now, text }
        // A failed rendering is not kept: the next request tries again.
        text.catch(() => {
          if (exposition?.text === text) exposition = undefined
        })
      }
      return reply.header('content-type', ctx.metrics.registry.contentType).send(await exposition.text)
    },
  )
  demoRoutes(app)
}

const LoggedInAs = Type.Object({
  logged_in_as: Type.String({ description: 'The username (seed 002’s answer).' }),
  message: Type.Literal('This is a protected route', { description: 'Seed 000’s answer.' }),
})
const Answer = Type.Object({ answer: Type.Integer() })
const Welcome = Type.Object({ message: Type.String() })

/**
 * The tutorials' demo resources: `/protected`, `/secret`, `/admin`. Each answer is for its caller only:
 * `Cache-Control: no-store`, as the other answers about one user (routes/http.ts `noStore`), since in
 * cookie mode no `Authorization` header keeps a shared cache from storing it and handing it to the next
 * client (RFC 9111 §3.5). Set in the handler rather than by an `onRequest` hook: `/protected` is the
 * request the benchmarks measure, and a hook run costs more than one header.
 */
function demoRoutes(app: FastifyInstance): void {
  const tags = ['demo']
  const preHandler = app.jwtRequired()
  const protectedDoc = guarded(tags, 'Who you are (the tutorials’ /protected)', ok(LoggedInAs, 401))
  app.get('/protected', { preHandler, schema: protectedDoc }, (request, reply) => {
    const { claims, identity } = jwtOf(request)
    void reply.header('cache-control', 'no-store')
    return {
      logged_in_as: typeof claims.username === 'string' ? claims.username : identity,
      message: 'This is a protected route',
    }
  })
  const secretDoc = guarded(tags, 'A protected resource', ok(Answer, 401))
  app.get('/secret', { preHandler, schema: secretDoc }, (_request, reply) => {
    void reply.header('cache-control', 'no-store')
    return { answer: 42 }
  })
  const admin = { preHandler: app.jwtRequired({ roles: ['admin'] }) }
  const adminDoc = guarded(tags, 'An admin-only resource', ok(Welcome, 401, 403))
  app.get('/admin', { ...admin, schema: adminDoc }, (_request, reply) => {
    void reply.header('cache-control', 'no-store')
    return { message: 'Welcome to the admin panel' }
  })
}
