/**
 * The server's logs: one pino logger writing JSON lines to stdout through an asynchronous destination
 * (flushed on exit), one access-log line per request, and nothing in any line that can carry a token
 * or a password (RFC 6750 §5.3 warns that URLs with tokens end up in logs; ASVS V7.1.1/V16.2.5).
 *
 * - Access line (`info`): method, route pattern (never the raw URL), status, duration, request id, user
 *   id. It is written from the `onResponse` hook, after the answer left.
 * - Fastify's own per-request lines ("incoming request", "request completed") are off, except at
 *   `debug`/`trace`, where they appear with the URL's query values redacted.
 * - Headers are never serialised: the request serializer keeps method, redacted URL, host and address.
 */
import { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { hostname } from 'node:os'
import pino, { type DestinationStream } from 'pino'
import type { ServerConfig } from './config.js'
import type { ServerMetrics } from './metrics.js'

/** The server's logger and what to do with it on shutdown. */
export interface ServerLogger {
  readonly logger: FastifyBaseLogger
  /** Fastify's per-request lines: on only at `debug` and `trace`. */
  readonly logController: LogController
  /** Writes out whatever the asynchronous destination still buffers (shutdown, fatal errors). */
  flush(): void
  /**
   * Writes one access line, or undefined when the level is above `info`. The line has the shape of
   * pino's (`level`, `time`, `pid`, `hostname`, `reqId`, fields, `msg`) but is built directly: pino's
   * generic path (a child logger's bindings, serializers, the object walk) costs several µs per line.
   */
  readonly access: ((entry: AccessEntry) => void) | undefined
}

/** What the access line says about one request. */
export interface AccessEntry {
  reqId: string
  method: string
  route: string
  status: number
  ms: number
  user: string | null
}

/**
 * Query parameters whose value is replaced by `[redacted]` in every logged URL. Any parameter whose
 * value looks like a JWT is redacted too, whatever its name.
 */
const SENSITIVE_PARAM =
  /^(access_?token|refresh_?token|id_?token|token|jwt|auth|authorization|bearer|password|passwd|pass|pwd|secret|client_secret|api_?key|key|code|session|session_?id|csrf|csrf_?token|signature|sig)$/i
const JWT_LIKE = /eyJ[\w-]*\.[\w-]*/
const JWTS = /eyJ[\w-]*\.[\w.-]*/g
const REDACTED = '[redacted]'

/**
 * The URL with the value of every parameter that can carry a credential replaced by `[redacted]`
 * (names kept, so a debug line still says what was sent), and any JWT-shaped text in the path too.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url.includes('eyJ') ? url.replace(JWTS, REDACTED) : url
  const parts = url.slice(q + 1).split('&')
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? ''
    const eq = part.indexOf('=')
    const name = eq < 0 ? part : part.slice(0, eq)
    let decoded = name
    try {
      decoded = decodeURIComponent(name.replace(/\+/g, ' '))
    } catch {
      // A malformed escape: judge the raw name.
    }
    if (eq >= 0 && (SENSITIVE_PARAM.test(decoded.trim()) || JWT_LIKE.test(part.slice(eq + 1))))
      parts[i] = `${name}=${REDACTED}`
    else if (eq < 0 && JWT_LIKE.test(part)) parts[i] = REDACTED
  }
  const path = url.slice(0, q)
  return `${path.includes('eyJ') ? path.replace(JWTS, REDACTED) : path}?${parts.join('&')}`
}

interface RequestLike {
  method?: string
  url?: string
  hostname?: string
  host?: string
  ip?: string
  socket?: { remoteAddress?: string; remotePort?: number }
}

/** `req` in Fastify's debug lines: no headers (Authorization, Cookie), the URL redacted. */
function serializeRequest(request: RequestLike): Record<string, unknown> {
  return {
    method: request.method,
    url: typeof request.url === 'string' ? redactUrl(request.url) : undefined,
    host: request.host ?? request.hostname,
    remoteAddress: request.ip ?? request.socket?.remoteAddress,
  }
}

/** `res`: the status only (never Set-Cookie). */
function serializeReply(reply: { statusCode?: number }): Record<string, unknown> {
  return { statusCode: reply.statusCode }
}

/**
 * The server's logger at `config.logLevel`. Lines go to `destination` when given (tests), otherwise to
 * stdout through pino's asynchronous destination (a 12 KiB buffer written by the event loop in the
 * background, at least once a second; pino flushes it synchronously on `exit`, including after an
 * uncaught exception).
 */
export function createServerLogger(
  level: ServerConfig['logLevel'],
  destination?: DestinationStream,
): ServerLogger {
  const stream = destination ?? (level === 'silent' ? undefined : pino.destination({ dest: 1, sync: false }))
  const logger = pino(
    {
      level,
      // No `redact` paths: they cost every line a pass, and no line carries headers or bodies — the
      // serializers below drop them, and test/e2e/logging.test.ts greps every level's output.
      serializers: { req: serializeRequest, res: serializeReply, err: pino.stdSerializers.err },
    },
    stream,
  )
  const verbose = level === 'debug' || level === 'trace'
  const info = level === 'info' || verbose
  // pino's base fields, as every other line carries them.
  const base = `,"pid":${process.pid},"hostname":${JSON.stringify(hostname())}`
  const access =
    stream === undefined || !info
      ? undefined
      : (e: AccessEntry): void => {
          stream.write(
            `{"level":30,"time":${Date.now()}${base},"reqId":${JSON.stringify(e.reqId)},"method":${JSON.stringify(e.method)},"route":${JSON.stringify(e.route)},"status":${e.status},"ms":${e.ms},"user":${e.user === null ? 'null' : JSON.stringify(e.user)},"msg":"request"}\n`,
          )
        }
  return {
    access,
    logger,
    logController: new LogController({ disableRequestLogging: !verbose }),
    flush() {
      if (stream !== undefined && 'flushSync' in stream && typeof stream.flushSync === 'function') {
        try {
          ;(stream.flushSync as () => void)()
        } catch {
          // Nothing buffered, or the destination is already closed.
        }
      }
    },
  }
}

/**
 * One `onResponse` hook for everything measured per request: the request-duration histogram and, at
 * `info` and below, the access line. Two hooks would cost two hook invocations per request.
 */
export function recordRequests(
  app: FastifyInstance,
  metrics: ServerMetrics,
  access: ServerLogger['access'],
): void {
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched'
    const seconds = reply.elapsedTime / 1000
    metrics.requestDuration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      seconds,
    )
    access?.({
      reqId: request.id,
      method: request.method,
      route,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100,
      user: request.jwt?.identity ?? null,
    })
    done()
  })
}
