// The server harness of the e2e and attack suites (and of the browser and scale tests' clients): a real
// Tessera server on a loopback port with a fresh data directory (SQLite unless a test names another
// database), a small typed client over the global `fetch`, and the checks every file gets for free (after
// each test): no response was a 5xx, and no response body carried a password hash.
//
// `E2EServer` also exposes the running instance: the attack suite's claim attacks sign with the server's
// own active key (`signingKey`), which models "what if a token with these claims were authentic"; an
// attacker without the key cannot do it, which the forgery files show.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, expect, vi } from 'vitest'
import { main } from '../../packages/server/src/cli/main.js'
import { decodeUnverified, type TesseraKey } from '../../packages/tessera/src/index.js'
import { startServer, type RunningServer } from '../../packages/server/src/server/app.js'
import type { ServerConfig } from '../../packages/server/src/server/config.js'

// Argon2id costs 40–80 ms per hash on a small machine, more when files run in parallel.
vi.setConfig({ testTimeout: 20_000, hookTimeout: 30_000 })

/** A user as the API returns it. */
export interface UserBody {
  id: number
  username: string
  roles: string[]
  disabled: boolean
  created_at: string
  [key: string]: unknown
}

/** One entry of `GET /auth/sessions`. */
export interface SessionBody {
  id: string
  created_at: unknown
  last_used_at: unknown
  expires_at: unknown
  user_agent: string | null
  ip: string | null
  current: boolean
  [key: string]: unknown
}

/** A public JWK as served by `/.well-known/jwks.json`. */
export interface JwkBody {
  kty: string
  kid?: string
  alg?: string
  [key: string]: unknown
}

/** Any JSON response body, loosely typed for assertions (every field the contract names). */
export interface Body {
  error?: string
  message?: string
  access_token?: string
  refresh_token?: string
  token_type?: string
  expires_in?: number
  refresh_expires_in?: number
  session_id?: string
  user?: UserBody
  users?: UserBody[]
  /** `null` on `GET /users?after=` pages. */
  total?: number | null
  page?: number | null
  per_page?: number
  next_after?: number | null
  sessions?: SessionBody[]
  id?: number
  username?: string
  roles?: string[]
  disabled?: boolean
  created_at?: string
  logged_in_as?: string
  answer?: number
  status?: string
  checks?: Record<string, string>
  keys?: JwkBody[]
  openapi?: string
  paths?: Record<string, unknown>
  [key: string]: unknown
}

/** A parsed `Set-Cookie`. Attribute names are lower-cased; flags map to `true`. */
export interface SetCookie {
  name: string
  value: string
  attributes: Record<string, string | true>
}

/** One response. `body` is the JSON object (or `{}` when the body is not a JSON object). */
export interface ApiResponse {
  status: number
  headers: Headers
  text: string
  json: unknown
  body: Body
  cookies: SetCookie[]
}

/** What a request carries besides its method and path. */
export interface RequestOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string
  /** JSON-encoded, with `Content-Type: application/json`. */
  body?: unknown
  /** Sent as is (with `contentType`, default `application/json`): for malformed bodies. */
  raw?: string | Uint8Array
  contentType?: string
  headers?: Record<string, string>
  /** Sent as one `Cookie` header. */
  cookies?: Record<string, string>
}

/** Tokens and identifiers from a register, login or refresh response (header mode). */
export interface Tokens {
  access: string
  refresh: string
  sessionId: string
  userId: number
  body: Body
}

/** Methods the client sends. */
export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS'

/** The settings every e2e server gets unless a test overrides them. */
export function baseConfig(dataDir: string): Partial<ServerConfig> {
  return {
    dataDir,
    // Explicit, so the database can never land in the repository's ./data whatever the merge order.
    databaseUrl: join(dataDir, 'tessera.db'),
    port: 0,
    host: '127.0.0.1',
    logLevel: 'silent',
    tokenTransport: 'header',
    // Every request comes from 127.0.0.1: only the rate-limit tests keep the limits low.
    loginRatePerIp: 10_000,
    loginRatePerAccount: 10_000,
    registerRatePerIp: 10_000,
    refreshRatePerSession: 10_000,
    // The request deadline (503 after TESSERA_DATABASE_TIMEOUT, default 5 s) is for production; several
    // test files share two cores here, and a registration can then take seconds. Tests of the deadline
    // set their own.
    databaseTimeoutMs: 30_000,
  }
}

