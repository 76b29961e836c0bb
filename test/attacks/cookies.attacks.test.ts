// Cookie-mode attacks over HTTP (issue 8, "Cookie mode"): CSRF without, with a wrong, or with another
// session's double-submit value; cookie flags; cross-origin requests with the adapters' Origin check.
// Sources: OWASP CSRF Prevention cheat sheet (double submit, Origin / Fetch Metadata checks), RFC 6265bis
// (SameSite), flask-jwt-extended's cookie CSRF design.
import { beforeAll, describe, expect, it } from 'vitest'
import { createTessera, generateKey } from '../../packages/tessera/src/index.js'
import {
  cookieJar,
  cookieNamed,
  E2EServer,
  expectError,
  PASSWORD,
  uniqueName,
  useServer,
  type ApiResponse,
} from '../helpers/server-harness.js'
import { expectRefused, useAdapterApps } from './tools.js'

const ACCESS = 'access_token_cookie'
const REFRESH = 'refresh_token_cookie'
const CSRF_ACCESS = 'csrf_access_token'
const CSRF_REFRESH = 'csrf_refresh_token'

type Jar = Record<string, string>

describe('CSRF on the server in cookie mode', () => {
  const server = useServer({ tokenTransport: 'cookie' })
  const name = uniqueName('csrf')
  let victim: Jar
  let other: Jar

  const cookieLogin = async (username: string): Promise<Jar> => {
    const res = await server.api('POST', '/auth/login', { body: { username, password: PASSWORD } })
    expect(res.status, res.text).toBe(200)
    return cookieJar(res)
  }

  beforeAll(async () => {
    await server.api('POST', '/auth/register', { body: { username: name, password: PASSWORD } })
    const otherName = uniqueName('csrf-other')
    await server.api('POST', '/auth/register', { body: { username: otherName, password: PASSWORD } })
    victim = await cookieLogin(name)
    other = await cookieLogin(otherName)
  })

  /** Unsafe routes a cross-site form could target, with the cookies a browser would attach. */
  const UNSAFE: [string, 'POST' | 'DELETE', string, 'access' | 'refresh', unknown][] = [
    ['logout', 'POST', '/auth/logout', 'access', undefined],
    ['logout everywhere', 'POST', '/auth/logout-all', 'access', undefined],
    [
      'password change',
      'POST',
      '/auth/password',
      'access',
      { current_password: PASSWORD, new_password: 'attacker chosen password' },
    ],
    ['session deletion', 'DELETE', '/auth/sessions/SESSION', 'access', undefined],
    ['refresh', 'POST', '/auth/refresh', 'refresh', undefined],
    ['tutorial logout', 'POST', '/logout/access', 'access', undefined],
  ]

  const send = (
    method: 'POST' | 'DELETE',
    path: string,
    jar: Jar,
    body: unknown,
    csrf?: string,
    origin?: string,
  ): Promise<ApiResponse> =>
    server.api(method, path.replace('SESSION', 'x'), {
      cookies: jar,
      ...(body === undefined ? {} : { body }),
      headers: {
        ...(csrf === undefined ? {} : { 'x-csrf-token': csrf }),
        ...(origin === undefined ? {} : { origin }),
      },
    })

  it.each(UNSAFE)(
    'refuses the %s without X-CSRF-TOKEN with 401 csrf_missing',
    async (_label, method, path, _kind, body) => {
      const res = await send(method, path, victim, body)
      expectError(res, 401, 'csrf_missing')
      expectRefused(res)
    },
  )

  it.each(UNSAFE)(
    'refuses the %s with an empty X-CSRF-TOKEN with 401 csrf_missing',
    async (_label, method, path, _kind, body) => {
      expectError(await send(method, path, victim, body, ''), 401, 'csrf_missing')
    },
  )

  it.each(UNSAFE)(
    'refuses the %s with a wrong X-CSRF-TOKEN with 401 csrf_mismatch',
    async (_label, method, path, kind, body) => {
      const right = victim[kind === 'access' ? CSRF_ACCESS : CSRF_REFRESH]!
      for (const wrong of [
        'x',
        `${right}x`,
        right.slice(0, -1),
        right.toUpperCase() === right ? right.toLowerCase() : right.toUpperCase(),
      ]) {
        const res = await send(method, path, victim, body, wrong)
        expectError(res, 401, 'csrf_mismatch')
        expectRefused(res)
      }
    },
  )

  it.each(UNSAFE)(
    "refuses the %s with another session's CSRF value with 401 csrf_mismatch",
    async (_label, method, path, kind, body) => {
      const res = await send(
        method,
        path,
        victim,
        body,
        other[kind === 'access' ? CSRF_ACCESS : CSRF_REFRESH],
      )
      expectError(res, 401, 'csrf_mismatch')
    },
  )

  it.each(UNSAFE)(
    "refuses the %s with the other token's CSRF value (access for refresh and back)",
    async (_label, method, path, kind, body) => {
      const res = await send(
        method,
        path,
        victim,
        body,
        victim[kind === 'access' ? CSRF_REFRESH : CSRF_ACCESS],
      )
      expectError(res, 401, 'csrf_mismatch')
    },
  )

  it.each(UNSAFE)(
    'refuses the %s from another origin with 401 csrf_origin_rejected even with the right CSRF value (TESSERA_CHECK_ORIGIN, on by default)',
    async (_label, method, path, kind, body) => {
      const csrf = victim[kind === 'access' ? CSRF_ACCESS : CSRF_REFRESH]
      for (const origin of ['https://evil.example', 'null', `${server.url}.evil.example`]) {
        const res = await send(method, path, victim, body, csrf, origin)
        expectError(res, 401, 'csrf_origin_rejected')
        expectRefused(res)
      }
      const fetchMetadata = await server.api(method, path.replace('SESSION', 'x'), {
        cookies: victim,
        ...(body === undefined ? {} : { body }),
        headers: { 'x-csrf-token': csrf!, 'sec-fetch-site': 'cross-site' },
      })
      expectError(fetchMetadata, 401, 'csrf_origin_rejected')
    },
  )

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])(
    'refuses a cross-site form post (%s) to login and register with 415: no login CSRF, no cookie set',
    async (contentType) => {
      for (const path of ['/auth/login', '/auth/register']) {
        const res = await server.api('POST', path, {
          raw:
            contentType === 'application/x-www-form-urlencoded'
              ? `username=${name}&password=${encodeURIComponent(PASSWORD)}`
              : JSON.stringify({ username: uniqueName('csrf-login'), password: PASSWORD }),
          contentType,
          headers: { origin: 'https://evil.example' },
        })
        expectError(res, 415, 'unsupported_media_type')
        expectRefused(res, [415])
        expect(res.cookies).toEqual([])
      }
    },
  )

  it('changed nothing: the session lives, the password is unchanged, the other session too', async () => {
    // The forged requests first (without the value, and with another session's), then the checks.
    for (const [, method, path, , body] of UNSAFE) {
      expectRefused(await send(method, path, victim, body), [401])
      expectRefused(await send(method, path, victim, body, other[CSRF_ACCESS]), [401])
    }
    expect((await server.api('GET', '/auth/me', { cookies: victim })).status).toBe(200)
    expect((await server.api('GET', '/auth/me', { cookies: other })).status).toBe(200)
    const relogin = await server.api('POST', '/auth/login', { body: { username: name, password: PASSWORD } })
    expect(relogin.status).toBe(200)
  })

  // Session fixation (OWASP ASVS 5.0 V7.2.4): cookies planted in the browser before a login (the
  // attacker's own session) are replaced, and the login opens a new session of its own user.
  it('opens a new session at login over planted cookies, replacing every one of them', async () => {
    const res = await server.api('POST', '/auth/login', {
      body: { username: name, password: PASSWORD },
      cookies: other,
    })
    expect(res.status, res.text).toBe(200)
    const jar = cookieJar(res)
    for (const cookie of [ACCESS, REFRESH, CSRF_ACCESS, CSRF_REFRESH]) {
      expect(jar[cookie], cookie).toBeDefined()
      expect(jar[cookie], cookie).not.toBe(other[cookie])
    }
    const me = await server.api('GET', '/auth/me', { cookies: jar })
    expect(me.body.username).toBe(name)
    expect(me.body.session_id).toBe(res.body.session_id)
    expect((await server.api('GET', '/auth/me', { cookies: other })).body.session_id).not.toBe(
      me.body.session_id,
    )
  })

  it('accepts the request with the right value (the baseline)', async () => {
    const res = await send('POST', '/auth/refresh', victim, undefined, victim[CSRF_REFRESH])
    expect(res.status, res.text).toBe(200)
  })

  // A logout with a token already revoked is a success that changes nothing (idempotent) — only once
  // every other check passed, the CSRF value first: the adapters compare it before they answer that the
  // token was revoked.
  it('refuses a logout with an already revoked token and a wrong or missing CSRF value', async () => {
    const jar = await cookieLogin(name)
    const out = await send('POST', '/auth/logout', jar, undefined, jar[CSRF_ACCESS])
    expect(out.status, out.text).toBe(204)
    for (const path of ['/auth/logout', '/logout/access']) {
      expectError(await send('POST', path, jar, undefined, 'attacker guess'), 401, 'csrf_mismatch')
      expectError(await send('POST', path, jar, undefined, other[CSRF_ACCESS]), 401, 'csrf_mismatch')
      expectError(await send('POST', path, jar, undefined), 401, 'csrf_missing')
      const again = await send('POST', path, jar, undefined, jar[CSRF_ACCESS])
      expect(again.status, again.text).toBeLessThan(300)
    }
  })
})

