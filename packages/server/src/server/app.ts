/**
 * Builds the Fastify application of the auth server: configuration and the start-up doctor, the
 * database and keys (context), the Tessera plugin, OpenAPI, the routes, errors and metrics.
 */
import cors from '@fastify/cors'
import swagger from '@fastify/swagger'
import swaggerUi, { type FastifySwaggerUiOptions } from '@fastify/swagger-ui'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { ConfigurationError } from 'tessera'
import { tesseraFastify, type ErrorResponse } from 'tessera/fastify'
import { durationText } from '../time.js'
import { serverVersion } from '../version.js'
import { checkServerConfig, loadServerConfig, type ServerConfig } from './config.js'
import { openContext, type ServerContext } from './context.js'
import { clientErrorAnswer, installErrorHandling } from './error-response.js'
import { legacyAwareAuth } from './legacy.js'
import { completeDocument, markTokenAnswers, securitySchemes } from './openapi.js'
import { configurePasswordThreads, estimateStrength, warmUpPasswordThreads } from './passwords.js'
import { secretWordsProblem } from './secret-strength.js'
import { adminRoutes } from './routes/admin.js'
import { auditRoutes } from './routes/audit.js'
import { authRoutes } from './routes/auth.js'
import { metaRoutes } from './routes/meta.js'
import { tutorialRoutes } from './routes/tutorial.js'
import { webRoutes } from './routes/web.js'
import { ErrorBody, MAX_PARAM_LENGTH, Tokens, User } from './schemas.js'
import { createDeadlines } from './deadline.js'
import { createAuthService } from './service.js'
import {
  createServerLogger,
  redactUrl,
  requestRecorder,
  type RequestEvents,
  type ServerLogger,
} from './logging.js'

/** A server built but not listening (use `app.inject`). */
export interface BuiltServer {
  app: FastifyInstance
  config: ServerConfig
  context: ServerContext
  /** Stops accepting, finishes in-flight requests, closes the database. */
  close(): Promise<void>
  /**
   * The graceful stop (SIGTERM): `/readyz` answers 503 at once and responses ask clients to close
   * their connections, for `delayMs` (default `TESSERA_SHUTDOWN_DELAY`) while everything is still
   * served so a load balancer drains the instance; then {@link BuiltServer.close}.
   */
  shutdown(delayMs?: number): Promise<void>
}

/** A listening server. */
export interface RunningServer extends BuiltServer {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string
  /**
   * Settles (never rejects) when the password threads have started and loaded what they need: from
   * then on `/readyz` answers 200. Requests are served before, but logins wait for the threads.
   */
  ready: Promise<void>
}

/** Largest request body accepted (a login is a few hundred bytes). */
const BODY_LIMIT = 64 * 1024
/** Milliseconds a client has to send its request's headers. */
export const HEADERS_TIMEOUT_MS = 10_000
/** Milliseconds a client has to send its whole request (headers and body). */
const REQUEST_TIMEOUT_MS = 30_000

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
    // The error's own prefix names the first setting; the others are named in the message.
    const [first, ...others] = refused
    throw new ConfigurationError(
      first?.setting ?? 'config',
      [first?.message, ...others.map((f) => `${f.setting}: ${f.message}`)].join('; '),
    )
  }
  return config
}

/** Builds the server without listening. */
export async function buildServer(overrides: Partial<ServerConfig> = {}): Promise<BuiltServer> {
  const config = resolveServerConfig(overrides)
  // Before anything uses the password threads (the secret's check below starts them). A job still
  // waiting after the request deadline belongs to a request answered 503 already.
  configurePasswordThreads({ nice: config.passwordThreadNice, maxWaitMs: config.databaseTimeoutMs })
  if (config.algorithm.startsWith('HS') && config.secret !== undefined) {
    const weak = await secretWordsProblem(config.secret, estimateStrength)
    if (weak !== undefined) throw new ConfigurationError('TESSERA_SECRET', weak)
  }
  // The logger exists before the context: failures no request sees (maintenance, the key refresh,
  // Redis) are logged through it as well as counted.
  const logging = createServerLogger(config.logLevel)
  const context = await openContext(config, {
    onError: (message, error) => {
      logging.logger.error({ err: error }, message)
    },
    onNotice: (level, message, error) => {
      logging.logger[level](error === undefined ? {} : { err: error }, message)
    },
  })
  try {
    const app = await createApp(config, context, logging)
    const close = async (): Promise<void> => {
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
    }
    return {
      app,
      config,
      context,
      close,
      async shutdown(delayMs = config.shutdownDelayMs) {
        context.lifecycle.draining = true
        if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
        await close()
      },
    }
  } catch (error) {
    await context.close()
    throw error
  }
}