let counter = 0
/** A username unique within the process: `prefix-N`. */
export function uniqueName(prefix = 'user'): string {
  counter += 1
  return `${prefix}-${counter}`
}

/** The default password of the e2e users (comfortably inside 8..1024 bytes). */
export const PASSWORD = 'correct horse battery staple'

/** Header and payload of a token, without verifying it. */
export function decode(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const { header, payload } = decodeUnverified(token)
  return { header, claims: payload }
}

/** The claims of a token, without verifying it. */
export function claimsOf(token: string): Record<string, unknown> {
  return decode(token).claims
}

/** Parses one `Set-Cookie` value. */
export function parseSetCookie(line: string): SetCookie {
  const [pair = '', ...attrs] = line.split(';')
  const eq = pair.indexOf('=')
  const attributes: Record<string, string | true> = {}
  for (const attr of attrs) {
    const trimmed = attr.trim()
    if (trimmed === '') continue
    const i = trimmed.indexOf('=')
    if (i === -1) attributes[trimmed.toLowerCase()] = true
    else attributes[trimmed.slice(0, i).trim().toLowerCase()] = trimmed.slice(i + 1).trim()
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes }
}

/** True when a `Set-Cookie` deletes its cookie (empty value, `Max-Age=0` or an `Expires` in the past). */
export function isCleared(cookie: SetCookie): boolean {
  const maxAge = cookie.attributes['max-age']
  const expires = cookie.attributes.expires
  return (
    cookie.value === '' ||
    (typeof maxAge === 'string' && Number(maxAge) <= 0) ||
    (typeof expires === 'string' && Date.parse(expires) <= Date.now())
  )
}

/** The cookie named `name` in a response, or a thrown error listing what was set. */
export function cookieNamed(res: ApiResponse, name: string): SetCookie {
  const found = res.cookies.find((c) => c.name === name)
  if (found === undefined) {
    throw new Error(`no Set-Cookie for ${name}; got ${res.cookies.map((c) => c.name).join(', ') || 'none'}`)
  }
  return found
}

/** The cookies a response set (not the ones it cleared), as a name → value map. */
export function cookieJar(res: ApiResponse): Record<string, string> {
  const jar: Record<string, string> = {}
  for (const cookie of res.cookies) if (!isCleared(cookie)) jar[cookie.name] = cookie.value
  return jar
}

/** The median of a non-empty sample. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Every file under `dir` (recursively) with its permission bits. */
export async function filesWithModes(dir: string): Promise<{ path: string; mode: number }[]> {
  const out: { path: string; mode: number }[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    const path = join(entry.parentPath, entry.name)
    out.push({ path, mode: (await stat(path)).mode & 0o777 })
  }
  return out
}

const HASH_MARKERS = /\$argon2|password_?hash/i
const CREDENTIAL_KEY = /pass(word)?|hash|salt/i

// Object keys anywhere in `value` that look like credentials (a user object must never carry one).
function credentialKeys(value: unknown, path = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => credentialKeys(v, `${path}[${i}]`))
  if (value === null || typeof value !== 'object') return []
  return Object.entries(value).flatMap(([key, v]) => [
    ...(CREDENTIAL_KEY.test(key) ? [`${path}.${key}`] : []),
    ...credentialKeys(v, `${path}.${key}`),
  ])
}

/**
 * A client of one base URL: every request goes through {@link E2EClient.api}, which records violations
 * of the suite-wide rules (a 5xx, a password hash in a body) in {@link E2EClient.problems}.
 */
export class E2EClient {
  /** Violations of the suite-wide rules seen since the last check. */
  readonly problems: string[] = []
  protected baseUrl: string | undefined

  constructor(baseUrl?: string) {
    this.baseUrl = baseUrl
  }

  get url(): string {
    if (this.baseUrl === undefined) throw new Error('the server is not running')
    return this.baseUrl
  }

  /** Points the client at a server started elsewhere (e.g. a child process). */
  connect = (url: string): void => {
    this.baseUrl = url
  }