describe('the Origin check of the server (TESSERA_CHECK_ORIGIN, TESSERA_TRUSTED_ORIGINS)', () => {
  const TRUSTED = 'https://app.example'
  const server = useServer({ tokenTransport: 'cookie', trustedOrigins: [TRUSTED] })
  const relaxed = useServer({ tokenTransport: 'cookie', checkOrigin: false })

  const jarOf = async (target: typeof server): Promise<Jar> => {
    const res = await target.api('POST', '/auth/register', {
      body: { username: uniqueName('origin'), password: PASSWORD },
    })
    expect(res.status, res.text).toBe(201)
    return cookieJar(res)
  }

  it('accepts its own origin and a trusted origin with the right CSRF value', async () => {
    for (const origin of [server.url, TRUSTED]) {
      const jar = await jarOf(server)
      const res = await server.api('POST', '/auth/refresh', {
        cookies: jar,
        headers: { origin, 'x-csrf-token': jar[CSRF_REFRESH]! },
      })
      expect(res.status, `${origin}: ${res.text}`).toBe(200)
    }
  })

  it('with the check turned off, still refuses a cross-origin request without the CSRF value', async () => {
    const jar = await jarOf(relaxed)
    const res = await relaxed.api('POST', '/auth/logout-all', {
      cookies: jar,
      headers: { origin: 'https://evil.example' },
    })
    expectError(res, 401, 'csrf_missing')
    expect((await relaxed.api('GET', '/auth/me', { cookies: jar })).status).toBe(200)
  })
})

