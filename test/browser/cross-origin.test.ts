// A page on another origin than the auth server, in Chromium, with `tessera/client` (bundled from the
// sources): the origin listed in TESSERA_TRUSTED_ORIGINS signs up, calls protected routes and reads a
// refusal; the same page from an origin not listed reads nothing. In cookie mode the page and the API
// share a site (localhost, another port), so the page reads the API's CSRF cookies and the browser sends
// its HttpOnly cookies. The HTTP-level assertions are in test/e2e/cors.test.ts.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../helpers/processes.js'
import { PASSWORD, uniqueName, useServer, type E2EServer } from '../helpers/server-harness.js'
import { chromiumAvailable, pageErrors, useBrowser } from './browser.js'

// The page's globals that the callbacks of page.evaluate read (this file compiles without the DOM lib).
interface PageGlobals {
  tessera: {
    createClient(options: { mode: 'cookie' | 'header'; baseUrl: string; crossTab: boolean }): {
      register(username: string, password: string): Promise<unknown>
      json<T>(path: string): Promise<T>
      logout(): Promise<void>
      maybeAuthenticated: boolean
    }
  }
  fetch(
    url: string,
    init?: object,
  ): Promise<{ status: number; headers: { get(name: string): string | null } }>
  document: { cookie: string }
}

const CLIENT = fileURLToPath(new URL('../../packages/tessera/src/client/index.ts', import.meta.url))
const PAGE_HTML = `<!doctype html><meta charset="utf-8"><title>front end</title>
<script type="module">import * as tessera from '/client.js'; globalThis.tessera = tessera; document.body.dataset.ready = '1'</script>
<body></body>`

// The front end: one page and the client, on a port of its own. As http://localhost:<port> it is the
// trusted origin; as http://127.0.0.1:<port> the same page is another origin, not listed.
const pagePort = await freePort()
const TRUSTED = `http://localhost:${pagePort}`
const UNTRUSTED = `http://127.0.0.1:${pagePort}`
// The same page on a sibling host of the API's (auth.example.test), for the cookie Domain.
const SIBLING = `http://app.example.test:${pagePort}`
let front: Server | undefined

beforeAll(async () => {
  const bundle = await build({ entryPoints: [CLIENT], bundle: true, format: 'esm', write: false })
  const script = bundle.outputFiles[0]?.text ?? ''
  front = createServer((req, res) => {
    const js = req.url === '/client.js'
    res.writeHead(200, { 'content-type': js ? 'text/javascript' : 'text/html; charset=utf-8' })
    res.end(js ? script : PAGE_HTML)
  })
  await new Promise<void>((resolve) => {
    front?.listen(pagePort, '127.0.0.1', resolve)
  })
  expect((front.address() as AddressInfo).port).toBe(pagePort)
})
afterAll(async () => {
  await new Promise<void>((resolve) => {
    if (front === undefined) resolve()
    else
      front.close(() => {
        resolve()
      })
  })
})

/** The API as the page names it: on localhost (same site as the page), whatever the harness says. */
const apiOf = (server: E2EServer): string => server.url.replace('127.0.0.1', 'localhost')

async function openFront(origin: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.browser.newPage()
  const errors = pageErrors(page)
  await page.goto(`${origin}/`)
  await page.waitForSelector('body[data-ready="1"]', { state: 'attached' })
  return { page, errors }
}

const browser = useBrowser(['--host-resolver-rules=MAP *.example.test 127.0.0.1'])

describe.skipIf(!chromiumAvailable)('a front end on another origin (header mode)', () => {
  const server = useServer({ trustedOrigins: [TRUSTED] })

  it('signs up, calls a protected route and reads a refusal’s challenge from the trusted origin', async () => {
    const { page, errors } = await openFront(TRUSTED)
    const username = uniqueName('xo')
    const seen = await page.evaluate(
      async ({ api, username, password }) => {
        const g = globalThis as unknown as PageGlobals
        const auth = g.tessera.createClient({ mode: 'header', baseUrl: api, crossTab: false })
        await auth.register(username, password)
        const me = await auth.json<{ username: string }>('/auth/me')
        const refused = await g.fetch(`${api}/auth/me`)
        return { me: me.username, status: refused.status, challenge: refused.headers.get('www-authenticate') }
      },
      { api: apiOf(server), username, password: PASSWORD },
    )
    expect({ ...seen, challenge: seen.challenge?.split(' ')[0] }).toEqual({
      me: username,
      status: 401,
      challenge: 'Bearer',
    })
    expect(errors).toEqual([])
    await page.close()
  })

  it('gives a page of an origin not listed nothing: the browser blocks the answer', async () => {
    const { page } = await openFront(UNTRUSTED)
    const outcome = await page.evaluate(async (api) => {
      const g = globalThis as unknown as PageGlobals
      try {
        const res = await g.fetch(`${api}/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'nobody', password: 'x' }),
        })
        return `read ${res.status}`
      } catch (error) {
        return (error as Error).name
      }
    }, apiOf(server))
    expect(outcome).toBe('TypeError')
    await page.close()
  })
})

/**
 * Cookie mode from `front` (an origin of the page's server) to `api`: sign up, read the CSRF cookies,
 * call, log out; what the page saw.
 */
async function cookieRoundTrip(front: string, api: string): Promise<void> {
  const { page, errors } = await openFront(front)
  const username = uniqueName('xo-cookie')
  const seen = await page.evaluate(
    async ({ api, username, password }) => {
      const g = globalThis as unknown as PageGlobals
      const auth = g.tessera.createClient({ mode: 'cookie', baseUrl: api, crossTab: false })
      await auth.register(username, password)
      const cookies = g.document.cookie
      const me = await auth.json<{ username: string }>('/auth/me')
      await auth.logout()
      const after = await g.fetch(`${api}/auth/me`, { credentials: 'include' })
      return {
        readable: cookies
          .split('; ')
          .map((c) => c.split('=')[0])
          .sort(),
        me: me.username,
        afterLogout: after.status,
        cookiesLeft: g.document.cookie,
      }
    },
    { api, username, password: PASSWORD },
  )
  expect(seen).toEqual({
    readable: ['csrf_access_token', 'csrf_refresh_token'],
    me: username,
    afterLogout: 401,
    cookiesLeft: '',
  })
  expect(errors).toEqual([])
  await page.close()
}

describe.skipIf(!chromiumAvailable)('a front end on another origin of the same site (cookie mode)', () => {
  const server = useServer({ tokenTransport: 'cookie', trustedOrigins: [TRUSTED] })

  it('signs up with HttpOnly cookies, reads the CSRF cookie, calls and logs out with it', async () => {
    await cookieRoundTrip(TRUSTED, apiOf(server))
  })
})

describe.skipIf(!chromiumAvailable)(
  'a front end on a sibling host (cookie mode, TESSERA_COOKIE_DOMAIN)',
  () => {
    // app.example.test and auth.example.test, both this machine (Chromium's host resolver rules); http,
    // so the cookies are not Secure here (behind TLS they would be).
    const server = useServer({
      tokenTransport: 'cookie',
      trustedOrigins: [SIBLING],
      cookieDomain: 'example.test',
      cookieSecure: false,
    })

    it('reads the CSRF cookies of the parent domain, calls and logs out', async () => {
      await cookieRoundTrip(SIBLING, server.url.replace('127.0.0.1', 'auth.example.test'))
    })
  },
)
