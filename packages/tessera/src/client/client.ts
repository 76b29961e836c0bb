/**
 * The browser client of a Tessera server: log in, register, log out, and a `fetch` that authenticates
 * each request, refreshes the access token ahead of its expiry or on a 401 `token_expired`, and retries
 * the request once. Refreshes are single-flight within a tab and across tabs (see `coordinator.ts`).
 *
 * Cookie mode: the tokens live in HttpOnly cookies the page cannot read; the client sends the readable
 * CSRF cookie's value in `X-CSRF-TOKEN` on unsafe methods. Header mode: the tokens live in this object's
 * memory only (never in `localStorage`, never posted to other tabs); each tab has its own session.
 */
import {
  broadcastLocks,
  noLocks,
  webLocks,
  type ChannelFactory,
  type ChannelLike,
  type ElectionTimings,
  type LockManagerLike,
  type WithLock,
} from './coordinator.js'

/** How tokens travel between the server and this client. */
export type ClientMode = 'cookie' | 'header'

/** A user as the server returns it. */
export interface ClientUser {
  id: number
  username: string
  roles: string[]
  disabled?: boolean | undefined
  created_at?: string | undefined
}

/** The answer of a login or registration. */
export interface AuthResult {
  user: ClientUser
  sessionId: string
  /** Milliseconds since the epoch at which the access token expires. */
  expiresAt: number
  message?: string | undefined
}

/** What happened to the session; see {@link TesseraClient.subscribe}. */
export type ClientEvent =
  | { type: 'login'; user: ClientUser; sessionId: string; expiresAt: number }
  | { type: 'refresh'; source: 'this-tab' | 'other-tab'; expiresAt: number | undefined; at: number }
  /**
   * `logout`: this tab's `logout()`/`logoutAll()`; `other-tab`: another tab's (cookie mode, told at
   * once over the cross-tab channel); `session-ended`: the server refused the session.
   */
  | { type: 'logout'; reason: 'logout' | 'other-tab' | 'session-ended' }

/** Browser APIs the client uses, injectable for tests and non-window contexts. */
export interface ClientEnvironment {
  fetch: (input: string, init?: RequestInit) => Promise<Response>
  /** The page's readable cookies (`document.cookie`). */
  cookies: () => string
  /** `navigator.locks`, when available. */
  locks: LockManagerLike | undefined
  /** `(name) => new BroadcastChannel(name)`, when available. */
  channel: ChannelFactory | undefined
  now: () => number
}

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** The server's origin (and base path); `''` for the page's own origin. @default '' */
  baseUrl?: string | undefined
  /** Must match the server's `TESSERA_TOKEN_TRANSPORT`. */
  mode: ClientMode
  /**
   * Refresh when the access token has less than this left (seconds), capped at a fifth of its lifetime
   * so that short-lived tokens are not refreshed on every call. @default 30
   */
  refreshMargin?: number | undefined
  /**
   * Milliseconds after which a refresh request is abandoned, so that a hung request cannot hold the
   * cross-tab lock. @default 15000
   */
  refreshTimeout?: number | undefined
  /** Coordinate refreshes with the other tabs of this origin. @default true */
  crossTab?: boolean | undefined
  /** Header carrying the CSRF value. @default 'X-CSRF-TOKEN' */
  csrfHeader?: string | undefined
  /** Readable CSRF cookies. @default 'csrf_access_token', 'csrf_refresh_token' */
  csrfAccessCookie?: string | undefined
  csrfRefreshCookie?: string | undefined
  /** Timings of the BroadcastChannel fallback when the Web Locks API is missing. */
  election?: Partial<ElectionTimings> | undefined
  /** Browser APIs (defaults: the globals). */
  env?: Partial<ClientEnvironment> | undefined
}

/** A non-2xx answer of the server, with its `{ error, message }` body. */
export class TesseraHttpError extends Error {
  readonly status: number
  readonly code: string

