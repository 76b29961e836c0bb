/**
 * The one way an error leaves the server: whatever was thrown (a {@link ServiceError} of the service,
 * a core `TesseraError`, Fastify's validation and body errors, the password pool or the database being
 * unavailable, a bug) becomes a status, headers and the `{ "error": code, "message": text }` body here,
 * and is counted: core errors through the Tessera plugin's own answer (its `errors.format` hook counts
 * `tessera_verify_failures_total`), the server's codes in `tessera_server_errors_total{code}`.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { isTesseraError, type AnyTesseraError } from 'tessera'
import type { ErrorResponse } from 'tessera/fastify'
import { serverErrors, ServiceError, type ServerErrorCode } from './errors.js'
import type { AccessLine } from './logging.js'
import type { ServerMetrics } from './metrics.js'
import { PasswordPoolBusyError, PasswordPoolError } from './password-pool.js'
import { MAX_PARAM_LENGTH } from './schemas.js'

/** An error as answered, with the line to log when it is the server's fault. */
export interface ErrorAnswer extends ErrorResponse {
  /** Set for 5xx answers: the error is logged with this message. */
  readonly log?: string
  /**
   * `warn` for an expected overload (logged with the error's message, no stack): a flood of them must
   * not read as a flood of faults. @default 'error'
   */
  readonly logLevel?: 'warn' | 'error'
}

/** What the mapper needs. */
export interface ErrorMapperOptions {
  /** The Tessera plugin's answer to a core error (`app.tessera.errorResponse`). */
  tesseraResponse(error: AnyTesseraError): ErrorResponse
  metrics: Pick<ServerMetrics, 'serverErrors'>
  /** The request body limit, in bytes, named by `payload_too_large`. */
  bodyLimit: number
}

/** Seconds a client is asked to wait when a dependency is unavailable. */
const UNAVAILABLE_RETRY_AFTER = 5

/** The mapper: any thrown value to its answer, counted. */
export function createErrorMapper(options: ErrorMapperOptions): (error: unknown) => ErrorAnswer {
  return (error) => {
    if (isTesseraError(error)) {
      const response = options.tesseraResponse(error)
      return response.status >= 500 ? { ...response, log: 'configuration error while serving' } : response
    }
    const { refusal, log, logLevel } = classify(error, options.bodyLimit)
    options.metrics.serverErrors.inc({ code: refusal.code })
    return {
      ...serviceErrorResponse(refusal),
      ...(log === undefined ? {} : { log }),
      ...(logLevel === undefined ? {} : { logLevel }),
    }
  }
}

/** The answer to a {@link ServiceError}: the registry's status and challenge, `Retry-After` when known. */
export function serviceErrorResponse(error: ServiceError): ErrorResponse {
  const spec: { status: number; challenge?: string } = serverErrors[error.code]
  const headers: Record<string, string> = {}
  if (spec.challenge !== undefined) headers['www-authenticate'] = spec.challenge
  if (error.retryAfter !== undefined) headers['retry-after'] = String(error.retryAfter)
  return { status: spec.status, headers, body: { error: error.code, message: error.message } }
}

// Fastify's own client errors by status (an unknown 4xx is a bad request).
const CLIENT_ERRORS: Partial<Record<number, ServerErrorCode>> = {
  404: 'not_found',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
}

/** What a thrown value means, as a server code (and the log line of a 5xx). */
function classify(
  error: unknown,
  bodyLimit: number,
): { refusal: ServiceError; log?: string; logLevel?: 'warn' } {
  if (error instanceof ServiceError) return { refusal: error }
  const fastify = error as Partial<FastifyError> | undefined
  if (fastify?.validation !== undefined) {
    // Ajv's "body must NOT have additional properties" does not say which one: name it.
    const [first] = fastify.validation
    const extra = (first?.params as { additionalProperty?: unknown } | undefined)?.additionalProperty
    const message =
      first?.keyword === 'additionalProperties' && typeof extra === 'string'
        ? `${fastify.message}: unknown field ${JSON.stringify(extra)}`
        : fastify.message
    return { refusal: new ServiceError('validation_error', message) }
  }
  switch (fastify?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        refusal: new ServiceError('payload_too_large', `Request bodies are limited to ${bodyLimit} bytes`),
      }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { refusal: new ServiceError('unsupported_media_type') }
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { refusal: new ServiceError('invalid_json') }
    case 'FST_ERR_MAX_PARAM_LENGTH':
      // Answered as the route's schema would answer it, without echoing the (long) path back.
      return {
        refusal: new ServiceError(
          'validation_error',
          `A path parameter is longer than ${MAX_PARAM_LENGTH} characters`,
        ),
      }
  }
  const status = fastify?.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's client errors (a body shorter than its Content-Length, a bad URL): their messages
    // describe the request, never server state.
    return { refusal: new ServiceError(CLIENT_ERRORS[status] ?? 'bad_request', fastify?.message) }
  }
  if (error instanceof PasswordPoolBusyError) {
    return {
      refusal: unavailable('Password checks are busy; retry shortly'),
      log: 'password threads busy',
      logLevel: 'warn',
    }
  }
  if (error instanceof PasswordPoolError) {
    // Same answer for every login (known user or not): no enumeration through a broken pool.
    return {
      refusal: unavailable('Password checks are unavailable; retry shortly'),
      log: 'password hashing unavailable',
    }
  }
  if (isDatabaseUnavailable(error)) {
    return { refusal: unavailable('The database is unavailable; retry shortly'), log: 'database unavailable' }
  }
  return { refusal: new ServiceError('internal_error'), log: 'unhandled error' }
}

