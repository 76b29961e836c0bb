/**
 * The server's logs: one pino logger writing JSON lines to stdout, access lines in batches (written on
 * exit too), one access-log line per request, and nothing in any line that can carry a token
 * or a password (RFC 6750 §5.3 warns that URLs with tokens end up in logs; ASVS V7.1.1/V16.2.5).
 *
 * - Access line (`info`): method, route pattern (never the raw URL), status, duration, request id, user
 *   id. It is written when Fastify reports the request ended to its log controller, after the answer
 *   left (and after any `onResponse` hook).
 * - Fastify's own per-request lines ("incoming request", "request completed") are off, except at
 *   `debug`/`trace`, where they appear with the URL's query values redacted.
 * - Headers are never serialised: the request serializer keeps method, redacted URL, host and address.
 */
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify'
import { hostname } from 'node:os'
import pino, { type DestinationStream, type Logger } from 'pino'
import type { ServerConfig } from './config.js'
import type { ServerMetrics } from './metrics.js'

/** The server's logger and what to do with it on shutdown. */
export interface ServerLogger {
  /**
   * Fastify's `loggerInstance`: pino's logger, whose children (`request.log`, a plugin's logger) are
   * made only when a line is written through them.
   */
  readonly logger: FastifyBaseLogger
  /**
   * Fastify's `logController`: its per-request lines are on only at `debug` and `trace`; `requests` is
   * told of every request's start and end.
   */
  logController(requests?: RequestEvents): LogController
  /** Writes out the access lines still gathered (shutdown, fatal errors). */
  flush(): void
  /**
   * Writes one access line, or undefined when the level is above `info`. The line has the shape of
   * pino's (`level`, `time`, `pid`, `hostname`, `reqId`, fields, `msg`) but is built directly: pino's
   * generic path (a child logger's bindings, serializers, the object walk) costs several µs per line.
   */
  readonly access: AccessLine | undefined
}

/**
 * Writes the access line of one request: its id, method, route pattern, status, duration in
 * milliseconds (written rounded to hundredths) and user id (null without a token). Positional, so recording a request allocates no
 * object.
 */
export type AccessLine = (
  reqId: string,
  method: string,
  route: string,
  status: number,
  ms: number,
  user: string | null,
) => void

/**
 * What the server does at the start and at the end of every request, called by Fastify's log
 * controller (which Fastify calls for every request anyway) instead of from an `onRequest` and an
 * `onResponse` hook: a hook costs every request a pass through Fastify's hook runner.
 */
export interface RequestEvents {
  /** The request was routed; no hook has run yet. */
  started(request: FastifyRequest, reply: FastifyReply): void
  /** Its response finished or failed, and the `onResponse` hooks (if any) have run. */
  ended(request: FastifyRequest, reply: FastifyReply): void
}

/** Printable ASCII without `"` and backslash: such a string is its own JSON text between quotes. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/
/** UTF-16 units outside ASCII (and DEL), written as `\uXXXX` escapes in an access line. */
const NON_ASCII = /[\u007f-\uffff]/g

/**
 * The JSON text of a string in ASCII only: `JSON.stringify(value)` with every unit from DEL up written
 * as a `\uXXXX` escape (JSON's own escape, so the parsed line holds the same string), and without
 * either call for the usual plain value. An ASCII line is its own bytes in any encoding, so a batch of
 * them is handed over with one copy and no UTF-8 pass (see `createServerLogger`).
 */