describe('cookie flags', () => {
  const lax = useServer({ tokenTransport: 'cookie' })
  const strict = useServer({ tokenTransport: 'cookie', cookieSecure: true, cookieSameSite: 'strict' })

  const loginAt = async (server: typeof lax): Promise<ApiResponse> => {
    const username = uniqueName('flags')
    const res = await server.api('POST', '/auth/register', { body: { username, password: PASSWORD } })
    expect(res.status, res.text).toBe(201)
    return res
  }

  it('sets HttpOnly on the JWT cookies and not on the CSRF cookies, SameSite=Lax, no Domain, the right Paths', async () => {
    const res = await loginAt(lax)
    const expected: [string, boolean, string][] = [
      [ACCESS, true, '/'],
      [REFRESH, true, '/auth'],
      [CSRF_ACCESS, false, '/'],
      [CSRF_REFRESH, false, '/'],
    ]
    for (const [cookieName, httpOnly, path] of expected) {
      const cookie = cookieNamed(res, cookieName)
      expect(cookie.attributes.httponly === true, `${cookieName} HttpOnly`).toBe(httpOnly)
      expect(String(cookie.attributes.samesite).toLowerCase(), `${cookieName} SameSite`).toBe('lax')
      expect(cookie.attributes.path, `${cookieName} Path`).toBe(path)
      expect(cookie.attributes.domain, `${cookieName} Domain`).toBeUndefined()
      expect(Number(cookie.attributes['max-age']), `${cookieName} Max-Age`).toBeGreaterThan(0)
    }
    expect(Number(cookieNamed(res, ACCESS).attributes['max-age'])).toBeLessThanOrEqual(900)
    // Nothing secret in the body: tokens live only in the HttpOnly cookies.
    expect(res.body.access_token).toBeUndefined()
    expect(res.body.refresh_token).toBeUndefined()
    expect(res.headers.get('cache-control')).toBe('no-store')
  })

  it('sets Secure on every cookie and SameSite=Strict when configured so', async () => {
    const res = await loginAt(strict)
    for (const cookieName of [ACCESS, REFRESH, CSRF_ACCESS, CSRF_REFRESH]) {
      const cookie = cookieNamed(res, cookieName)
      expect(cookie.attributes.secure, `${cookieName} Secure`).toBe(true)
      expect(String(cookie.attributes.samesite).toLowerCase(), `${cookieName} SameSite`).toBe('strict')
    }
  })

  it('does not set Secure in auto mode for plain http to 127.0.0.1 (local development only)', async () => {
    const res = await loginAt(lax)
    expect(cookieNamed(res, ACCESS).attributes.secure).toBeUndefined()
  })

  it('refuses to start with SameSite=None without Secure', async () => {
    const bad = new E2EServer({ tokenTransport: 'cookie', cookieSameSite: 'none', cookieSecure: 'auto' })
    await expect(bad.start()).rejects.toThrow(/SameSite=None/)
    await bad.dispose()
  })
})

