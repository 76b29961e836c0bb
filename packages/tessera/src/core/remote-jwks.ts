/**
 * `remoteJwks()`: the issuer's public keys, fetched over HTTPS and kept fresh, as a read-only key ring
 * for a resource server (`createTessera({ keys: remoteJwks(url) })`).
 *
 * The verify path never waits on the network for a key it holds: keys are refreshed in the background
 * once `Cache-Control: max-age` (bounded) has passed, and stale keys keep verifying meanwhile. A token
 * naming an unknown `kid` (the first request, or the first after a rotation) starts at most one fetch
 * per cooldown, shared by every request that needs it; each waits for that fetch (bounded by the
 * timeout) and gets `token_unknown_key` if the key is still unknown. A failed fetch (down, slow, not
 * JSON, no usable key) changes nothing: the keys already held keep verifying, and the failure goes to
 * `onError` and `status()`.
 */
import type { Algorithm } from './algorithms.js'
import { parseDuration, type Duration } from './duration.js'
import { ConfigurationError, JwksUnavailableError, TokenUnknownKeyError } from './errors.js'
import { allowedAlgorithms, importPublicJwk, jwksKeys } from './jwks.js'
import type { Jwks, KeyRing, KeyRingEntry } from './key-ring.js'
import type { TesseraKey } from './keys.js'

/** Options of {@link remoteJwks}. Durations are seconds (fractions allowed) or `'500ms'`, `'5s'`, `'1h'`. */
export interface RemoteJwksOptions {
  /** Longest wait for one fetch (discovery and JWKS together), and so for a request with a new kid. @default '3s' */
  timeout?: Duration | undefined
  /** Least time between two fetches started because a token named an unknown kid. @default '5s' */
  cooldown?: Duration | undefined
  /** Shortest cache lifetime, whatever `Cache-Control` says (also used without `max-age`). @default '30s' */
  minCacheAge?: Duration | undefined
  /** Longest cache lifetime: keys removed at the issuer are dropped within this. @default '1h' */
  maxCacheAge?: Duration | undefined
  /** Algorithms accepted in the key set. @default every asymmetric algorithm */
  algorithms?: readonly Algorithm[] | undefined
  /** Called with every failed fetch and every refused key. @default a one-line `console.warn` */
  onError?: ((error: JwksUnavailableError) => void) | undefined
  /** The clock, in milliseconds (tests). @default Date.now */
  now?: (() => number) | undefined
  /** The fetch implementation (a proxy agent, tests). @default globalThis.fetch */
  fetch?: typeof fetch | undefined
}

/** What {@link RemoteJwks.status} reports. Times are milliseconds since the epoch. */
export interface RemoteJwksStatus {
  /** The JWKS URL (after discovery when started from an issuer). */
  url: string | undefined
  /** Key ids held now. */
  kids: string[]
  /** Fetches started. */
  fetches: number
  /** Fetches failed in total, and in a row since the last success. */
  failures: number
  consecutiveFailures: number
  lastSuccess: number | undefined
  lastFailure: number | undefined
  /** Message of the last failure (cleared by a success). */
  lastError: string | undefined
  /** When the held keys go stale and a background refresh starts; `undefined` before the first success. */
  staleAt: number | undefined
}

/** A read-only key ring fed by an issuer's JWKS. Its mutating methods throw a {@link ConfigurationError}. */
export interface RemoteJwks extends KeyRing {
  /** Fetches now unless a fetch is under way; resolves once keys are held, rejects if none could be fetched. */
  ready(): Promise<void>
  /** Fetches now (or joins the fetch under way); rejects with that fetch's failure. */
  refresh(): Promise<void>
  /** Fetch counters, last success and failure, and the kids held. */
  status(): RemoteJwksStatus
  /**
   * The engine calls this when a token names a kid the set does not hold: the fetch to wait for (never
   * rejects), or `undefined` when none may start yet (cooldown).
   */
  whenKeyMissing(): Promise<unknown> | undefined
}

/** True for a key ring made by {@link remoteJwks}. */
export function isRemoteJwks(value: unknown): value is RemoteJwks {
  return typeof (value as Partial<RemoteJwks> | undefined)?.whenKeyMissing === 'function'
}