/** Builds and starts the server, and logs where everything is, in one line. */
export async function startServer(overrides: Partial<ServerConfig> = {}): Promise<RunningServer> {
  const built = await buildServer(overrides)
  const { config, context } = built
  // Fastify's own "Server listening at" line becomes Tessera's: one line saying where everything is.
  const summary = (at: string): string =>
    `Tessera listening on ${at} — database ${withoutPassword(config.databaseUrl)}, ${config.tokenTransport} ` +
    `transport, access tokens ${durationText(config.accessTokenTtl)}, refresh tokens ` +
    `${durationText(config.refreshTokenTtl)}, signing key ${context.keys.active.kid} from ${context.keySource}; demo page at ${at}/, API docs at ${at}/docs`
  try {
    await built.app.listen({ host: config.host, port: config.port, listenTextResolver: summary })
  } catch (error) {
    await built.close()
    throw error
  }
  const address = built.app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  const url = `http://${host}:${port}`
  for (const finding of checkServerConfig(config))
    built.app.log.warn({ setting: finding.setting }, finding.message)
  const { lifecycle } = context
  lifecycle.passwordThreads = 'starting'
  // Settles, never rejects. While the threads are `down`, `/readyz` asks for another attempt (one at a
  // time), so the instance is `ok` again as soon as they can start.
  let attempt: Promise<void> | undefined
  const warmUp = (): Promise<void> => {
    const started = performance.now()
    attempt ??= warmUpPasswordThreads({ dictionaries: config.passwordMinScore > 0 })
      .then(
        () => {
          lifecycle.passwordThreads = 'ok'
          built.app.log.debug({ ms: Math.round(performance.now() - started) }, 'password threads ready')
        },
        (error: unknown) => {
          if (lifecycle.passwordThreads !== 'down') {
            built.app.log.warn(
              { err: error },
              'password threads: warm-up failed (/readyz says degraded and retries; password jobs start threads again)',
            )
          }
          lifecycle.passwordThreads = 'down'
        },
      )
      .finally(() => {
        attempt = undefined
      })
    return attempt
  }
  lifecycle.rewarm = () => void warmUp()
  const ready = warmUp()
  return { ...built, url, ready }
}

