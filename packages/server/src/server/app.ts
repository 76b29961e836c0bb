/**
 * Builds the Fastify application of the auth server: configuration and the start-up doctor, the
 * database and keys (context), the Tessera plugin, OpenAPI, the routes, errors and metrics.
 */
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import { ConfigurationError, isTesseraError, wwwAuthenticate } from 'tessera'
import { tesseraFastify } from 'tessera/fastify'
import { checkServerConfig, loadServerConfig, type ServerConfig } from './config.js'
import { openContext, type ServerContext } from './context.js'
import { PasswordPoolError } from './password-pool.js'
import { estimateStrength } from './passwords.js'
import { secretWordsProblem } from './secret-strength.js'
import { Problem } from './problem.js'
import { adminRoutes } from './routes/admin.js'
import { authRoutes } from './routes/auth.js'
import { metaRoutes } from './routes/meta.js'
import { tutorialRoutes } from './routes/tutorial.js'
import { webRoutes } from './routes/web.js'
import { ErrorBody, Tokens, User } from './schemas.js'
import { createAuthService } from './service.js'

/** A server built but not listening (use `app.inject`). */
export interface BuiltServer {
  app: FastifyInstance
  config: ServerConfig
  context: ServerContext
  /** Stops accepting, finishes in-flight requests, closes the database. */
  close(): Promise<void>
}

/** A listening server. */
export interface RunningServer extends BuiltServer {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string
}

/** Largest request body accepted (a login is a few hundred bytes). */
const BODY_LIMIT = 64 * 1024

/**
 * Resolves the configuration (`overrides` win over the environment and defaults), runs the doctor and
 * throws a {@link ConfigurationError} listing every finding that forbids starting.
 */
export function resolveServerConfig(
  overrides: Partial<ServerConfig> = {},
  env: NodeJS.ProcessEnv = process.env,
): ServerConfig {
  const base = loadServerConfig({}, env)
  const config: ServerConfig = { ...base, ...stripUndefined(overrides) }
  // A data directory given without a database URL moves the default database with it.
  if (
    overrides.databaseUrl === undefined &&
    overrides.dataDir !== undefined &&
    env.TESSERA_DATABASE_URL === undefined
  ) {
    config.databaseUrl = `${overrides.dataDir.replace(/\/$/, '')}/tessera.db`
  }
  const refused = checkServerConfig(config).filter((f) => f.level === 'error')
  if (refused.length > 0) {
    throw new ConfigurationError(
      refused[0]?.setting ?? 'config',
      refused.map((f) => `${f.setting}: ${f.message}`).join('; '),
    )
  }
  return config
}

/** Builds the server without listening. */
export async function buildServer(overrides: Partial<ServerConfig> = {}): Promise<BuiltServer> {
  const config = resolveServerConfig(overrides)
  if (config.algorithm.startsWith('HS') && config.secret !== undefined) {
    const weak = await secretWordsProblem(config.secret, estimateStrength)
    if (weak !== undefined) throw new ConfigurationError('TESSERA_SECRET', weak)
  }
  const context = await openContext(config)
  try {
    const app = await createApp(config, context)
    return {
      app,
      config,
      context,
      async close() {
        // Keep-alive connections that were busy when closing began turn idle only later and would
        // hold the server open until the client drops them: close each one as soon as it is idle.
        const sweep = setInterval(() => {
          app.server.closeIdleConnections()
        }, 50)
        try {
          await app.close()
        } finally {
          clearInterval(sweep)
        }
        await context.close()
      },
    }
  } catch (error) {
    await context.close()
    throw error
  }
}

/** Builds and starts the server, and logs where everything is. */
export async function startServer(overrides: Partial<ServerConfig> = {}): Promise<RunningServer> {
  const built = await buildServer(overrides)
  try {
    await built.app.listen({ host: built.config.host, port: built.config.port })
  } catch (error) {
    await built.close()
    throw error
  }
  const address = built.app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : built.config.port
  const host = built.config.host.includes(':') ? `[${built.config.host}]` : built.config.host
  const url = `http://${host}:${port}`
  for (const finding of checkServerConfig(built.config))
    built.app.log.warn({ setting: finding.setting }, finding.message)
  built.app.log.info(
    {
      url,
      database: withoutPassword(built.config.databaseUrl),
      keys: built.context.keySource,
      kid: built.context.keys.active.kid,
    },
    `Tessera listening on ${url} — database ${withoutPassword(built.config.databaseUrl)}, signing keys from ${built.context.keySource}, API docs at ${url}/docs`,
  )
  return { ...built, url }
}

