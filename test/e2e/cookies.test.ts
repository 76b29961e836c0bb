// Cookie transport (tokenTransport: 'cookie'): HttpOnly JWT cookies, readable CSRF cookies, the
// double-submit check on unsafe methods, rotation through cookies and logout clearing them.
import { beforeAll, describe, expect, it } from 'vitest'
import {
  PASSWORD,
  claimsOf,
  cookieJar,
  cookieNamed,
  decode,
  expectError,
  isCleared,
  uniqueName,
  useServer,
  type ApiResponse,
  type SetCookie,
} from '../helpers/server-harness.js'

const ACCESS = 'access_token_cookie'
const REFRESH = 'refresh_token_cookie'
const CSRF_ACCESS = 'csrf_access_token'
const CSRF_REFRESH = 'csrf_refresh_token'

const server = useServer({ tokenTransport: 'cookie' })
const username = uniqueName('cookie')

/** Logs in and returns the response and the cookies it set. */
async function cookieLogin(): Promise<{ res: ApiResponse; jar: Record<string, string> }> {
  const res = await server.api('POST', '/auth/login', { body: { username, password: PASSWORD } })
  expect(res.status, res.text).toBe(200)
  return { res, jar: cookieJar(res) }
}

/** The access-side cookies (what a browser sends to /protected). */
function accessCookies(jar: Record<string, string>): Record<string, string> {
  return { [ACCESS]: jar[ACCESS]!, [CSRF_ACCESS]: jar[CSRF_ACCESS]! }
}

/** Every cookie (what a browser sends to /auth/…). */
function authCookies(jar: Record<string, string>): Record<string, string> {
  return { ...jar }
}

beforeAll(async () => {
  const res = await server.api('POST', '/auth/register', { body: { username, password: PASSWORD } })
  expect(res.status, res.text).toBe(201)
})

describe('cookie mode login', () => {
  let res: ApiResponse

  beforeAll(async () => {
    res = (await cookieLogin()).res
  })

  it('answers 200 with the user and no token in the body', () => {
    expect(res.body.user).toMatchObject({ username })
    expect(res.body.access_token).toBeUndefined()
    expect(res.body.refresh_token).toBeUndefined()
    expect(res.text).not.toMatch(/eyJ[\w-]+\.[\w-]+\./)
  })

  it('sets the access token in an HttpOnly, SameSite=Lax cookie on path /, not Secure over http://127.0.0.1', () => {
    const cookie = cookieNamed(res, ACCESS)
    expectFlags(cookie, { httpOnly: true, path: '/' })
    expect(decode(cookie.value).header.typ).toBe('at+jwt')
    expect(claimsOf(cookie.value).fresh).toBe(true)
  })

  it('sets the refresh token in an HttpOnly, SameSite=Lax cookie scoped to /auth', () => {
    const cookie = cookieNamed(res, REFRESH)
    expectFlags(cookie, { httpOnly: true, path: '/auth' })
    expect(decode(cookie.value).header.typ).toBe('refresh+jwt')
  })

  it('sets readable (not HttpOnly) CSRF cookies matching the tokens', () => {
    const csrfAccess = cookieNamed(res, CSRF_ACCESS)
    const csrfRefresh = cookieNamed(res, CSRF_REFRESH)
    expectFlags(csrfAccess, { httpOnly: false })
    expectFlags(csrfRefresh, { httpOnly: false })
    expect(csrfAccess.value).not.toBe('')
    expect(csrfAccess.value).toBe(claimsOf(cookieNamed(res, ACCESS).value).csrf)
    expect(csrfRefresh.value).toBe(claimsOf(cookieNamed(res, REFRESH).value).csrf)
  })

  it('sets the cookies on register too, still without tokens in the body', async () => {
    const reg = await server.api('POST', '/auth/register', {
      body: { username: uniqueName('cookie-reg'), password: PASSWORD },
    })
    expect(reg.status, reg.text).toBe(201)
    expect(reg.body.access_token).toBeUndefined()
    expect(reg.body.refresh_token).toBeUndefined()
    expectFlags(cookieNamed(reg, ACCESS), { httpOnly: true, path: '/' })
    expectFlags(cookieNamed(reg, REFRESH), { httpOnly: true, path: '/auth' })
  })
})