  constructor(status: number, code: string, message: string) {
    super(message)
    this.name = 'TesseraHttpError'
    this.status = status
    this.code = code
  }
}

/** The client; create it with {@link createClient}. */
export interface TesseraClient {
  readonly mode: ClientMode
  /** The user of the last login in this tab, if any (the server remains the authority). */
  readonly user: ClientUser | undefined
  /** When the access token expires (ms since the epoch), when known. */
  readonly expiresAt: number | undefined
  /** True when a session may exist: tokens in memory (header mode) or a CSRF cookie (cookie mode). */
  readonly maybeAuthenticated: boolean
  login(username: string, password: string): Promise<AuthResult>
  register(username: string, password: string): Promise<AuthResult>
  /** Ends this session (`POST /auth/logout`); the local state is cleared even if the server refuses. */
  logout(): Promise<void>
  /** Ends every session of the user (`POST /auth/logout-all`). */
  logoutAll(): Promise<void>
  /** `fetch` with authentication, CSRF, refresh and one retry. Relative paths go to `baseUrl`. */
  fetch(path: string, init?: RequestInit): Promise<Response>
  /** {@link fetch}, then the JSON body; throws {@link TesseraHttpError} on a non-2xx status. */
  json<T = unknown>(path: string, init?: RequestInit): Promise<T>
  /** Refreshes now (single-flight). Resolves to false when the session is over. */
  refresh(): Promise<boolean>
  /** Listens to logins, refreshes (this tab's and other tabs') and logouts. Returns the unsubscriber. */
  subscribe(listener: (event: ClientEvent) => void): () => void
  /** Closes the cross-tab channel. */
  close(): void
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

interface BrowserGlobals {
  document?: { cookie: string } | undefined
  navigator?: { locks?: LockManagerLike | undefined } | undefined
  BroadcastChannel?: (new (name: string) => ChannelLike) | undefined
}

function defaultEnvironment(): ClientEnvironment {
  const g = globalThis as unknown as BrowserGlobals
  const Channel = g.BroadcastChannel
  return {
    fetch: (input, init) => globalThis.fetch(input, init),
    cookies: () => g.document?.cookie ?? '',
    locks: g.navigator?.locks,
    channel: Channel === undefined ? undefined : (name) => new Channel(name),
    now: () => Date.now(),
  }
}

/** The value of one cookie in a `document.cookie` string. */
export function readCookie(cookies: string, name: string): string | undefined {
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=')
    if (eq === -1) continue
    if (part.slice(0, eq).trim() !== name) continue
    const value = part.slice(eq + 1).trim()
    if (value === '') return undefined
    try {
      return decodeURIComponent(value)
    } catch {
      return value
    }
  }
  return undefined
}

// Cookie mode: a tab that refreshed tells the others the new expiry (never a token: header-mode tokens
// stay in the memory of the tab that obtained them, and each such tab has its own session).
type TabMessage =
  { kind: 'tessera'; type: 'refreshed'; expiresAt: number } | { kind: 'tessera'; type: 'logged-out' }

function isTabMessage(value: unknown): value is TabMessage {
  if (value === null || typeof value !== 'object') return false
  const m = value as { kind?: unknown; type?: unknown; expiresAt?: unknown }
  if (m.kind !== 'tessera') return false
  return m.type === 'logged-out' || (m.type === 'refreshed' && typeof m.expiresAt === 'number')
}

interface TokenBody {
  access_token?: string | undefined
  refresh_token?: string | undefined
  expires_in?: number | undefined
  session_id?: string | undefined
  user?: ClientUser | undefined
  message?: string | undefined
}

async function errorOf(response: Response): Promise<TesseraHttpError> {
  let code = 'http_error'
  let message = `${response.status} ${response.statusText}`.trim()
  try {
    const body = (await response.clone().json()) as { error?: unknown; message?: unknown }
    if (typeof body.error === 'string') code = body.error
    if (typeof body.message === 'string') message = body.message
  } catch {
    // Not JSON: keep the status line.
  }
  return new TesseraHttpError(response.status, code, message)
}