  /** One request; never throws on an HTTP error status. */
  api = async (method: Method, path: string, options: RequestOptions = {}): Promise<ApiResponse> => {
    const headers: Record<string, string> = { ...options.headers }
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
    if (options.cookies !== undefined) {
      headers.cookie = Object.entries(options.cookies)
        .map(([name, value]) => `${name}=${value}`)
        .join('; ')
    }
    let body: string | Uint8Array | undefined
    if (options.raw !== undefined) body = options.raw
    else if (options.body !== undefined) body = JSON.stringify(options.body)
    if (body !== undefined) headers['content-type'] ??= options.contentType ?? 'application/json'

    const response = await fetch(new URL(path, this.url), { method, headers, body, redirect: 'follow' })
    const text = await response.text()
    let json: unknown
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch {
      json = undefined
    }
    const res: ApiResponse = {
      status: response.status,
      headers: response.headers,
      text,
      json,
      body: json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Body) : {},
      cookies: response.headers.getSetCookie().map(parseSetCookie),
    }
    this.#check(method, path, res)
    return res
  }

  #check(method: Method, path: string, res: ApiResponse): void {
    const where = `${method} ${path} → ${res.status}`
    if (res.status >= 500) this.problems.push(`${where}: a 5xx (${res.text.slice(0, 200)})`)
    if (HASH_MARKERS.test(res.text)) this.problems.push(`${where}: the body mentions a password hash`)
    const isDocument = path.startsWith('/openapi.json') || path.startsWith('/docs')
    if (!isDocument && res.json !== undefined) {
      if (/argon2/i.test(res.text)) this.problems.push(`${where}: the JSON body mentions argon2`)
      for (const key of credentialKeys(res.json)) {
        this.problems.push(`${where}: credential-like key ${key} in the body`)
      }
    }
  }

  /** `POST /auth/register`, expecting 201 with tokens. */
  register = async (username: string, password = PASSWORD, options: RequestOptions = {}): Promise<Tokens> => {
    const res = await this.api('POST', '/auth/register', { ...options, body: { username, password } })
    expect(res.status, `register ${username}: ${res.text}`).toBe(201)
    return tokensOf(res)
  }

  /** `POST /auth/login`, expecting 200 with tokens. */
  login = async (username: string, password = PASSWORD, options: RequestOptions = {}): Promise<Tokens> => {
    const res = await this.api('POST', '/auth/login', { ...options, body: { username, password } })
    expect(res.status, `login ${username}: ${res.text}`).toBe(200)
    return tokensOf(res)
  }

  /** `POST /auth/refresh` with the refresh token as a Bearer token. */
  refresh = (refreshToken: string): Promise<ApiResponse> =>
    this.api('POST', '/auth/refresh', { token: refreshToken })

  /** `GET /auth/me` with an access token. */
  me = (accessToken: string): Promise<ApiResponse> => this.api('GET', '/auth/me', { token: accessToken })
}

/** What an in-process CLI run returned and printed. */
export interface CliResult {
  code: number
  /** stdout and stderr as they were interleaved. */
  output: string
  stdout: string
  stderr: string
}

/**
 * Runs the `tessera` CLI in process with `argv`, its stdout and stderr captured, and `env` set for the
 * duration of the call (then restored).
 */
export async function runCli(argv: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  const saved = new Map(Object.keys(env).map((name) => [name, process.env[name]]))
  const output: string[] = []
  const stdout: string[] = []
  const stderr: string[] = []
  const capture =
    (into: string[]) =>
    (chunk: unknown): boolean => {
      output.push(String(chunk))
      into.push(String(chunk))
      return true
    }
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture(stdout))
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture(stderr))
  Object.assign(process.env, env)
  try {
    const code = await main(argv)
    return { code, output: output.join(''), stdout: stdout.join(''), stderr: stderr.join('') }
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) Reflect.deleteProperty(process.env, name)
      else process.env[name] = value
    }
    out.mockRestore()
    err.mockRestore()
  }
}

/** A server for one test file (or one `describe`), with its client. Create it with {@link useServer}. */
export class E2EServer extends E2EClient {
  readonly overrides: Partial<ServerConfig>
  #server: RunningServer | undefined
  #dir: string | undefined

  constructor(overrides: Partial<ServerConfig> = {}) {
    super()
    this.overrides = overrides
  }