/** Largest JWKS or metadata document read; a key set of a few keys is a few kilobytes. */
const MAX_DOCUMENT_BYTES = 1024 * 1024
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost'])
const WELL_KNOWN = '/.well-known/oauth-authorization-server'

/**
 * The issuer's key set at `url` as a read-only key ring. `https:` only, except loopback `http:`
 * (`127.0.0.1`, `[::1]`, `localhost`) for development. Nothing is fetched before the first
 * verification or `ready()`.
 *
 * @example
 * const auth = createTessera({
 *   keys: remoteJwks('https://auth.example.com/.well-known/jwks.json'),
 *   issuer: 'https://auth.example.com',
 *   audience: 'orders-api',
 * })
 */
export const remoteJwks: {
  (url: string | URL, options?: RemoteJwksOptions): RemoteJwks
  /**
   * Starts from the issuer alone: reads `jwks_uri` from its RFC 8414 metadata
   * (`<issuer>/.well-known/oauth-authorization-server`), whose `issuer` must equal `issuer` exactly.
   */
  fromIssuer(issuer: string, options?: RemoteJwksOptions): RemoteJwks
} = Object.assign(
  (url: string | URL, options?: RemoteJwksOptions): RemoteJwks =>
    createRemote({ url: checkUrl(url, 'url') }, options),
  {
    fromIssuer: (issuer: string, options?: RemoteJwksOptions): RemoteJwks => {
      const url = checkUrl(issuer, 'issuer')
      if (url.search !== '' || url.hash !== '') {
        throw new ConfigurationError('issuer', 'an issuer has no query or fragment (RFC 8414 §2)')
      }
      // RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
      const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '')
      return createRemote({ issuer, metadata: new URL(`${WELL_KNOWN}${path}`, url.origin) }, options)
    },
  },
)

interface Source {
  url?: URL | undefined
  issuer?: string | undefined
  metadata?: URL | undefined
}

interface Held {
  key: TesseraKey
  /** The key's members as published: an unchanged key is kept, not imported again. */
  published: string
  addedAt: number
}

