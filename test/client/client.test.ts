// `tessera/client` against a fake server, fake Web Locks and a fake BroadcastChannel bus: CSRF headers,
// refresh on 401 and ahead of expiry with one retry, single-flight refresh in a tab and across tabs, header
// mode in memory, and the session-ended events.
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  broadcastLocks,
  createClient,
  readCookie,
  TesseraHttpError,
  type ChannelLike,
  type ClientEvent,
  type ClientOptions,
  type TesseraClient,
} from '../../packages/tessera/src/client/index.js'
import { environment, fakeBus, fakeLocks, FakeServer } from './fakes.js'

const clients: TesseraClient[] = []
afterEach(() => {
  for (const client of clients.splice(0)) client.close()
})

function make(server: FakeServer, options: Partial<ClientOptions> = {}): TesseraClient {
  const client = createClient({
    mode: server.mode,
    baseUrl: 'http://app.test',
    ...options,
    env: environment(server, options.env),
  })
  clients.push(client)
  return client
}

function events(client: TesseraClient): ClientEvent[] {
  const seen: ClientEvent[] = []
  client.subscribe((event) => seen.push(event))
  return seen
}

describe('readCookie', () => {
  it('finds a cookie among others, decodes it, and treats an empty value as absent', () => {
    const jar = 'a=1; csrf_access_token=abc%2Fd; csrf_refresh_token=; other=x=y'
    expect(readCookie(jar, 'csrf_access_token')).toBe('abc/d')
    expect(readCookie(jar, 'csrf_refresh_token')).toBeUndefined()
    expect(readCookie(jar, 'other')).toBe('x=y')
    expect(readCookie(jar, 'missing')).toBeUndefined()
    expect(readCookie('', 'a')).toBeUndefined()
  })
})

