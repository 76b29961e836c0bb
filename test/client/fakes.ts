// Fakes for the browser client's unit tests: a Tessera-like server behind `fetch` with a shared cookie jar
// (what the tabs of one browser share), a Web Locks manager, and a BroadcastChannel bus.
import type {
  ChannelFactory,
  ChannelLike,
  ClientEnvironment,
  LockManagerLike,
} from '../../packages/tessera/src/client/index.js'

/** One request the fake server received. */
export interface Seen {
  method: string
  path: string
  headers: Headers
  credentials: RequestInit['credentials']
}

const json = (status: number, body: unknown): Response =>
  new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
  })

const tokenError = (error: string): Response => json(401, { error, message: error.replace(/_/g, ' ') })

/**
 * A server in either transport. The access token has a version; `expire()` makes the current one expired
 * (cookie mode: as if the cookie were still there), `dropAccessCookie()` removes the access cookies (as the
 * browser does at their Max-Age). A refresh with a spent refresh token revokes the session (grace 0).
 */
export class FakeServer {
  readonly seen: Seen[] = []
  /** Readable cookies (`document.cookie`), shared by every client of this browser. */
  readonly jar = new Map<string, string>()
  version = 0
  expired = false
  revoked = false
  /** Called after each successful refresh. */
  afterRefresh: (() => void) | undefined
  ttl = 900
  private accessCookie = false
  private refreshCookie = false

  readonly mode: 'cookie' | 'header'

  constructor(mode: 'cookie' | 'header') {
    this.mode = mode
  }

  get refreshes(): number {
    return this.seen.filter((s) => s.path === '/auth/refresh').length
  }

  cookies = (): string => [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ')

  expire(): void {
    this.expired = true
  }

  dropAccessCookie(): void {
    this.accessCookie = false
    this.jar.delete('csrf_access_token')
  }

  private issue(): Record<string, unknown> {
    this.version += 1
    this.expired = false
    const body: Record<string, unknown> = {
      token_type: 'Bearer',
      expires_in: this.ttl,
      refresh_expires_in: 86_400,
      session_id: 'sid-1',
    }
    if (this.mode === 'cookie') {
      this.accessCookie = true
      this.refreshCookie = true
      this.jar.set('csrf_access_token', `ca${this.version}`)
      this.jar.set('csrf_refresh_token', `cr${this.version}`)
    } else {
      body.access_token = `A${this.version}`
      body.refresh_token = `R${this.version}`
    }
    return body
  }

  private clear(): void {
    this.accessCookie = false
    this.refreshCookie = false
    this.jar.clear()
  }

  // Checks the access credentials: undefined when they are good, else the 401.
  private access(method: string, headers: Headers): Response | undefined {
    if (this.revoked) return tokenError('token_revoked')
    if (this.mode === 'cookie') {
      if (!this.accessCookie) return tokenError('token_missing')
      if (this.expired) return tokenError('token_expired')
      if (method !== 'GET' && headers.get('x-csrf-token') !== `ca${this.version}`) {
        return tokenError(headers.has('x-csrf-token') ? 'csrf_mismatch' : 'csrf_missing')
      }
      return undefined
    }
    const auth = headers.get('authorization')
    if (auth === null) return tokenError('token_missing')
    if (auth !== `Bearer A${this.version}`) return tokenError('invalid_token')
    return this.expired ? tokenError('token_expired') : undefined
  }

  fetch = async (input: string, init: RequestInit = {}): Promise<Response> => {
    await new Promise((resolve) => setTimeout(resolve, 5))
    const method = init.method ?? 'GET'
    const headers = new Headers(init.headers)
    const path = new URL(input, 'http://app.test').pathname
    this.seen.push({ method, path, headers, credentials: init.credentials })
    switch (`${method} ${path}`) {
      case 'POST /auth/login':
      case 'POST /auth/register': {
        const { username } = JSON.parse(init.body as string) as { username: string }
        const user = { id: 7, username, roles: [], disabled: false, created_at: '2026-01-01T00:00:00Z' }
        this.revoked = false // a new session
        return json(path.endsWith('login') ? 200 : 201, { ...this.issue(), user, message: 'ok' })
      }
      case 'POST /auth/refresh': {
        if (this.revoked) return tokenError('token_revoked')
        if (this.mode === 'cookie') {
          if (!this.refreshCookie) return tokenError('token_missing')
          if (headers.get('x-csrf-token') !== `cr${this.version}`) return tokenError('csrf_missing')
        } else if (headers.get('authorization') !== `Bearer R${this.version}`) {
          this.revoked = true
          return tokenError('refresh_token_reused')
        }
        const body = this.issue()
        this.afterRefresh?.()
        return json(200, body)
      }
      case 'POST /auth/logout':
      case 'POST /auth/logout-all': {
        const refused = this.access(method, headers)
        if (refused !== undefined) return refused
        this.clear()
        this.revoked = true
        return json(204, undefined)
      }
      case 'GET /protected':
      case 'POST /things': {
        const refused = this.access(method, headers)
        return refused ?? json(200, { logged_in_as: 'alice' })
      }
      default:
        return json(404, { error: 'not_found', message: 'nope' })
    }
  }
}

/** A Web Locks manager: one FIFO queue per name. */
export function fakeLocks(): LockManagerLike & { requests: string[] } {
  const queues = new Map<string, Promise<unknown>>()
  const requests: string[] = []
  return {
    requests,
    request<T>(name: string, callback: () => Promise<T>): Promise<T> {
      requests.push(name)
      const previous = queues.get(name) ?? Promise.resolve()
      const run = previous.then(() => callback())
      queues.set(
        name,
        run.catch(() => undefined),
      )
      return run
    },
  }
}

/** BroadcastChannels of one browser: a message reaches every other channel of the same name, later. */
/** A BroadcastChannel bus in memory: each message reaches the other members `delayMs` later. */
export function fakeBus(delayMs = 1): ChannelFactory {
  const members = new Map<string, Set<FakeChannel>>()
  class FakeChannel implements ChannelLike {
    private readonly listeners = new Set<(event: { data: unknown }) => void>()
    private readonly name: string
    constructor(name: string) {
      this.name = name
      let set = members.get(name)
      if (set === undefined) members.set(name, (set = new Set()))
      set.add(this)
    }
    postMessage(message: unknown): void {
      const data = structuredClone(message)
      for (const other of members.get(this.name) ?? []) {
        if (other === this) continue
        setTimeout(() => {
          for (const listener of other.listeners) listener({ data })
        }, delayMs)
      }
    }
    addEventListener(_type: 'message', listener: (event: { data: unknown }) => void): void {
      this.listeners.add(listener)
    }
    removeEventListener(_type: 'message', listener: (event: { data: unknown }) => void): void {
      this.listeners.delete(listener)
    }
    close(): void {
      members.get(this.name)?.delete(this)
    }
  }
  return (name) => new FakeChannel(name)
}

/** An environment over a fake server, with the given locks and channels. */
export function environment(
  server: FakeServer,
  extra: Partial<ClientEnvironment> = {},
): Partial<ClientEnvironment> {
  return { fetch: server.fetch, cookies: server.cookies, locks: undefined, channel: undefined, ...extra }
}