function quote(value: string): string {
  if (PLAIN.test(value)) return `"${value}"`
  return JSON.stringify(value).replace(
    NON_ASCII,
    (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/**
 * {@link quote} remembered for values from a small set (methods, route patterns: the server's routes
 * and `unmatched`), so the line of a request quotes only its id and user.
 */
function quoteCache(limit: number): (value: string) => string {
  const known = new Map<string, string>()
  return (value) => {
    let quoted = known.get(value)
    if (quoted === undefined) {
      quoted = quote(value)
      if (known.size < limit) known.set(value, quoted)
    }
    return quoted
  }
}

/**
 * Milliseconds rounded to hundredths, as JSON text built from integers (`0.41`, `2.5`, `12`): no
 * floating-point formatting on every request.
 */
function hundredths(ms: number): string {
  const h = Math.round(ms * 100)
  if (!(h >= 0 && h <= 0x3fffffff)) return Number.isFinite(ms) ? String(h / 100) : 'null'
  const whole = Math.trunc(h / 100)
  const part = h - whole * 100
  if (part === 0) return `${whole}`
  if (part % 10 === 0) return `${whole}.${part / 10}`
  return `${whole}.${part < 10 ? '0' : ''}${part}`
}

/**
 * Query parameters whose value is replaced by `[redacted]` in every logged URL. Any parameter whose
 * value looks like a JWT is redacted too, whatever its name.
 */
const SENSITIVE_PARAM =
  /^(access_?token|refresh_?token|id_?token|token|jwt|auth|authorization|bearer|password|passwd|pass|pwd|secret|client_secret|api_?key|key|code|session|session_?id|csrf|csrf_?token|signature|sig)$/i
const REDACTED = '[redacted]'
/** Longest URL a log line carries; the rest is cut (after redaction, so no part of a token survives). */
export const LOGGED_URL_MAX = 1024

/** Maximal runs of the characters a JWT is made of (base64url and dots). */
const TOKEN_RUNS = /[\w.-]+/g

/**
 * `text` with every JWT-shaped run (`eyJ`, then a dot later in the same run) replaced from its `eyJ`
 * on. One linear pass: a regular expression that looked for `eyJ…` followed by a dot took quadratic
 * time on `eyJeyJeyJ…` without one (152 ms for a 16 KB query string, the event loop held).
 */
function redactJwts(text: string): string {
  if (!text.includes('eyJ')) return text
  return text.replace(TOKEN_RUNS, (run) => {
    const at = run.indexOf('eyJ')
    return at >= 0 && run.includes('.', at + 3) ? `${run.slice(0, at)}${REDACTED}` : run
  })
}

/**
 * The URL with the value of every parameter that can carry a credential replaced by `[redacted]`
 * (names kept, so a debug line still says what was sent), and any JWT-shaped text in the path too;
 * cut to {@link LOGGED_URL_MAX} characters. Linear in the URL's length.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?')
  let redacted: string
  if (q < 0) redacted = redactJwts(url)
  else {
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
      const value = eq < 0 ? part : part.slice(eq + 1)
      const jwt = redactJwts(value) !== value
      if (eq >= 0 && (jwt || SENSITIVE_PARAM.test(decoded.trim()))) parts[i] = `${name}=${REDACTED}`
      else if (eq < 0 && jwt) parts[i] = REDACTED
    }
    redacted = `${redactJwts(url.slice(0, q))}?${parts.join('&')}`
  }
  return redacted.length <= LOGGED_URL_MAX
    ? redacted
    : `${redacted.slice(0, LOGGED_URL_MAX)}…[${redacted.length - LOGGED_URL_MAX} more characters]`
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

/** Longest time an access line waits to be handed to the destination, in milliseconds. */
const ACCESS_DELAY_MS = 100
/** Characters (= bytes: the lines are ASCII) of access lines, about 400, handed over at once. */
const ACCESS_BATCH = 65_536

/**
 * The server's logger at `config.logLevel`. Lines go to `destination` when given (tests), otherwise to
 * stdout through pino's synchronous destination (sonic-boom, `sync: true`, in its bytes mode): a line
 * handed over is written by one `write` system call on the event loop, with no thread pool round trip.
 *
 * Access lines are gathered and handed over together, at most {@link ACCESS_DELAY_MS} after the first
 * of them or as soon as about {@link ACCESS_BATCH} bytes are waiting, so a busy server makes one system
 * call per ~400 requests instead of one per request. A line is ASCII only (non-ASCII text is written
 * as JSON `\u` escapes): the batch is gathered as one string and turned into bytes by one copy
 * (`latin1`, exact for ASCII) when handed over, with no per-line call into the buffer code and no
 * UTF-8 measuring or encoding pass. In the server's profile the access line fell from about 5.5 % to
 * 4.6 % of a request; copying each line into a buffer as it is made (`latin1` too) measured the same
 * there (bench/RESULTS.md §15). Any other line first hands over the access lines gathered before it,
 * so the log keeps the order in which things happened; `flush()` (the server's close) and the
 * process's exit hand them over too.
 */
export function createServerLogger(
  level: ServerConfig['logLevel'],
  destination?: DestinationStream,
): ServerLogger {
  const own =
    destination === undefined && level !== 'silent'
      ? pino.destination({ dest: 1, sync: true, contentMode: 'buffer' })
      : undefined
  const stream: DestinationStream | undefined = destination ?? own
  // Writes text out: our own destination takes bytes (sonic-boom's `contentMode: 'buffer'`, encoded
  // here; its TypeScript signature names only strings), one given by the caller (tests) takes text.
  const emit = (text: string, encoding: 'latin1' | 'utf8'): void => {
    if (own !== undefined) own.write(Buffer.from(text, encoding) as unknown as string)
    else destination?.write(text)
  }
  // The access lines gathered, ASCII only.
  let pending = ''
  let timer: NodeJS.Timeout | undefined
  const handOver = (): void => {
    if (timer !== undefined) {
      clearTimeout(timer)
      timer = undefined
    }
    if (pending === '') return
    const lines = pending
    pending = ''
    emit(lines, 'latin1')
  }
  const ordered: DestinationStream | undefined =
    stream === undefined
      ? undefined
      : {
          write(line: string) {
            if (pending !== '') handOver()
            emit(line, 'utf8')
          },
        }
  const logger = pino(
    {
      level,
      // No `redact` paths: they cost every line a pass, and no line carries headers or bodies — the
      // serializers below drop them, and test/e2e/logging.test.ts greps every level's output.
      serializers: { req: serializeRequest, res: serializeReply, err: pino.stdSerializers.err },
    },
    ordered,
  )
  const verbose = level === 'debug' || level === 'trace'
  const info = level === 'info' || verbose
  // pino's base fields, as every other line carries them.
  const base = `,"pid":${process.pid},"hostname":${quote(hostname())}`
  const flushSync = (): void => {
    handOver()
    if (stream !== undefined && 'flushSync' in stream && typeof stream.flushSync === 'function') {
      try {
        ;(stream.flushSync as () => void)()
      } catch {
        // Nothing buffered, or the destination is already closed.
      }
    }
  }
  let access: ServerLogger['access']
  if (stream !== undefined && info) {
    // Access lines still gathered when the process exits (a fatal error, process.exit) are written then.
    process.once('exit', flushSync)
    const quoted = quoteCache(1000)
    // The line's start up to the request id, made again only when the millisecond changes (a busy
    // server writes tens of lines per millisecond).
    let at = 0
    let head = ''
    access = (reqId, method, route, status, ms, user): void => {
      const now = Date.now()
      if (now !== at) {
        at = now
        head = `{"level":30,"time":${now}${base},"reqId":`
      }
      pending += `${head}${quote(reqId)},"method":${quoted(method)},"route":${quoted(route)},"status":${status},"ms":${hundredths(ms)},"user":${user === null ? 'null' : quote(user)},"msg":"request"}\n`
      if (pending.length >= ACCESS_BATCH) handOver()
      else if (timer === undefined) {
        timer = setTimeout(handOver, ACCESS_DELAY_MS)
        timer.unref()
      }
    }
  }
  return {
    access,
    logger: LazyLogger.over(logger),
    logController: (requests) => new RequestLog(verbose, requests),
    flush() {
      process.removeListener('exit', flushSync)
      flushSync()
    },
  }
}

type Bindings = Parameters<FastifyBaseLogger['child']>[0]
type ChildOptions = Parameters<FastifyBaseLogger['child']>[1]
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

/**
 * A pino logger whose children are made on the first line written through them. Fastify makes a child
 * of its logger for every request (`request.log`: pino's `child`, a new object with its bindings
 * serialised) while most requests never log through it: the access line is written by
 * {@link requestRecorder}. Given to Fastify as its `loggerInstance`, with Fastify's default child
 * factory: a custom `childLoggerFactory` would have Fastify check the shape of every request's logger.
 */
class LazyLogger implements FastifyBaseLogger {
  #logger: Logger | undefined
  readonly #parent: LazyLogger | undefined
  readonly #bindings: Bindings
  readonly #options: ChildOptions
  private constructor(
    parent: LazyLogger | undefined,
    bindings: Bindings,
    options: ChildOptions,
    logger?: Logger,
  ) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
    this.#logger = logger
  }
  /** `logger` itself, with lazy children. */
  static over(logger: Logger): LazyLogger {
    return new LazyLogger(undefined, {}, undefined, logger)
  }
  /** The pino logger: this child of the parent's, made now if no line was written yet. */
  #real(): Logger {
    // Only the root is made with its logger; every other one has a parent.
    this.#logger ??= (this.#parent as LazyLogger).#real().child(this.#bindings, this.#options)
    return this.#logger
  }
  #write(level: Level, args: unknown[]): void {
    this.#real()[level](...(args as Parameters<FastifyBaseLogger['info']>))
  }
  /**
   * pino's serializers: Fastify reads them to put its own (`req`, `res`, `err`) under the server's in
   * the logger it makes from this one.
   */
  get [pino.symbols.serializersSym](): unknown {
    return (this.#real() as unknown as Record<symbol, unknown>)[pino.symbols.serializersSym]
  }
  /** pino's level names and values: Fastify checks a route's or a plugin's `logLevel` against them. */
  get levels(): Logger['levels'] {
    return this.#real().levels
  }
  isLevelEnabled(level: string): boolean {
    return this.#real().isLevelEnabled(level)
  }
  bindings(): ReturnType<Logger['bindings']> {
    return this.#real().bindings()
  }
  get level(): string {
    return this.#logger?.level ?? this.#options?.level ?? (this.#parent as LazyLogger).level
  }
  set level(level: string) {
    this.#real().level = level
  }
  fatal(...args: unknown[]): void {
    this.#write('fatal', args)
  }
  error(...args: unknown[]): void {
    this.#write('error', args)
  }
  warn(...args: unknown[]): void {
    this.#write('warn', args)
  }
  info(...args: unknown[]): void {
    this.#write('info', args)
  }
  debug(...args: unknown[]): void {
    this.#write('debug', args)
  }
  trace(...args: unknown[]): void {
    this.#write('trace', args)
  }
  silent(): void {
    // Nothing is written at the silent level.
  }
  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return new LazyLogger(this, bindings, options)
  }
}