describe('cookie mode', () => {
  it('logs in with credentials included and reports the user, session and expiry', async () => {
    const server = new FakeServer('cookie')
    const client = make(server)
    const seen = events(client)
    const result = await client.login('alice', 'password123')
    expect(result.user.username).toBe('alice')
    expect(result.sessionId).toBe('sid-1')
    expect(result.expiresAt).toBeGreaterThan(Date.now() + 800_000)
    expect(server.seen[0]?.credentials).toBe('include')
    expect(seen.map((e) => e.type)).toEqual(['login'])
    expect(client.maybeAuthenticated).toBe(true)
  })

  it('sends X-CSRF-TOKEN from the readable CSRF cookie on unsafe methods only', async () => {
    const server = new FakeServer('cookie')
    const client = make(server)
    await client.login('alice', 'password123')
    expect((await client.fetch('/protected')).status).toBe(200)
    expect((await client.fetch('/things', { method: 'POST' })).status).toBe(200)
    const [get, post] = server.seen.slice(1)
    expect(get?.headers.has('x-csrf-token')).toBe(false)
    expect(post?.headers.get('x-csrf-token')).toBe('ca1')
    expect(post?.credentials).toBe('include')
  })

  it('refreshes on a 401 token_expired (with the refresh CSRF value) and retries the request once', async () => {
    const server = new FakeServer('cookie')
    const client = make(server)
    const seen = events(client)
    await client.login('alice', 'password123')
    server.expire()
    const response = await client.fetch('/things', { method: 'POST' })
    expect(response.status).toBe(200)
    expect(server.seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      'POST /auth/login',
      'POST /things',
      'POST /auth/refresh',
      'POST /things',
    ])
    expect(server.seen[2]?.headers.get('x-csrf-token')).toBe('cr1')
    expect(server.seen[3]?.headers.get('x-csrf-token')).toBe('ca2')
    expect(seen.map((e) => e.type)).toEqual(['login', 'refresh'])
  })

  it('retries only once: a second 401 is returned as it is', async () => {
    const server = new FakeServer('cookie')
    const client = make(server)
    await client.login('alice', 'password123')
    server.expire()
    // The refresh succeeds but the new token is refused too.
    server.afterRefresh = () => {
      server.expire()
    }
    const response = await client.fetch('/protected')
    expect(response.status).toBe(401)
    expect(((await response.json()) as { error: string }).error).toBe('token_expired')
    expect(server.refreshes).toBe(1)
  })

  it('refreshes before the request when the access cookie is gone (expired at its Max-Age)', async () => {
    const server = new FakeServer('cookie')
    const client = make(server)
    await client.login('alice', 'password123')
    server.dropAccessCookie()
    expect((await client.fetch('/protected')).status).toBe(200)
    expect(server.seen.map((s) => s.path)).toEqual(['/auth/login', '/auth/refresh', '/protected'])
  })

  it('refreshes ahead of expiry, within a fifth of the lifetime (at most refreshMargin)', async () => {
    const server = new FakeServer('cookie')
    server.ttl = 100
    let now = 1_000_000
    const client = make(server, { env: { now: () => now } })
    await client.login('alice', 'password123')
    now += 75_000 // 25 s left: more than a fifth (20 s), no refresh
    await client.fetch('/protected')
    expect(server.refreshes).toBe(0)
    now += 6_000 // 19 s left
    await client.fetch('/protected')
    expect(server.refreshes).toBe(1)
    expect(client.expiresAt).toBe(now + 100_000)
  })

  it('sends one refresh for many concurrent requests of a tab', async () => {
    const server = new FakeServer('cookie')
    const client = make(server)
    await client.login('alice', 'password123')
    server.expire()
    const responses = await Promise.all(Array.from({ length: 5 }, () => client.fetch('/protected')))
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200])
    expect(server.refreshes).toBe(1)
  })

  it('ends the session when the refresh is refused, and returns the original 401', async () => {
    const server = new FakeServer('cookie')
    const client = make(server)
    const seen = events(client)
    await client.login('alice', 'password123')
    server.expire()
    server.revoked = true
    const response = await client.fetch('/protected')
    expect(response.status).toBe(401)
    expect(seen.at(-1)).toEqual({ type: 'logout', reason: 'session-ended' })
  })

  it('logs out with the CSRF header and reports the logout', async () => {
    const server = new FakeServer('cookie')
    const client = make(server)
    const seen = events(client)
    await client.login('alice', 'password123')
    await client.logout()
    const logout = server.seen.at(-1)
    expect(logout?.path).toBe('/auth/logout')
    expect(logout?.headers.get('x-csrf-token')).toBe('ca1')
    expect(seen.at(-1)).toEqual({ type: 'logout', reason: 'logout' })
    expect(client.maybeAuthenticated).toBe(false)
  })

  it('reports the end of a session ended elsewhere on the next call (no refresh cookie left)', async () => {
    const server = new FakeServer('cookie')
    const first = make(server)
    const second = make(server)
    const seen = events(second)
    await first.login('alice', 'password123')
    expect((await second.fetch('/protected')).status).toBe(200)
    await first.logout()
    expect((await second.fetch('/protected')).status).toBe(401)
    expect(seen).toEqual([{ type: 'logout', reason: 'session-ended' }])
    expect(server.refreshes).toBe(0)
  })

  it('abandons a hung refresh after refreshTimeout, releasing the lock for the next attempt', async () => {
    const server = new FakeServer('cookie')
    const locks = fakeLocks()
    let hang = true
    const fetch = (input: string, init?: RequestInit): Promise<Response> =>
      hang && input.endsWith('/auth/refresh')
        ? new Promise((_resolve, reject) => {
            init?.signal?.addEventListener('abort', () => {
              reject(new Error('aborted'))
            })
          })
        : server.fetch(input, init)
    const client = make(server, { refreshTimeout: 50, env: { fetch, locks } })
    await client.login('alice', 'password123')
    server.expire()
    await expect(client.refresh()).rejects.toThrow('aborted')
    hang = false
    expect(await client.refresh()).toBe(true)
    expect(server.refreshes).toBe(1)
  })

  it('json() throws a TesseraHttpError with the code and message of the body', async () => {
    const server = new FakeServer('cookie')
    const client = make(server)
    const error = await client.json('/nowhere').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TesseraHttpError)
    expect(error).toMatchObject({ status: 404, code: 'not_found', message: 'nope' })
    await expect(client.login('alice', 'password123')).resolves.toBeDefined()
  })
})