async function createApp(
  config: ServerConfig,
  ctx: ServerContext,
  logging: ServerLogger,
): Promise<FastifyInstance> {
  // The error mapper is made from the app; a request deadline answers through it only once requests
  // run, after it exists.
  const errors: {
    answer?: (error: unknown) => ErrorResponse
    reply?: (error: unknown, request: FastifyRequest, reply: FastifyReply) => FastifyReply
  } = {}
  const requests = requestEvents(ctx, logging, (error) => {
    if (errors.answer === undefined) throw new Error('a request ran before the app was built')
    return errors.answer(error)
  })
  const app = Fastify({
    loggerInstance: logging.logger,
    logController: logging.logController(requests),
    trustProxy: config.trustProxy,
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Unknown fields are an error (no silent stripping), and types are not coerced.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } },
    return503OnClosing: true,
    // A client gets HEADERS_TIMEOUT_MS for its headers and REQUEST_TIMEOUT_MS for the whole request
    // (bodies are at most 64 KB), checked every 2 s: a connection that trickles bytes (slowloris) is
    // answered 408 and closed within seconds, instead of holding a socket for Node's 60 s + 30 s.
    requestTimeout: REQUEST_TIMEOUT_MS,
    http: { headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 2_000 },
    // A URL that does not decode (`/users/%ZZ`) is answered before routing: in the server's shape too.
    frameworkErrors: (error, request, reply) => {
      if (errors.reply === undefined) throw error
      errors.reply(error, request, reply)
      // Answered before routing, so Fastify's response listeners (which write the access line) are
      // not set: written here, one line per request as for every other.
      logging.access?.(request.id, request.method, '(unrouted)', reply.statusCode, 0, null)
    },
    clientErrorHandler: clientErrorAnswer(ctx.metrics, logging.access),
  })
  // JSON only, as documented: without this, Fastify's own text/plain parser hands a string to the
  // schema (400 "body must be object") where every other type is 415 — and text/plain is the type an
  // HTML form can send cross-site without a preflight.
  app.removeContentTypeParser('text/plain')
  // An empty body with `Content-Type: application/json` is no body, not a JSON error: clients that
  // send the header on every request (the Postman setup of seed 001, a fetch wrapper, one Python
  // headers dict) post to the refresh and logout routes, which read no body, without one. A route
  // that needs a body still refuses it (400 validation_error); proto poisoning is refused as before.
  const json = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body.length === 0) done(null, undefined)
    else void json(request, body.toString(), done)
  })
  // A refresh token presented after its rotation is the sign of a stolen token: `warn`, so a log
  // alert at that level sees it; every other event is `info`.
  const audit = (event: string, detail: Record<string, unknown>): void => {
    if (event === 'refresh_reuse_detected') app.log.warn({ audit: true, event, ...detail }, event)
    else app.log.info({ audit: true, event, ...detail }, event)
  }
  const service = createAuthService(ctx, audit)
  // CORS first, so that every answer to a trusted front end carries it, refusals included.
  await registerCors(app, config)
  // The Tessera plugin before any route (the docs' routes included): registered after some, it would
  // add a request hook guarding earlier `config.jwt` routes, a cost on every request.
  await registerTessera(app, ctx)
  await registerOpenApi(app, config)
  const handling = installErrorHandling(app, { metrics: ctx.metrics, bodyLimit: BODY_LIMIT })
  errors.answer = handling.map
  errors.reply = handling.answer
  app.addHook('onClose', (_instance, done) => {
    requests.stop()
    logging.flush()
    done()
  })

  // `/`: the demo page for browsers, the JSON index otherwise (also at `/index.json`).
  webRoutes(app, config)
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger())
  authRoutes(app, ctx, service)
  adminRoutes(app, service)
  auditRoutes(app, service)
  metaRoutes(app, ctx)
  tutorialRoutes(app, ctx, service)
  await app.ready()
  return app
}

/**
 * Everything the server does around each request, told by Fastify's log controller (no hook: each
 * one costs every request a pass through Fastify's hook runner):
 * - at the start, the request deadline starts; while draining, the answer asks the client to
 *   reconnect (to another instance) with `Connection: close`;
 * - at the end, the deadline ends, the duration histogram and the access line are recorded.
 */
function requestEvents(
  ctx: ServerContext,
  logging: ServerLogger,
  errorAnswer: (error: unknown) => ErrorResponse,
): RequestEvents & { stop(): void } {
  const { metrics, lifecycle } = ctx
  const deadlines = createDeadlines(ctx.config.databaseTimeoutMs, {
    answer: errorAnswer,
    onExpired(reply) {
      metrics.deadlineExceeded.inc()
      reply.log.warn({ url: redactUrl(reply.request.url) }, 'request deadline exceeded: answered 503')
    },
    closeConnection: () => lifecycle.draining,
  })
  const record = requestRecorder(metrics, logging.access)
  return {
    started(_request, reply) {
      deadlines.start(reply)
      if (lifecycle.draining) void reply.header('connection', 'close')
    },
    ended(request, reply) {
      deadlines.finish(reply)
      record(request, reply)
    },
    stop: () => {
      deadlines.stop()
    },
  }
}

/**
 * The OpenAPI document (`/openapi.json`) and its UI at `/docs`, with the shared schemas; completed for
 * the token transport (openapi.ts).
 */