describe('cookie mode requests', () => {
  it('opens GET /protected and GET /auth/me with the cookie alone (safe methods need no CSRF header)', async () => {
    const { jar } = await cookieLogin()
    const protectedRes = await server.api('GET', '/protected', { cookies: accessCookies(jar) })
    expect(protectedRes.status, protectedRes.text).toBe(200)
    expect(protectedRes.body.logged_in_as).toBe(username)
    const me = await server.api('GET', '/auth/me', { cookies: { [ACCESS]: jar[ACCESS]! } })
    expect(me.status, me.text).toBe(200)
    expect(me.body.username).toBe(username)
  })

  it('answers GET /protected with only the CSRF cookie with 401 token_missing', async () => {
    const { jar } = await cookieLogin()
    const res = await server.api('GET', '/protected', { cookies: { [CSRF_ACCESS]: jar[CSRF_ACCESS]! } })
    expectError(res, 401, 'token_missing')
  })
})

describe('cookie mode logout', () => {
  it('refuses POST /auth/logout without X-CSRF-TOKEN with 401 csrf_missing, and the session lives on', async () => {
    const { jar } = await cookieLogin()
    const res = await server.api('POST', '/auth/logout', { cookies: authCookies(jar) })
    expectError(res, 401, 'csrf_missing')
    expect((await server.api('GET', '/protected', { cookies: accessCookies(jar) })).status).toBe(200)
  })

  it('refuses a wrong X-CSRF-TOKEN with 401 csrf_mismatch', async () => {
    const { jar } = await cookieLogin()
    const res = await server.api('POST', '/auth/logout', {
      cookies: authCookies(jar),
      headers: { 'x-csrf-token': 'not-the-value' },
    })
    expectError(res, 401, 'csrf_mismatch')
    expect((await server.api('GET', '/protected', { cookies: accessCookies(jar) })).status).toBe(200)
  })

  it('refuses the CSRF value of another session with 401 csrf_mismatch', async () => {
    const mine = (await cookieLogin()).jar
    const theirs = (await cookieLogin()).jar
    expect(theirs[CSRF_ACCESS]).not.toBe(mine[CSRF_ACCESS])
    const res = await server.api('POST', '/auth/logout', {
      cookies: authCookies(mine),
      headers: { 'x-csrf-token': theirs[CSRF_ACCESS]! },
    })
    expectError(res, 401, 'csrf_mismatch')
  })

  it('logs out with the right X-CSRF-TOKEN: 204, every cookie cleared, the old cookie refused', async () => {
    const { jar } = await cookieLogin()
    const res = await server.api('POST', '/auth/logout', {
      cookies: authCookies(jar),
      headers: { 'x-csrf-token': jar[CSRF_ACCESS]! },
    })
    expect(res.status, res.text).toBe(204)
    for (const name of [ACCESS, REFRESH, CSRF_ACCESS, CSRF_REFRESH]) {
      expect(isCleared(cookieNamed(res, name)), `${name} cleared`).toBe(true)
    }
    // The clearing cookies name the same paths as the ones they delete.
    expect(cookieNamed(res, REFRESH).attributes.path).toBe('/auth')

    const after = await server.api('GET', '/protected', { cookies: accessCookies(jar) })
    expect(after.status).toBe(401)
    const refresh = await server.api('POST', '/auth/refresh', {
      cookies: authCookies(jar),
      headers: { 'x-csrf-token': jar[CSRF_REFRESH]! },
    })
    expect(refresh.status).toBe(401)
  })
})