describe('credentials stay with the server', () => {
  it('sends no token and no CSRF value to another origin, and does not refresh for it', async () => {
    const server = new FakeServer('header')
    const client = make(server)
    await client.login('alice', 'password123')
    server.expire()
    await client.fetch('https://elsewhere.example/protected', { method: 'POST' })
    await client.fetch('//elsewhere.example/protected')
    await client.fetch('http://app.test.evil.example/protected')
    for (const request of server.seen.slice(1)) expect(request.headers.has('authorization')).toBe(false)
    expect(server.refreshes).toBe(0)
    // Its own absolute URLs are authenticated.
    await client.fetch('http://app.test/protected')
    expect(server.seen.at(-1)?.headers.get('authorization')).toBe('Bearer A2')
  })
})

/**
 * Lock holders that record how many are inside at once: `task(tab)` holds for `holdMs`, then runs `after`
 * (if any) once outside.
 */
function holders(holdMs: number, after?: () => void) {
  const seen = { inside: 0, maxInside: 0, order: [] as string[] }
  const task = (tab: string) => async (): Promise<void> => {
    seen.inside += 1
    seen.maxInside = Math.max(seen.maxInside, seen.inside)
    seen.order.push(tab)
    await new Promise((resolve) => setTimeout(resolve, holdMs))
    seen.inside -= 1
    after?.()
  }
  return { seen, task }
}