  /** The running instance (its context: key ring, stores, metrics). */
  get running(): RunningServer {
    if (this.#server === undefined) throw new Error('the server is not running')
    return this.#server
  }

  get config(): ServerConfig {
    return this.running.config
  }

  /** The server's active signing key: the insider power of the claim attacks. */
  get signingKey(): TesseraKey {
    return this.running.context.keys.active
  }

  get dir(): string {
    if (this.#dir === undefined) throw new Error('the data directory does not exist yet')
    return this.#dir
  }

  /** Creates the data directory (once) and starts a server on it. */
  start = async (): Promise<void> => {
    this.#dir ??= await mkdtemp(join(tmpdir(), 'tessera-e2e-'))
    this.#server = await startServer({ ...baseConfig(this.#dir), ...this.overrides })
    // As a load balancer would: no test request before `/readyz` says ready (the password threads).
    await this.#server.ready
    this.baseUrl = this.#server.url
  }

  /** Closes the server, keeping the data directory. */
  stop = async (): Promise<void> => {
    const server = this.#server
    this.#server = undefined
    this.baseUrl = undefined
    await server?.close()
  }

  /**
   * Closes the server and starts a new one on the same data directory (a new port). Everything kept in
   * memory starts afresh: rate-limit counters, the revocation replica (refilled from the database).
   */
  restart = async (): Promise<void> => {
    await this.stop()
    await this.start()
  }

  /** Closes the server and removes the data directory. */
  dispose = async (): Promise<void> => {
    try {
      await this.stop()
    } finally {
      if (this.#dir !== undefined) await rm(this.#dir, { recursive: true, force: true })
    }
  }

  /** Runs the CLI in process against this server's data directory (`--data-dir <dir>` appended). */
  cli = (argv: readonly string[], env: Record<string, string> = {}): Promise<CliResult> =>
    runCli([...argv, '--data-dir', this.dir], env)

  /**
   * Creates a user through the CLI, in process, the way an operator makes the first admin:
   * `tessera users create <name> [--admin] --data-dir <dir>` with `TESSERA_PASSWORD` set for the call.
   * The CLI's database is `<dir>/tessera.db`, the same file as {@link baseConfig}'s `databaseUrl`.
   */
  createUserWithCli = async (username: string, password: string, admin = true): Promise<void> => {
    const { code, output } = await this.cli(['users', 'create', username, ...(admin ? ['--admin'] : [])], {
      TESSERA_PASSWORD: password,
    })
    expect(code, `tessera users create ${username}: ${output}`).toBe(0)
  }

  /** The JWK the server publishes for `kid`. */
  jwk = async (kid: unknown): Promise<JwkBody> => {
    const res = await this.api('GET', '/.well-known/jwks.json')
    const jwk = (res.body.keys ?? []).find((k) => k.kid === kid)
    expect(jwk, `kid ${String(kid)} in the JWKS`).toBeDefined()
    return jwk!
  }
}

/** The tokens of a 200/201 token response (header mode), or a failed expectation. */
export function tokensOf(res: ApiResponse): Tokens {
  const { access_token: access, refresh_token: refresh, session_id: sessionId, user } = res.body
  expect(typeof access, `access_token in ${res.text}`).toBe('string')
  expect(typeof refresh, `refresh_token in ${res.text}`).toBe('string')
  const sid = typeof sessionId === 'string' ? sessionId : String(claimsOf(access!).sid)
  const userId = user?.id ?? Number(claimsOf(access!).sub)
  return { access: access!, refresh: refresh!, sessionId: sid, userId, body: res.body }
}

/**
 * A server for the enclosing file or `describe`: started before its tests, closed and its data directory
 * removed after them; after each test, fails the test if any response was a 5xx or leaked a hash.
 */
export function useServer(overrides: Partial<ServerConfig> = {}): E2EServer {
  const server = new E2EServer(overrides)
  // Generous: key generation and the first argon2 hashes on a loaded machine.
  beforeAll(server.start, 60_000)
  checkAfterEach(server)
  afterAll(server.dispose)
  return server
}

/** After each test, fails it if any response of `client` was a 5xx or carried a password hash. */
export function checkAfterEach(client: E2EClient): void {
  afterEach(() => {
    const problems = client.problems.splice(0)
    expect(problems, 'suite-wide rules: no 5xx, no password hash in any body').toEqual([])
  })
}

/** Asserts a contract error: status, `{ error: code, message }` body. */
export function expectError(res: ApiResponse, status: number, code: string): void {
  expect({ status: res.status, error: res.body.error }, res.text).toEqual({ status, error: code })
  expect(typeof res.body.message, `message in ${res.text}`).toBe('string')
}

/** Asserts a 401 with the given code and an RFC 6750 challenge. */
export function expectUnauthorized(res: ApiResponse, code?: string): void {
  expect(res.status, res.text).toBe(401)
  if (code !== undefined) expect(res.body.error, res.text).toBe(code)
  expect(res.headers.get('www-authenticate') ?? '', 'WWW-Authenticate').toMatch(/^Bearer\b/)
}