describe('cookie mode refresh', () => {
  it('refuses POST /auth/refresh without X-CSRF-TOKEN with 401 csrf_missing', async () => {
    const { jar } = await cookieLogin()
    const res = await server.api('POST', '/auth/refresh', { cookies: { [REFRESH]: jar[REFRESH]! } })
    expectError(res, 401, 'csrf_missing')
  })

  it('rotates through cookies with the refresh CSRF value: new access and refresh cookies, no tokens in the body', async () => {
    const { jar } = await cookieLogin()
    const res = await server.api('POST', '/auth/refresh', {
      cookies: authCookies(jar),
      headers: { 'x-csrf-token': jar[CSRF_REFRESH]! },
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.access_token).toBeUndefined()
    expect(res.body.refresh_token).toBeUndefined()

    const next = cookieJar(res)
    expect(next[ACCESS]).toBeDefined()
    expect(next[REFRESH]).toBeDefined()
    expect(next[ACCESS]).not.toBe(jar[ACCESS])
    expect(claimsOf(next[REFRESH]!).jti).not.toBe(claimsOf(jar[REFRESH]!).jti)
    expect(claimsOf(next[REFRESH]!).sid).toBe(claimsOf(jar[REFRESH]!).sid)
    expectFlags(cookieNamed(res, REFRESH), { httpOnly: true, path: '/auth' })

    const merged = { ...jar, ...next }
    const protectedRes = await server.api('GET', '/protected', { cookies: accessCookies(merged) })
    expect(protectedRes.status, protectedRes.text).toBe(200)
  })
})

describe('cookie mode refresh of a dead session', () => {
  /** A session ended elsewhere (logout everywhere from another device): its cookies are dead. */
  async function revokedJar(): Promise<Record<string, string>> {
    const { jar } = await cookieLogin()
    const other = await cookieLogin()
    const res = await server.api('POST', '/auth/logout-all', {
      cookies: authCookies(other.jar),
      headers: { 'x-csrf-token': other.jar[CSRF_ACCESS]! },
    })
    expect(res.status, res.text).toBe(204)
    return jar
  }

  it('clears every cookie when the refresh token is revoked, so the browser stops presenting it', async () => {
    const jar = await revokedJar()
    const res = await server.api('POST', '/auth/refresh', {
      cookies: authCookies(jar),
      headers: { 'x-csrf-token': jar[CSRF_REFRESH]! },
    })
    expectError(res, 401, 'token_revoked')
    for (const name of [ACCESS, REFRESH, CSRF_ACCESS, CSRF_REFRESH]) {
      expect(isCleared(cookieNamed(res, name)), `${name} cleared`).toBe(true)
    }
    expect(cookieNamed(res, REFRESH).attributes.path).toBe('/auth')
  })

  it('clears nothing on a CSRF refusal: another site cannot sign the user out', async () => {
    const { jar } = await cookieLogin()
    const missing = await server.api('POST', '/auth/refresh', { cookies: authCookies(jar) })
    expectError(missing, 401, 'csrf_missing')
    expect(missing.headers.get('set-cookie')).toBeNull()
    const mismatch = await server.api('POST', '/auth/refresh', {
      cookies: authCookies(jar),
      headers: { 'x-csrf-token': 'not-the-value' },
    })
    expectError(mismatch, 401, 'csrf_mismatch')
    expect(mismatch.headers.get('set-cookie')).toBeNull()
  })

  it('clears nothing on a refresh without a token: another site’s form POST carries no SameSite cookie', async () => {
    // An auto-submitted form on another site is a top-level navigation: the browser sends no Lax or
    // Strict cookie with it (token_missing), yet would store the cookies its answer sets or clears.
    const forged = await server.api('POST', '/auth/refresh', {
      headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    })
    expectError(forged, 401, 'token_missing')
    expect(forged.headers.get('set-cookie')).toBeNull()
  })

  it('clears nothing when the dead token came in a header, not in the browser’s cookie', async () => {
    const jar = await revokedJar()
    const res = await server.api('POST', '/auth/refresh', {
      headers: { authorization: `Bearer ${jar[REFRESH]!}` },
    })
    expectError(res, 401, 'token_revoked')
    expect(res.headers.get('set-cookie')).toBeNull()
  })
})

/** Asserts the flags a cookie must have on http://127.0.0.1 with the default settings. */
function expectFlags(cookie: SetCookie, expected: { httpOnly: boolean; path?: string }): void {
  const { attributes } = cookie
  expect(attributes.httponly === true, `${cookie.name} HttpOnly`).toBe(expected.httpOnly)
  expect(String(attributes.samesite).toLowerCase(), `${cookie.name} SameSite`).toBe('lax')
  expect(attributes.secure, `${cookie.name} must not be Secure over http://127.0.0.1`).toBeUndefined()
  if (expected.path !== undefined) expect(attributes.path, `${cookie.name} Path`).toBe(expected.path)
}

/** The parts of the OpenAPI document the cookie-mode test reads. */
interface OpenApiDocument {
  components: { securitySchemes: Record<string, { type: string; in?: string; name?: string }> }
  paths: Record<
    string,
    Record<string, { security?: unknown; responses: Record<string, { headers?: Record<string, unknown> }> }>
  >
}

describe('the OpenAPI document in cookie mode', () => {
  let doc: OpenApiDocument

  beforeAll(async () => {
    doc = (await server.api('GET', '/openapi.json')).json as OpenApiDocument
  })

  it('declares the cookies and the CSRF header as security schemes, named as the server sets and reads them', async () => {
    const schemes = doc.components.securitySchemes
    expect(schemes.accessTokenCookie).toMatchObject({ type: 'apiKey', in: 'cookie', name: ACCESS })
    expect(schemes.refreshTokenCookie).toMatchObject({ type: 'apiKey', in: 'cookie', name: REFRESH })
    expect(schemes.csrfToken).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-CSRF-TOKEN' })
    const { res } = await cookieLogin()
    expect(cookieNamed(res, ACCESS).attributes.path).toBe('/')
    expect(cookieNamed(res, REFRESH).attributes.path).toBe('/auth')
  })

  it('lists the cookies as alternatives to bearerAuth, with the CSRF header on unsafe methods', () => {
    const security = (path: string, method: string): unknown => doc.paths[path]?.[method]?.security
    const access = { accessTokenCookie: [] }
    const unsafeAccess = { accessTokenCookie: [], csrfToken: [] }
    expect(security('/auth/me', 'get')).toEqual([{ bearerAuth: [] }, access])
    expect(security('/users', 'get')).toEqual([{ bearerAuth: [] }, access])
    expect(security('/auth/logout', 'post')).toEqual([{ bearerAuth: [] }, unsafeAccess])
    expect(security('/auth/sessions/{id}', 'delete')).toEqual([{ bearerAuth: [] }, unsafeAccess])
    expect(security('/users/{id}', 'patch')).toEqual([{ bearerAuth: [] }, unsafeAccess])
    expect(security('/auth/refresh', 'post')).toEqual([
      { bearerAuth: [] },
      { refreshTokenCookie: [], csrfToken: [] },
    ])
    // The tutorials' refresh paths are outside the refresh cookie's path (/auth): the header only.
    expect(security('/token/refresh', 'post')).toEqual([{ bearerAuth: [] }])
    expect(security('/logout/refresh', 'post')).toEqual([{ bearerAuth: [] }])
  })

  it('declares Set-Cookie on every answer with tokens', () => {
    const setCookie = (path: string, status: string): unknown =>
      doc.paths[path]?.post?.responses[status]?.headers?.['Set-Cookie']
    for (const [path, status] of [
      ['/auth/register', '201'],
      ['/auth/login', '200'],
      ['/auth/refresh', '200'],
      ['/register', '201'],
      ['/registration', '200'],
      ['/login', '200'],
      ['/token/refresh', '200'],
    ] as const) {
      expect(setCookie(path, status), `${path} ${status}`).toMatchObject({ required: true })
    }
    expect(setCookie('/auth/login', '401')).toBeUndefined()
    expect(doc.paths['/auth/login']?.post?.responses['401']?.headers).toHaveProperty('WWW-Authenticate')
  })
})