async function createApp(config: ServerConfig, ctx: ServerContext): Promise<FastifyInstance> {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
    },
    // A hop count is valid at run time (proxy-addr); the typings omit it.
    trustProxy: config.trustProxy as boolean | string,
    bodyLimit: BODY_LIMIT,
    // Unknown fields are an error (no silent stripping), and types are not coerced.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } },
    return503OnClosing: true,
  })
  const audit = (event: string, detail: Record<string, unknown>): void => {
    app.log.info({ audit: true, event, ...detail }, event)
  }
  const service = createAuthService(ctx, audit)

  app.addSchema(ErrorBody)
  app.addSchema(User)
  app.addSchema(Tokens)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tessera auth server',
        version: '0.1.0',
        description: 'JWT authentication: register, log in, refresh with rotation, revoke.',
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  const cookieMode = config.tokenTransport === 'cookie'
  await app.register(tesseraFastify, {
    auth: ctx.auth,
    tokenLocations: cookieMode ? ['cookies', 'headers'] : ['headers'],
    cookies: {
      secure: config.cookieSecure,
      sameSite: ({ lax: 'Lax', strict: 'Strict', none: 'None' } as const)[config.cookieSameSite],
      refreshPath: '/auth',
    },
    csrf: { checkOrigin: config.checkOrigin, trustedOrigins: config.trustedOrigins },
    errors: {
      format: (error, response) => {
        ctx.metrics.verifyFailures.inc({ code: error.code })
        return response
      },
    },
  })

  app.addHook('onResponse', (request, reply, done) => {
    ctx.metrics.requestDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    )
    done()
  })

  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    if (error instanceof Problem)
      return reply
        .code(error.status)
        .headers(error.headers)
        .send({ error: error.code, message: error.message })
    if (isTesseraError(error)) {
      const challenge = wwwAuthenticate(error)
      if (challenge !== undefined) void reply.header('www-authenticate', challenge)
      if (error.status >= 500) request.log.error({ err: error }, 'configuration error while serving')
      return reply.code(error.status).send({ error: error.code, message: error.message })
    }
    const fastifyError = error as FastifyError
    if (fastifyError.validation !== undefined) {
      return reply.code(400).send({ error: 'validation_error', message: error.message })
    }
    switch (fastifyError.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return reply
          .code(413)
          .send({ error: 'payload_too_large', message: `Request bodies are limited to ${BODY_LIMIT} bytes` })
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply
          .code(415)
          .send({ error: 'validation_error', message: 'Send JSON (Content-Type: application/json)' })
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return reply.code(400).send({ error: 'invalid_json', message: 'The request body is not valid JSON' })
    }
    if (error instanceof SyntaxError || fastifyError.statusCode === 400) {
      return reply.code(400).send({ error: 'invalid_json', message: 'The request body is not valid JSON' })
    }
    if (error instanceof PasswordPoolError) {
      // Same answer for every login (known user or not): no enumeration through a broken pool.
      request.log.error({ err: error }, 'password hashing unavailable')
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({ error: 'service_unavailable', message: 'Password checks are unavailable; retry shortly' })
    }
    if (isDatabaseUnavailable(error)) {
      request.log.error({ err: error }, 'database unavailable')
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({ error: 'service_unavailable', message: 'The database is unavailable; retry shortly' })
    }
    request.log.error({ err: error }, 'unhandled error')
    return reply.code(500).send({ error: 'internal_error', message: 'Internal server error' })
  })
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: 'not_found',
      message: `${request.method} ${request.url.split('?')[0] ?? ''} does not exist`,
    }),
  )

  // `/`: the demo page for browsers, the JSON index otherwise (also at `/index.json`).
  webRoutes(app, config)
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger())
  authRoutes(app, ctx, service)
  adminRoutes(app, ctx, service)
  metaRoutes(app, ctx)
  tutorialRoutes(app, ctx, service)
  await app.ready()
  return app
}

// Connection-level failures of the database drivers: refused, reset, or the pool closed under us.
// PostgreSQL: class 08 (connection exception), 57P0x (shutdown, cannot connect now), 53300 (too many
// connections); node-postgres reports a dropped or timed-out connection by message only.
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  'SQLITE_CANTOPEN',
])
const UNAVAILABLE_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly)/

function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (error === null || typeof error !== 'object' || depth > 3) return false
  const { code, message, cause, errors } = error as {
    code?: unknown
    message?: unknown
    cause?: unknown
    errors?: unknown
  }
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true
  if (typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message)) return true
  // An AggregateError (connecting to ::1 and 127.0.0.1) or a wrapped error.
  if (Array.isArray(errors) && errors.some((e) => isDatabaseUnavailable(e, depth + 1))) return true
  return isDatabaseUnavailable(cause, depth + 1)
}

// A postgres:// URL may carry a password: never log it.
function withoutPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, '$1:***@')
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