async function registerOpenApi(app: FastifyInstance, config: ServerConfig): Promise<void> {
  app.addSchema(ErrorBody)
  app.addSchema(User)
  app.addSchema(Tokens)
  const cookieMode = config.tokenTransport === 'cookie'
  // The document's version is the server's (`info.version`: the version of the API it describes).
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tessera auth server',
        version: await serverVersion(),
        description: [
          'JWT authentication: register, log in, refresh with rotation, revoke.',
          '',
          'Every error is the `Error` body `{ "error": code, "message": text }`; the `error` code is stable.',
          'Besides the statuses each operation lists, any request may be answered 400 (`invalid_json`,',
          '`validation_error`, `bad_request`), 408 (`request_timeout`), 413 (`payload_too_large`), 415',
          '(`unsupported_media_type`: send `Content-Type: application/json`), 431 (`headers_too_large`), 500',
          '(`internal_error`) or 503 (`service_unavailable`, with `Retry-After`: the database or the password',
          'checks unavailable for a moment).',
        ].join('\n'),
      },
      components: {
        // Every scheme a route names (header mode removes the cookie ones from the finished document).
        securitySchemes,
      },
    },
    transform: markTokenAnswers,
    transformObject: (document) =>
      completeDocument(
        'openapiObject' in document ? document.openapiObject : document.swaggerObject,
        cookieMode,
      ),
    // Shared schemas under their own names (`Error`, `User`): @fastify/swagger's default names them
    // `def-0`, `def-1`, and a generated client then types an error as `components["schemas"]["def-0"]`.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${String(i)}`,
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs', ...docsBranding() })
}

/**
 * CORS for the front ends of `TESSERA_TRUSTED_ORIGINS` (@fastify/cors): their pages may call the API
 * with credentials and read its answers; any other origin gets no CORS header, so its page reads
 * nothing. Preflights are answered for them and cached ten minutes. With the list empty (the default)
 * nothing is registered: no hook on any request.
 */
async function registerCors(app: FastifyInstance, config: ServerConfig): Promise<void> {
  if (config.trustedOrigins.length === 0) return
  await app.register(cors, {
    origin: [...config.trustedOrigins],
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    // What a front end sends (cookie mode's CSRF header included) and what it may read of a refusal.
    allowedHeaders: ['Authorization', 'Content-Type', 'X-CSRF-TOKEN'],
    exposedHeaders: ['WWW-Authenticate', 'Retry-After'],
    maxAge: 600,
  })
}

/** The Tessera plugin over the server's engine, counting refused tokens by code. */
async function registerTessera(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { config } = ctx
  const cookieMode = config.tokenTransport === 'cookie'
  await app.register(tesseraFastify, {
    // The server's engine; the previous system's tokens only where it refused them (legacy.ts).
    auth: legacyAwareAuth(ctx),
    tokenLocations: cookieMode ? ['cookies', 'headers'] : ['headers'],
    // The cookie settings apply to cookie mode only: in header mode they are not read (nor refused).
    ...(cookieMode
      ? {
          cookies: {
            secure: config.cookieSecure,
            sameSite: ({ lax: 'Lax', strict: 'Strict', none: 'None' } as const)[config.cookieSameSite],
            refreshPath: '/auth',
            domain: config.cookieDomain,
          },
          csrf: { checkOrigin: config.checkOrigin, trustedOrigins: config.trustedOrigins },
        }
      : {}),
    errors: {
      // Every core error answer, the plugin's own and the error mapper's (error-response.ts).
      format: (error, response) => {
        ctx.metrics.verifyFailures.inc({ code: error.code })
        return response
      },
    },
  })
}

// A postgres:// URL may carry a password: never log it.
function withoutPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, '$1:***@')
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

// /docs as Tessera's own page: its title and icon, no Fastify logo, and no topbar with a spec URL box
// (BaseLayout): the page documents this server, not any spec a visitor might type in.
const TESSERA_ICON = Buffer.from(
  "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'><rect width='16' height='16' rx='3' fill='#4f46e5'/><path d='M4 4h8v2H9v6H7V6H4z' fill='white'/></svg>",
)
function docsBranding(): Pick<FastifySwaggerUiOptions, 'logo' | 'theme' | 'uiConfig'> {
  return {
    logo: { type: 'image/svg+xml', content: TESSERA_ICON, href: '/', target: '_self' },
    theme: {
      title: 'Tessera auth server — API docs',
      favicon: [
        { filename: 'favicon.svg', rel: 'icon', sizes: 'any', type: 'image/svg+xml', content: TESSERA_ICON },
      ],
      css: [{ filename: 'tessera.css', content: '.swagger-ui .info .title { color: #4f46e5; }' }],
    },
    uiConfig: { layout: 'BaseLayout', deepLinking: true, persistAuthorization: false },
  }
}