function createRemote(source: Source, options: RemoteJwksOptions = {}): RemoteJwks {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- guard for JavaScript callers
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError('options', 'expected an options object')
  }
  const timeout = millis(options.timeout, 'timeout', 3_000)
  const cooldown = millis(options.cooldown, 'cooldown', 5_000)
  const minAge = millis(options.minCacheAge, 'minCacheAge', 30_000)
  const maxAge = millis(options.maxCacheAge, 'maxCacheAge', 3_600_000)
  if (maxAge < minAge) throw new ConfigurationError('maxCacheAge', 'must not be shorter than minCacheAge')
  const allowed = allowedAlgorithms(options.algorithms, 'algorithms')
  const clock = fn(options.now, 'now') ?? Date.now
  const fetchImpl = fn(options.fetch, 'fetch') ?? globalThis.fetch
  const onError =
    fn(options.onError, 'onError') ??
    ((error: JwksUnavailableError) => {
      console.warn(`tessera: ${error.message}`)
    })

  let jwksUrl = source.url
  let held = new Map<string, Held>()
  let order: TesseraKey[] = []
  let version = 0
  let staleAt = Number.POSITIVE_INFINITY
  let lastStart = Number.NEGATIVE_INFINITY
  let inflight: Promise<JwksUnavailableError | undefined> | undefined
  let lastRefusals = ''
  const listeners = new Set<() => void>()
  const counters = {
    fetches: 0,
    failures: 0,
    consecutiveFailures: 0,
    lastSuccess: undefined as number | undefined,
    lastFailure: undefined as number | undefined,
    lastError: undefined as JwksUnavailableError | undefined,
  }
  const where = (): string => (jwksUrl ?? source.metadata ?? '').toString()

  const report = (error: JwksUnavailableError): void => {
    try {
      onError(error)
    } catch {
      // A throwing logger must not turn a failed refresh into a failed request.
    }
  }

  const fetchJson = async (url: URL, signal: AbortSignal): Promise<{ body: unknown; headers: Headers }> => {
    const response = await fetchImpl(url, {
      signal,
      redirect: 'error',
      headers: { accept: 'application/json' },
    })
    if (!response.ok) {
      await response.body?.cancel()
      throw new Error(`answered HTTP ${response.status}`)
    }
    const text = await readBounded(response)
    try {
      return { body: JSON.parse(text) as unknown, headers: response.headers }
    } catch {
      throw new Error('answered something that is not JSON')
    }
  }

  const discover = async (metadata: URL, signal: AbortSignal): Promise<URL> => {
    const { body } = await fetchJson(metadata, signal)
    const document = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
    // RFC 8414 §3.3: the metadata must name this very issuer, or it describes another one.
    if (document.issuer !== source.issuer) {
      throw new Error(
        `metadata names issuer ${JSON.stringify(document.issuer)}, not ${JSON.stringify(source.issuer)}`,
      )
    }
    if (typeof document.jwks_uri !== 'string') throw new Error('metadata has no "jwks_uri"')
    return checkUrl(document.jwks_uri, 'jwks_uri')
  }

  const install = (body: unknown, cacheControl: string | null): void => {
    const list = jwksKeys(body, 'jwks')
    const next = new Map<string, Held>()
    const refusals: string[] = []
    const at = clock()
    const previous = new Map([...held.values()].map((h) => [h.published, h]))
    list.forEach((jwk, index) => {
      try {
        const published = JSON.stringify(jwk)
        const known = previous.get(published)
        const key = known?.key ?? importPublicJwk(jwk, `keys[${index}]`, allowed)
        if (next.has(key.kid))
          throw new ConfigurationError(`keys[${index}]`, `duplicate kid ${JSON.stringify(key.kid)}`)
        next.set(key.kid, { key, published, addedAt: known?.addedAt ?? at })
      } catch (error) {
        if (!(error instanceof ConfigurationError)) throw error
        refusals.push(error.message)
      }
    })
    const refused = refusals.join('; ')
    if (next.size === 0) throw new Error(`has no usable key${refused === '' ? '' : ` (${refused})`}`)
    if (refused !== lastRefusals && refused !== '') {
      report(new JwksUnavailableError(`JWKS ${where()}: refused ${refusals.length} key(s): ${refused}`))
    }
    lastRefusals = refused
    staleAt = at + Math.min(maxAge, Math.max(minAge, maxAgeOf(cacheControl)))
    const same = next.size === held.size && [...next].every(([kid, h]) => held.get(kid)?.key === h.key)
    held = next
    order = [...next.values()].map((h) => h.key)
    if (same) return
    // A new version makes the verifier forget its caches, so a key removed at the issuer stops verifying.
    version++
    for (const listener of listeners) listener()
  }

  const load = async (): Promise<void> => {
    const signal = AbortSignal.timeout(timeout)
    try {
      if (jwksUrl === undefined && source.metadata !== undefined) {
        jwksUrl = await discover(source.metadata, signal)
      }
      const { body, headers } = await fetchJson(jwksUrl as URL, signal)
      install(body, headers.get('cache-control'))
    } catch (error) {
      throw new JwksUnavailableError(`JWKS ${where()}: ${failureReason(error, timeout)}`, { cause: error })
    }
  }

  const start = (): Promise<JwksUnavailableError | undefined> => {
    lastStart = clock()
    counters.fetches++
    const run = async (): Promise<JwksUnavailableError | undefined> => {
      try {
        await load()
        counters.consecutiveFailures = 0
        counters.lastSuccess = clock()
        counters.lastError = undefined
        return undefined
      } catch (error) {
        const failure =
          error instanceof JwksUnavailableError ? error : new JwksUnavailableError(String(error))
        counters.failures++
        counters.consecutiveFailures++
        counters.lastFailure = clock()
        counters.lastError = failure
        report(failure)
        return failure
      } finally {
        inflight = undefined
      }
    }
    inflight = run()
    return inflight
  }

  const readOnly = (): never => {
    throw new ConfigurationError('keys', 'a remote JWKS is read-only: its keys change at the issuer')
  }

  return {
    get version() {
      // Read by the verifier on every call: the one place a stale set starts its background refresh,
      // without a timer and without making the request wait.
      if (clock() >= staleAt && inflight === undefined && clock() - lastStart >= cooldown) void start()
      return version
    },
    get active() {
      const first = order[0]
      if (first === undefined) throw new TokenUnknownKeyError('No key has been fetched from the JWKS yet')
      return first
    },
    get: (kid) => held.get(kid)?.key,
    entries: (): KeyRingEntry[] =>
      [...held.values()].map((h) => ({
        key: h.key,
        addedAt: Math.floor(h.addedAt / 1000),
        retiredAt: undefined,
      })),
    add: readOnly,
    rotate: () =>
      Promise.reject(
        new ConfigurationError('keys', 'a remote JWKS is read-only: its keys change at the issuer'),
      ),
    remove: readOnly,
    prune: readOnly,
    jwks: (): Jwks => ({
      keys: order.flatMap((key) => (key.publicJwk === undefined ? [] : [{ ...key.publicJwk }])),
    }),
    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    whenKeyMissing() {
      if (inflight !== undefined) return inflight
      if (clock() - lastStart < cooldown) return undefined
      return start()
    },
    async ready() {
      if (order.length > 0) return
      const failure = await (inflight ?? start())
      if (order.length === 0) throw failure ?? new JwksUnavailableError(`JWKS ${where()}: no key fetched`)
    },
    async refresh() {
      const failure = await (inflight ?? start())
      if (failure !== undefined) throw failure
    },
    status: () => ({
      url: jwksUrl?.toString(),
      kids: order.map((key) => key.kid),
      fetches: counters.fetches,
      failures: counters.failures,
      consecutiveFailures: counters.consecutiveFailures,
      lastSuccess: counters.lastSuccess,
      lastFailure: counters.lastFailure,
      lastError: counters.lastError?.message,
      staleAt: Number.isFinite(staleAt) ? staleAt : undefined,
    }),
  }
}