const unavailable = (message: string): ServiceError =>
  new ServiceError('service_unavailable', message, { retryAfter: UNAVAILABLE_RETRY_AFTER })

/** The methods the server's routes use, for the hint of a 404 on a path that has routes. */
const ROUTE_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

/**
 * Answers every error of `app` through {@link createErrorMapper}, and unknown routes with `not_found`.
 * Call after the Tessera plugin is registered (it reads `app.tessera`). Returns the mapper, for answers
 * written outside Fastify's error handling (the request deadline's 503), and the answer itself, for
 * Fastify's `frameworkErrors` (a URL that does not decode, before any route runs).
 */
export function installErrorHandling(
  app: FastifyInstance,
  options: Omit<ErrorMapperOptions, 'tesseraResponse'>,
): {
  map: (error: unknown) => ErrorAnswer
  answer: (error: unknown, request: FastifyRequest, reply: FastifyReply) => FastifyReply
} {
  const map = createErrorMapper({ ...options, tesseraResponse: (error) => app.tessera.errorResponse(error) })
  const answer = (error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const response = map(error)
    if (response.log !== undefined) {
      if (response.logLevel === 'warn') request.log.warn({ reason: (error as Error).message }, response.log)
      else request.log.error({ err: error }, response.log)
    }
    return reply.code(response.status).headers(response.headers).send(response.body)
  }
  app.setErrorHandler(answer)
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? ''
    // A wrong method on a real path (GET /auth/login from a browser's address bar) names the right one.
    const methods = ROUTE_METHODS.filter(
      (method) => method !== request.method && app.hasRoute({ method, url: path }),
    )
    const hint =
      methods.length === 0 ? '' : ` (${methods.map((method) => `${method} ${path}`).join(', ')} does)`
    return answer(
      new ServiceError('not_found', `${request.method} ${path} does not exist${hint}`),
      request,
      reply,
    )
  })
  return { map, answer }
}

/**
 * Fastify's `clientErrorHandler`: a request Node's parser refused (both `Content-Length` and
 * `Transfer-Encoding`, a malformed request line, headers over the limit) answered in the server's
 * `{ error, message }` shape on the bare socket, as Node and Fastify do, instead of Fastify's own, and
 * counted in `tessera_server_errors_total` like every other answer.
 */
export function clientErrorAnswer(
  metrics: Pick<ServerMetrics, 'serverErrors'>,
  access?: AccessLine,
): (error: Error & { code?: string }, socket: Duplex) => void {
  return (error, socket) => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return
    const code: ServerErrorCode =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'request_timeout'
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? 'headers_too_large'
          : 'bad_request'
    metrics.serverErrors.inc({ code })
    // Its access line too (one per request): no request id, method or route was read.
    access?.('-', '-', '(unparsed)', serverErrors[code].status, 0, null)
    writeClientError(code, error, socket)
  }
}

function writeClientError(code: ServerErrorCode, error: Error, socket: Duplex): void {
  const { status, message } = serverErrors[code]
  const body = JSON.stringify({ error: code, message })
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${String(status)} ${STATUS_CODES[status] ?? ''}\r\nContent-Length: ${String(body.length)}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    )
  socket.destroy(error)
}

// Connection-level failures of the database drivers: refused, reset, or the pool closed under us.
// PostgreSQL: class 08 (connection exception), 57P0x (shutdown, cannot connect now), class 53 (too many
// connections, out of resources); node-postgres reports a dropped or timed-out connection by message only.
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
  // The database dropped or renamed, its password changed, or it refuses connections
  // (ALLOW_CONNECTIONS false: 55000, object_not_in_prerequisite_state, which Tessera's own SQL never
  // raises otherwise); class 53, insufficient resources (too many connections, disk full, memory).
  '3D000',
  '28000',
  '28P01',
  '55000',
  // statement_timeout, lock_timeout, idle-in-transaction timeout (TESSERA_DATABASE_TIMEOUT).
  '57014',
  '55P03',
  '25P03',
])
/**
 * SQLite's codes for a file the server cannot use right now — busy or locked past the timeout, full
 * (the disk), failing I/O, read-only, unopenable — with their extended forms (`SQLITE_IOERR_WRITE`,
 * `SQLITE_READONLY_DIRECTORY`…): an outage the operator can end, answered 503 like a PostgreSQL one.
 * A corrupt file or a constraint is not among them.
 */
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|READONLY|CANTOPEN|PERM)(_|$)/
const UNAVAILABLE_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|Query read timeout)/

/** Whether `error` (or what it wraps) says the database cannot be reached right now. */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (error === null || typeof error !== 'object' || depth > 3) return false
  const { code, message, cause, errors } = error as {
    code?: unknown
    message?: unknown
    cause?: unknown
    errors?: unknown
  }
  if (
    typeof code === 'string' &&
    (UNAVAILABLE_CODES.has(code) || /^(08|53)/.test(code) || SQLITE_UNAVAILABLE.test(code))
  )
    return true
  if (typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message)) return true
  // An AggregateError (connecting to ::1 and 127.0.0.1) or a wrapped error.
  if (Array.isArray(errors) && errors.some((e) => isDatabaseUnavailable(e, depth + 1))) return true
  return isDatabaseUnavailable(cause, depth + 1)
}