describe('single-flight refresh across tabs', () => {
  it('Web Locks: two tabs needing a refresh at once send one; the other reuses it', async () => {
    const server = new FakeServer('cookie')
    const locks = fakeLocks()
    const channel = fakeBus()
    const first = make(server, { env: { locks, channel } })
    const second = make(server, { env: { locks, channel } })
    const secondEvents = events(second)
    await first.login('alice', 'password123')
    expect((await second.fetch('/protected')).status).toBe(200)
    server.dropAccessCookie()
    const responses = await Promise.all([first.fetch('/protected'), second.fetch('/protected')])
    expect(responses.map((r) => r.status)).toEqual([200, 200])
    expect(server.refreshes).toBe(1)
    expect(locks.requests).toEqual(['tessera:http://app.test:refresh', 'tessera:http://app.test:refresh'])
    await vi.waitFor(() => {
      expect(secondEvents.some((e) => e.type === 'refresh' && e.source === 'other-tab')).toBe(true)
    })
  })

  it('tells the other tabs of a logout at once: they drop what they knew and report it', async () => {
    const server = new FakeServer('cookie')
    const channel = fakeBus()
    const first = make(server, { env: { locks: fakeLocks(), channel } })
    const second = make(server, { env: { locks: fakeLocks(), channel } })
    const secondEvents = events(second)
    await first.login('alice', 'password123')
    expect((await second.fetch('/protected')).status).toBe(200)
    expect(second.maybeAuthenticated).toBe(true)
    await first.logout()
    await vi.waitFor(() => {
      expect(secondEvents).toEqual([{ type: 'logout', reason: 'other-tab' }])
    })
    expect(second.maybeAuthenticated).toBe(false)
    expect(server.seen.filter((s) => s.path === '/auth/logout')).toHaveLength(1)
  })

  it('leaves alone a tab that signed in between the logout and the message reaching it', async () => {
    const server = new FakeServer('cookie')
    const channel = fakeBus(60)
    const first = make(server, { env: { locks: fakeLocks(), channel } })
    const second = make(server, { env: { locks: fakeLocks(), channel } })
    await first.login('alice', 'password123')
    const secondEvents = events(second)
    await first.logout()
    // The message is on its way (60 ms); the second tab signs in before it arrives.
    await second.login('alice', 'password123')
    expect(secondEvents.map((e) => e.type)).toEqual(['login'])
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(secondEvents.map((e) => e.type)).toEqual(['login'])
    expect(second.maybeAuthenticated).toBe(true)
    expect((await second.fetch('/protected')).status).toBe(200)
  })

  it('tells the other tabs nothing when the logout did not reach the server: their session goes on', async () => {
    const server = new FakeServer('cookie')
    const channel = fakeBus()
    const offline: typeof server.fetch = async (input, init) => {
      if (input.endsWith('/auth/logout')) throw new TypeError('Failed to fetch')
      return server.fetch(input, init)
    }
    const first = make(server, { env: { locks: fakeLocks(), channel, fetch: offline } })
    const second = make(server, { env: { locks: fakeLocks(), channel } })
    const secondEvents = events(second)
    await first.login('alice', 'password123')
    expect((await second.fetch('/protected')).status).toBe(200)
    await expect(first.logout()).rejects.toThrow('Failed to fetch')
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(secondEvents).toEqual([])
    expect(second.maybeAuthenticated).toBe(true)
    expect((await second.fetch('/protected')).status).toBe(200)
  })

  it('without coordination, both tabs would refresh (the failure the lock prevents)', async () => {
    const server = new FakeServer('cookie')
    const first = make(server, { crossTab: false })
    const second = make(server, { crossTab: false })
    await first.login('alice', 'password123')
    await second.fetch('/protected')
    server.dropAccessCookie()
    await Promise.all([first.fetch('/protected'), second.fetch('/protected')])
    expect(server.refreshes).toBe(2)
  })

  it('BroadcastChannel fallback: three tabs, one refresh', async () => {
    const server = new FakeServer('cookie')
    const channel = fakeBus()
    const tabs = [0, 1, 2].map(() => make(server, { env: { channel }, election: { claimWindow: 20 } }))
    await tabs[0]!.login('alice', 'password123')
    for (const tab of tabs.slice(1)) await tab.fetch('/protected')
    server.dropAccessCookie()
    const responses = await Promise.all(tabs.map((tab) => tab.fetch('/protected')))
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200])
    expect(server.refreshes).toBe(1)
  })

  it('broadcastLocks serialises holders across channels: the lowest claim goes first', async () => {
    const bus = fakeBus()
    const a = broadcastLocks(bus('l'), { claimWindow: 10 })
    const b = broadcastLocks(bus('l'), { claimWindow: 10 })
    const { seen, task } = holders(20)
    await Promise.all([a('x', task('a')), b('x', task('b')), a('x', task('a')), b('x', task('b'))])
    expect(seen.maxInside).toBe(1)
  })

  it('broadcastLocks: a tab that releases and claims again does not run beside the tab it kept waiting, even when the event loop stalls', async () => {
    // The stall (a busy page, a slow machine) makes the release, the next claim's delivery and the end of
    // the releasing tab's claim window fall due together. The waiting tab is woken by the `done` and goes
    // ahead before the new claim reaches it; the releasing tab must not go ahead too when its new claim is
    // the lower (before the second window, both ran at once in about half the hand-overs).
    const bus = fakeBus()
    const a = broadcastLocks(bus('l'), { claimWindow: 10 })
    const b = broadcastLocks(bus('l'), { claimWindow: 10 })
    const { seen, task } = holders(5, () => {
      setTimeout(() => {
        const until = Date.now() + 25
        while (Date.now() < until);
      }, 0)
    })
    const runs: Promise<void>[] = []
    for (let i = 0; i < 8; i++) runs.push(a('x', task('a')), b('x', task('b')))
    await Promise.all(runs)
    expect(seen.maxInside).toBe(1)
    expect(seen.order).toHaveLength(16)
  })

  it('broadcastLocks: a lower claim posted after a higher one, which went ahead before it arrived, waits for it (every message within claimWindow)', async () => {
    // A (id ff…) claims at 0 and B (id 00…) at 5 ms. B's claim reaches A 18 ms later, after A's window
    // (20 ms) has closed, so A saw no competitor and went ahead; its `running` reaches B 18 ms later, after
    // B's window closed too. B's claim is the lower, so B must not take A's for a waiting one: a second
    // window, in which A's `running` arrives. (Date stays real: a busy-wait left by a test above reads it.)
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const ids = vi.spyOn(globalThis.crypto, 'getRandomValues')
    try {
      const members = new Map<string, Set<(event: { data: unknown }) => void>>()
      const channel = (name: string, delay: (data: { type: string }) => number): ChannelLike => {
        const listeners = new Set<(event: { data: unknown }) => void>()
        members.set(name, listeners)
        return {
          postMessage(message: unknown): void {
            const data = structuredClone(message) as { type: string }
            for (const [to, others] of members) {
              if (to === name) continue
              setTimeout(() => {
                for (const listener of others) listener({ data })
              }, delay(data))
            }
          },
          addEventListener: (_type, listener) => listeners.add(listener),
          removeEventListener: (_type, listener) => listeners.delete(listener),
          close: () => members.delete(name),
        }
      }
      const fill =
        (byte: number) =>
        <T extends ArrayBufferView | null>(array: T): T => {
          if (array instanceof Uint8Array) array.fill(byte)
          return array
        }
      ids.mockImplementationOnce(fill(0xff)).mockImplementationOnce(fill(0x00))
      const a = broadcastLocks(
        channel('a', (data) => (data.type === 'claim' ? 10 : 18)),
        { claimWindow: 20 },
      )
      const b = broadcastLocks(
        channel('b', (data) => (data.type === 'claim' ? 18 : 1)),
        { claimWindow: 20 },
      )
      const { seen, task } = holders(30)
      const runs = [a('x', task('a'))]
      await vi.advanceTimersByTimeAsync(5)
      runs.push(b('x', task('b')))
      await vi.advanceTimersByTimeAsync(500)
      await Promise.all(runs)
      expect(seen.maxInside).toBe(1)
      expect(seen.order).toEqual(['a', 'b'])
    } finally {
      ids.mockRestore()
      vi.useRealTimers()
    }
  })
})