describe('cross-origin requests with the Origin check on (adapters, csrf.checkOrigin)', () => {
  // The auth server has no setting for csrf.checkOrigin: it is an adapter option, tested here on both.
  const TRUSTED = 'https://app.example'
  const { apps } = useAdapterApps(async () => ({
    auth: createTessera({ keys: await generateKey('EdDSA') }),
    options: {
      tokenLocations: ['cookies'],
      cookies: { refreshPath: '/auth' },
      csrf: { checkOrigin: true, trustedOrigins: [TRUSTED] },
    },
  }))

  const session = async (client: (typeof apps)[number]['client']): Promise<Jar> => {
    const res = await client.api('POST', '/login/alice')
    expect(res.status, res.text).toBe(200)
    return cookieJar(res)
  }

  it('refuses unsafe requests from another origin with 401 csrf_origin_rejected, even with the right CSRF value', async () => {
    for (const app of apps) {
      const jar = await session(app.client)
      const own = app.client.url.replace(/\/$/, '')
      const hostile: Record<string, string>[] = [
        { origin: 'https://evil.example' },
        { origin: 'null' },
        { origin: `${own}.evil.example` },
        { origin: own.replace('http:', 'https:') },
        { origin: `${TRUSTED}.evil.example` },
        { 'sec-fetch-site': 'cross-site' },
        { 'sec-fetch-site': 'same-site' },
        { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
      ]
      for (const headers of hostile) {
        for (const [path, csrf] of [
          ['/protected', jar[CSRF_ACCESS]!],
          ['/auth/refresh', jar[CSRF_REFRESH]!],
        ] as const) {
          const res = await app.client.api('POST', path, {
            cookies: jar,
            headers: { ...headers, 'x-csrf-token': csrf },
          })
          expect.soft(res.status, `${app.name} ${path} ${JSON.stringify(headers)}: ${res.text}`).toBe(401)
          expect(res.body.error, app.name).toBe('csrf_origin_rejected')
          expect(res.body.logged_in_as).toBeUndefined()
        }
      }
    }
  })

  it('accepts the same origin, a trusted origin, Sec-Fetch-Site same-origin and a request without either header', async () => {
    for (const app of apps) {
      const jar = await session(app.client)
      const own = app.client.url.replace(/\/$/, '')
      for (const headers of [
        { origin: own },
        { origin: TRUSTED },
        { 'sec-fetch-site': 'same-origin' },
        {},
      ] as Record<string, string>[]) {
        const res = await app.client.api('POST', '/protected', {
          cookies: jar,
          headers: { ...headers, 'x-csrf-token': jar[CSRF_ACCESS]! },
        })
        expect(res.status, `${app.name} ${JSON.stringify(headers)}: ${res.text}`).toBe(200)
        expect(res.body.logged_in_as).toBe('alice')
      }
    }
  })

  it('lets safe methods through from another origin (GET reads, changes nothing)', async () => {
    for (const app of apps) {
      const jar = await session(app.client)
      const res = await app.client.api('GET', '/protected', {
        cookies: jar,
        headers: { origin: 'https://evil.example' },
      })
      expect(res.status, app.name).toBe(200)
    }
  })

  it('still demands the double-submit value from the right origin (csrf_missing, csrf_mismatch)', async () => {
    for (const app of apps) {
      const jar = await session(app.client)
      const other = await session(app.client)
      const own = app.client.url.replace(/\/$/, '')
      const missing = await app.client.api('POST', '/protected', { cookies: jar, headers: { origin: own } })
      expect(missing.body.error, app.name).toBe('csrf_missing')
      const foreign = await app.client.api('POST', '/protected', {
        cookies: jar,
        headers: { origin: own, 'x-csrf-token': other[CSRF_ACCESS]! },
      })
      expect(foreign.body.error, app.name).toBe('csrf_mismatch')
      expect(foreign.status).toBe(401)
    }
  })
})