/** `https:`, or `http:` on a loopback host; never credentials in the URL. */
function checkUrl(value: unknown, option: string): URL {
  let url: URL
  try {
    url = new URL(String(value))
  } catch {
    throw new ConfigurationError(option, `${JSON.stringify(String(value))} is not a URL`)
  }
  if (url.username !== '' || url.password !== '') {
    throw new ConfigurationError(option, 'must not carry a user name or password')
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) return url
  throw new ConfigurationError(
    option,
    `must be an https: URL (http: only on loopback: 127.0.0.1, [::1], localhost), got ${url.protocol}//${url.host}`,
  )
}

/** `max-age` of a Cache-Control header in ms; 0 for `no-store`/`no-cache` or no usable directive. */
function maxAgeOf(header: string | null): number {
  if (header === null || /(?:^|,)\s*no-(?:store|cache)\b/i.test(header)) return 0
  const match = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(header)
  return match === null ? 0 : Number(match[1]) * 1000
}

async function readBounded(response: Response): Promise<string> {
  if (Number(response.headers.get('content-length')) > MAX_DOCUMENT_BYTES) {
    await response.body?.cancel()
    throw new Error(`answered more than ${MAX_DOCUMENT_BYTES} bytes`)
  }
  if (response.body === null) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength
    if (size > MAX_DOCUMENT_BYTES) throw new Error(`answered more than ${MAX_DOCUMENT_BYTES} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function failureReason(error: unknown, timeout: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no answer within ${timeout} ms`
  }
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause
    // fetch reports network failures as "fetch failed" with the reason (ECONNREFUSED, …) as its cause.
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message
  }
  return String(error)
}

function millis(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value * 1000
  if (typeof value === 'string') {
    const ms = /^\s*(\d+)\s*ms\s*$/.exec(value)
    if (ms !== null && Number(ms[1]) > 0) return Number(ms[1])
    return parseDuration(value, option) * 1000
  }
  throw new ConfigurationError(
    option,
    `expected a positive duration (seconds, '500ms', '5s'), got ${JSON.stringify(value)}`,
  )
}

function fn<T>(value: T | undefined, option: string): T | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw new ConfigurationError(option, `must be a function, got ${typeof value}`)
  }
  return value
}