describe('header mode', () => {
  it('keeps the tokens in memory and sends them as Bearer tokens', async () => {
    const storage = { setItem: vi.fn(), getItem: vi.fn() }
    vi.stubGlobal('localStorage', storage)
    vi.stubGlobal('sessionStorage', storage)
    try {
      const server = new FakeServer('header')
      const client = make(server)
      await client.login('alice', 'password123')
      await client.fetch('/protected')
      expect(server.seen[1]?.headers.get('authorization')).toBe('Bearer A1')
      expect(server.seen[1]?.credentials).toBe('same-origin')
      server.expire()
      expect((await client.fetch('/protected')).status).toBe(200)
      expect(server.seen.slice(2).map((s) => `${s.path} ${s.headers.get('authorization') ?? ''}`)).toEqual([
        '/protected Bearer A1',
        '/auth/refresh Bearer R1',
        '/protected Bearer A2',
      ])
      expect(storage.setItem).not.toHaveBeenCalled()
      expect(storage.getItem).not.toHaveBeenCalled()
    } finally {
      vi.unstubAllGlobals()
    }
  })

  it('keeps tabs of different sessions apart: a refresh in one is not adopted by another', async () => {
    const server = new FakeServer('header')
    const locks = fakeLocks()
    const channel = fakeBus()
    const first = make(server, { env: { locks, channel } })
    const second = make(server, { env: { locks, channel } })
    await first.login('alice', 'password123')
    // The second tab never logged in: it has no session and adopts nothing.
    expect((await second.fetch('/protected')).status).toBe(401)
    expect(await first.refresh()).toBe(true)
    expect(server.version).toBe(2)
    await first.fetch('/protected')
    expect(server.seen.at(-1)?.headers.get('authorization')).toBe('Bearer A2')
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect((await second.fetch('/protected')).status).toBe(401)
    expect(server.seen.at(-1)?.headers.has('authorization')).toBe(false)
  })

  it('does not refresh without a refresh token, and logs out locally even when the server refuses', async () => {
    const server = new FakeServer('header')
    const client = make(server)
    expect(await client.refresh()).toBe(false)
    expect(server.refreshes).toBe(0)
    await client.login('alice', 'password123')
    server.revoked = true
    await client.logout()
    expect(client.maybeAuthenticated).toBe(false)
  })
})
