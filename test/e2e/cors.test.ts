// CORS (TESSERA_TRUSTED_ORIGINS): a front end on another origin may call the API with credentials and
// read the answers, refusals included; any other origin gets no CORS header (its page reads nothing),
// and a server without trusted origins answers no preflight at all. Cookie mode: the cookies' Domain
// (TESSERA_COOKIE_DOMAIN) and the trusted origin passing the CSRF origin check. Chromium's view of the
// same: test/browser/cross-origin.test.ts.
import { describe, expect, it } from 'vitest'
import {
  PASSWORD,
  cookieJar,
  expectError,
  uniqueName,
  useServer,
  type ApiResponse,
} from '../helpers/server-harness.js'

const APP = 'https://app.example.test'
const OTHER = 'https://evil.example.test'

const preflight = (origin: string, method = 'POST', headers = 'content-type'): Record<string, string> => ({
  origin,
  'access-control-request-method': method,
  'access-control-request-headers': headers,
})

function expectCors(res: ApiResponse, origin: string): void {
  expect(res.headers.get('access-control-allow-origin'), res.text).toBe(origin)
  expect(res.headers.get('access-control-allow-credentials')).toBe('true')
  expect(res.headers.get('vary') ?? '').toMatch(/\bOrigin\b/i)
}

/** No `Access-Control-Allow-Origin`: the browser gives the page nothing of the answer. */
function expectNoCors(res: ApiResponse): void {
  expect(res.headers.get('access-control-allow-origin'), res.text).toBeNull()
}

describe('CORS for the trusted origins (header mode)', () => {
  const server = useServer({ trustedOrigins: [APP] })

  it('answers a trusted front end’s preflight: methods, the API’s headers, credentials, cached 10 minutes', async () => {
    const res = await server.api('OPTIONS', '/auth/login', {
      headers: preflight(APP, 'POST', 'content-type,authorization,x-csrf-token'),
    })
    expect(res.status, res.text).toBe(204)
    expectCors(res, APP)
    expect(res.headers.get('access-control-allow-methods')?.split(/,\s*/)).toEqual(
      expect.arrayContaining(['GET', 'POST', 'PATCH', 'DELETE']),
    )
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase().split(/,\s*/)).toEqual(
      expect.arrayContaining(['authorization', 'content-type', 'x-csrf-token']),
    )
    expect(res.headers.get('access-control-max-age')).toBe('600')
  })

  it('lets it register, call a protected route and read a refusal with its challenge', async () => {
    const username = uniqueName('cors')
    const registered = await server.api('POST', '/auth/register', {
      body: { username, password: PASSWORD },
      headers: { origin: APP },
    })
    expect(registered.status, registered.text).toBe(201)
    expectCors(registered, APP)
    const me = await server.api('GET', '/auth/me', {
      token: String(registered.body.access_token),
      headers: { origin: APP },
    })
    expect(me.status, me.text).toBe(200)
    expectCors(me, APP)
    const refused = await server.api('GET', '/auth/me', { headers: { origin: APP } })
    expectError(refused, 401, 'token_missing')
    expectCors(refused, APP)
    expect(refused.headers.get('access-control-expose-headers')?.toLowerCase().split(/,\s*/)).toEqual(
      expect.arrayContaining(['www-authenticate', 'retry-after']),
    )
  })

  it('gives any other origin, and the opaque origin "null", no CORS header: its page reads nothing', async () => {
    for (const origin of [OTHER, 'null', `${APP}:8443`, 'http://app.example.test']) {
      const asked = await server.api('OPTIONS', '/auth/login', { headers: preflight(origin) })
      expectNoCors(asked)
      const answered = await server.api('GET', '/auth/me', { headers: { origin } })
      expect(answered.status).toBe(401)
      expectNoCors(answered)
    }
  })
})

describe('no trusted origins (the default)', () => {
  const server = useServer()

  it('answers no preflight and sends no CORS header: only pages of its own origin read its answers', async () => {
    const asked = await server.api('OPTIONS', '/auth/login', { headers: preflight(APP) })
    expectError(asked, 404, 'not_found')
    expectNoCors(asked)
    expect(asked.headers.get('access-control-allow-credentials')).toBeNull()
    const answered = await server.api('GET', '/.well-known/jwks.json', { headers: { origin: APP } })
    expect(answered.status).toBe(200)
    expectNoCors(answered)
  })
})

describe('CORS in cookie mode, with a cookie Domain', () => {
  const server = useServer({
    tokenTransport: 'cookie',
    trustedOrigins: [APP],
    cookieDomain: 'example.test',
  })

  it('sets every cookie for the domain, and accepts the trusted front end’s unsafe requests', async () => {
    const username = uniqueName('cors-cookie')
    const registered = await server.api('POST', '/auth/register', {
      body: { username, password: PASSWORD },
      headers: { origin: APP, 'sec-fetch-site': 'same-site' },
    })
    expect(registered.status, registered.text).toBe(201)
    expectCors(registered, APP)
    expect(registered.cookies.map((c) => c.name).sort()).toEqual([
      'access_token_cookie',
      'csrf_access_token',
      'csrf_refresh_token',
      'refresh_token_cookie',
    ])
    for (const cookie of registered.cookies)
      expect(cookie.attributes.domain, cookie.name).toBe('example.test')
    const jar = cookieJar(registered)
    const logout = await server.api('POST', '/auth/logout', {
      cookies: jar,
      headers: { origin: APP, 'sec-fetch-site': 'same-site', 'x-csrf-token': jar.csrf_access_token ?? '' },
    })
    expect(logout.status, logout.text).toBe(204)
    expectCors(logout, APP)
    // Cleared for the same domain, or the browser would keep them.
    expect(logout.cookies.map((c) => [c.name, c.attributes.domain])).toEqual(
      expect.arrayContaining([
        ['access_token_cookie', 'example.test'],
        ['refresh_token_cookie', 'example.test'],
      ]),
    )
    // The same request from a site not listed is refused, as before.
    const forged = await server.api('POST', '/auth/logout-all', {
      cookies: jar,
      headers: { origin: OTHER, 'sec-fetch-site': 'cross-site', 'x-csrf-token': jar.csrf_access_token ?? '' },
    })
    expectError(forged, 401, 'csrf_origin_rejected')
    expectNoCors(forged)
  })
})