/**
 * Fastify's log controller: its lines about each request ("incoming request", "request completed")
 * only when `verbose`, and `requests` told of each request's start and end.
 */
class RequestLog extends LogController {
  readonly #requests: RequestEvents | undefined
  constructor(verbose: boolean, requests: RequestEvents | undefined) {
    super({ disableRequestLogging: !verbose })
    this.#requests = requests
  }
  // Fastify calls these outside its hook runner (from the request listener, from the response's
  // `finish` event): a failure is logged here instead of escaping as an uncaught exception.
  override incomingRequest(request: FastifyRequest, reply: FastifyReply): void {
    try {
      this.#requests?.started(request, reply)
    } catch (error) {
      reply.log.error({ err: error }, 'recording the start of the request failed')
    }
    super.incomingRequest(request, reply)
  }
  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    try {
      this.#requests?.ended(request, reply)
    } catch (failure) {
      reply.log.error({ err: failure }, 'recording the end of the request failed')
    }
    super.requestCompleted(error, request, reply)
  }
}

/**
 * What is recorded of each answered request: the request-duration histogram and, at `info` and below,
 * the access line. Called at the end of every request ({@link RequestEvents}, app.ts).
 */
export function requestRecorder(
  metrics: ServerMetrics,
  access: ServerLogger['access'],
): (request: FastifyRequest, reply: FastifyReply) => void {
  return (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched'
    const elapsed = reply.elapsedTime
    const { method } = request
    const status = reply.statusCode
    metrics.requestDuration.observe(method, route, status, elapsed / 1000)
    access?.(request.id, method, route, status, elapsed, request.jwt?.identity ?? null)
  }
}