/** Creates a client of one Tessera server. */
export function createClient(options: ClientOptions): TesseraClient {
  const env: ClientEnvironment = { ...defaultEnvironment(), ...options.env }
  const mode = options.mode
  const baseUrl = (options.baseUrl ?? '').replace(/\/$/, '')
  const margin = (options.refreshMargin ?? 30) * 1000
  const csrfHeader = options.csrfHeader ?? 'X-CSRF-TOKEN'
  const csrfAccessCookie = options.csrfAccessCookie ?? 'csrf_access_token'
  const csrfRefreshCookie = options.csrfRefreshCookie ?? 'csrf_refresh_token'
  const crossTab = options.crossTab ?? true
  const refreshTimeout = options.refreshTimeout ?? 15_000
  const channelName = `tessera:${baseUrl === '' ? 'same-origin' : baseUrl}`

  let accessToken: string | undefined
  let refreshToken: string | undefined
  let sessionId: string | undefined
  let user: ClientUser | undefined
  let expiresAt: number | undefined
  let lifetime: number | undefined
  // Cookie mode: the CSRF value of the access token whose expiry `expiresAt` describes.
  let knownCsrf: string | undefined
  // A request of this tab succeeded with credentials: a later token_missing means the session ended.
  let hadSession = false
  let inFlight: Promise<boolean> | undefined
  const listeners = new Set<(event: ClientEvent) => void>()

  const emit = (event: ClientEvent): void => {
    for (const listener of [...listeners]) {
      try {
        listener(event)
      } catch {
        // A listener's failure is its own.
      }
    }
  }
  const cookie = (name: string): string | undefined => readCookie(env.cookies(), name)
  const isAbsolute = (path: string): boolean => /^([a-z][a-z\d+.-]*:|\/\/)/i.test(path)
  const url = (path: string): string => (isAbsolute(path) ? path : `${baseUrl}${path}`)
  // Credentials go only to the server: an absolute URL elsewhere is fetched without them.
  const ownOrigin = ((): string | undefined => {
    try {
      const page = (globalThis as { location?: { href: string } | undefined }).location?.href
      return new URL(baseUrl === '' ? (page ?? '') : baseUrl, page).origin
    } catch {
      return undefined
    }
  })()
  const isOurs = (path: string): boolean => {
    if (!isAbsolute(path)) return true
    try {
      const target = new URL(path, ownOrigin)
      return target.origin === ownOrigin && (baseUrl === '' || target.href.startsWith(`${baseUrl}/`))
    } catch {
      return false
    }
  }
  const credentials: RequestInit['credentials'] = mode === 'cookie' ? 'include' : 'same-origin'

  const channel: ChannelLike | undefined =
    crossTab && mode === 'cookie' ? env.channel?.(`${channelName}:tabs`) : undefined
  const lockChannel: ChannelLike | undefined =
    crossTab && env.locks === undefined ? env.channel?.(`${channelName}:locks`) : undefined
  const withLock: WithLock = !crossTab
    ? noLocks
    : env.locks !== undefined
      ? webLocks(env.locks)
      : lockChannel !== undefined
        ? broadcastLocks(lockChannel, options.election)
        : noLocks

  const onMessage = (event: { data: unknown }): void => {
    const m = event.data
    if (mode !== 'cookie' || !isTabMessage(m)) return
    if (m.type === 'logged-out') {
      // A CSRF cookie readable now belongs to a session begun since (the logout cleared them): a tab
      // that signed in meanwhile keeps its state.
      if (cookie(csrfAccessCookie) !== undefined || cookie(csrfRefreshCookie) !== undefined) return
      // The cookies are shared: the session that tab ended was this tab's too.
      const had = maybe()
      clear()
      if (had) emit({ type: 'logout', reason: 'other-tab' })
      return
    }
    // The cookies are shared: the new access token is already this tab's.
    knownCsrf = cookie(csrfAccessCookie)
    hadSession = true
    setExpiry(m.expiresAt)
    emit({ type: 'refresh', source: 'other-tab', expiresAt: m.expiresAt, at: env.now() })
  }
  channel?.addEventListener('message', onMessage)

  function setExpiry(at: number | undefined): void {
    expiresAt = at
    if (at !== undefined) lifetime ??= Math.max(0, at - env.now())
  }

  function clear(): void {
    accessToken = undefined
    refreshToken = undefined
    sessionId = undefined
    user = undefined
    expiresAt = undefined
    knownCsrf = undefined
    hadSession = false
  }

  function adopt(body: TokenBody): number {
    const ttl = typeof body.expires_in === 'number' ? body.expires_in * 1000 : 0
    const at = env.now() + ttl
    lifetime = ttl
    if (mode === 'header') {
      accessToken = body.access_token
      refreshToken = body.refresh_token
    } else {
      knownCsrf = cookie(csrfAccessCookie)
    }
    hadSession = true
    if (typeof body.session_id === 'string') sessionId = body.session_id
    if (body.user !== undefined) user = body.user
    setExpiry(at)
    return at
  }

  const canRefresh = (): boolean =>
    mode === 'header' ? refreshToken !== undefined : cookie(csrfRefreshCookie) !== undefined

  // The marker of the credentials a request used: a different one later means a refresh happened.
  const marker = (): string | undefined => (mode === 'header' ? accessToken : cookie(csrfAccessCookie))

  function headersFor(method: string, init: RequestInit | undefined, refresh = false): Headers {
    const headers = new Headers(init?.headers)
    if (mode === 'header') {
      const token = refresh ? refreshToken : accessToken
      if (token !== undefined && !headers.has('authorization'))
        headers.set('authorization', `Bearer ${token}`)
    } else if (UNSAFE.has(method) && !headers.has(csrfHeader)) {
      const csrf = cookie(refresh ? csrfRefreshCookie : csrfAccessCookie)
      if (csrf !== undefined) headers.set(csrfHeader, csrf)
    }
    return headers
  }

  async function sendRefresh(): Promise<boolean> {
    const headers = headersFor('POST', undefined, true)
    const response = await env.fetch(url('/auth/refresh'), {
      method: 'POST',
      headers,
      credentials,
      signal: AbortSignal.timeout(refreshTimeout),
    })
    if (!response.ok) {
      if (response.status === 401 || response.status === 403) {
        clear()
        emit({ type: 'logout', reason: 'session-ended' })
        return false
      }
      throw await errorOf(response)
    }
    const at = adopt((await response.json()) as TokenBody)
    channel?.postMessage({ kind: 'tessera', type: 'refreshed', expiresAt: at } satisfies TabMessage)
    emit({ type: 'refresh', source: 'this-tab', expiresAt: at, at: env.now() })
    return true
  }

  /**
   * Refreshes unless someone (this tab or another) already replaced the credentials identified by
   * `stale`. Single-flight in the tab (one promise) and across tabs (the lock).
   */
  function refreshFrom(stale: string | undefined): Promise<boolean> {
    if (inFlight !== undefined) return inFlight
    const lockName = `${channelName}:refresh${mode === 'header' ? `:${sessionId ?? ''}` : ''}`
    const run = withLock(lockName, async () => {
      const current = marker()
      if (current !== undefined && current !== stale) return true
      if (!canRefresh()) return false
      return sendRefresh()
    })
    inFlight = run
    const reset = (): void => {
      if (inFlight === run) inFlight = undefined
    }
    run.then(reset, reset)
    return run
  }

  function needsRefreshAhead(): boolean {
    if (!canRefresh()) return false
    if (mode === 'cookie') {
      const csrf = cookie(csrfAccessCookie)
      // The access cookie expired with its CSRF twin (same Max-Age), or another tab refreshed it.
      if (csrf === undefined) return true
      if (csrf !== knownCsrf) return false
    } else if (accessToken === undefined) {
      return true
    }
    if (expiresAt === undefined) return false
    const ahead = Math.min(margin, (lifetime ?? 0) / 5)
    return env.now() >= expiresAt - ahead
  }

  async function authFetch(path: string, init: RequestInit = {}): Promise<Response> {
    if (!isOurs(path)) return env.fetch(path, init)
    const method = (init.method ?? 'GET').toUpperCase()
    if (needsRefreshAhead()) {
      try {
        await refreshFrom(mode === 'cookie' ? knownCsrf : accessToken)
      } catch {
        // The request goes out anyway; its answer says what is wrong.
      }
    }
    const used = marker()
    const send = (): Promise<Response> =>
      env.fetch(url(path), { credentials, ...init, method, headers: headersFor(method, init) })
    const response = await send()
    if (response.ok && used !== undefined) hadSession = true
    if (response.status !== 401) return response
    const error = await errorOf(response)
    const retryable = error.code === 'token_expired' || (error.code === 'token_missing' && canRefresh())
    if (!retryable) {
      if (error.code === 'token_revoked' || (error.code === 'token_missing' && maybe())) {
        clear()
        emit({ type: 'logout', reason: 'session-ended' })
      }
      return response
    }
    const refreshed = await refreshFrom(used)
    return refreshed ? send() : response
  }

  function maybe(): boolean {
    return mode === 'header'
      ? accessToken !== undefined || refreshToken !== undefined
      : hadSession || cookie(csrfAccessCookie) !== undefined || cookie(csrfRefreshCookie) !== undefined
  }

  async function authenticate(path: string, username: string, password: string): Promise<AuthResult> {
    const response = await env.fetch(url(path), {
      method: 'POST',
      credentials,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    })
    if (!response.ok) throw await errorOf(response)
    const body = (await response.json()) as TokenBody
    const at = adopt(body)
    const result: AuthResult = {
      user: body.user ?? { id: 0, username, roles: [] },
      sessionId: sessionId ?? '',
      expiresAt: at,
      ...(body.message !== undefined ? { message: body.message } : {}),
    }
    emit({ type: 'login', user: result.user, sessionId: result.sessionId, expiresAt: at })
    return result
  }

  async function end(path: string): Promise<void> {
    // The server answered that the session is over (ended now, or already): the other tabs are told.
    // A logout that failed (the network, a 5xx) left the session and its cookies as they were.
    let ended = false
    try {
      const response = await authFetch(path, { method: 'POST' })
      if (!response.ok && response.status !== 401) throw await errorOf(response)
      ended = true
    } finally {
      const had = maybe()
      clear()
      if (had) emit({ type: 'logout', reason: 'logout' })
      if (ended) channel?.postMessage({ kind: 'tessera', type: 'logged-out' } satisfies TabMessage)
    }
  }

  return {
    mode,
    get user() {
      return user
    },
    get expiresAt() {
      return expiresAt
    },
    get maybeAuthenticated() {
      return maybe()
    },
    login: (username, password) => authenticate('/auth/login', username, password),
    register: (username, password) => authenticate('/auth/register', username, password),
    logout: () => end('/auth/logout'),
    logoutAll: () => end('/auth/logout-all'),
    fetch: authFetch,
    async json<T = unknown>(path: string, init?: RequestInit): Promise<T> {
      const response = await authFetch(path, init)
      if (!response.ok) throw await errorOf(response)
      if (response.status === 204) return undefined as T
      return (await response.json()) as T
    },
    refresh: () => refreshFrom(marker()),
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    close() {
      channel?.removeEventListener('message', onMessage)
      channel?.close()
      lockChannel?.close()
    },
  }
}
