// Cookie mode: the cookie helpers and their attributes, CSRF double submit (missing, mismatch, ok, per
// method, form field), the Origin / Sec-Fetch-Site check, and implicit refresh.
import { describe, expect, it } from 'vitest'
import { getCsrfToken } from '../../packages/tessera/src/adapters/fastify.js'
import { cookieHeader, cookieNamed, type TestResponse } from './harness.js'
import { bearer, INVALID_TOKEN, type Started, type SuiteContext } from './shared-suite.js'

const COOKIES = { tokenLocations: ['cookies'] as const }

/** Logs in through the cookie helper route and returns the Cookie header and CSRF value. */
async function login(started: Started, claims: Record<string, unknown> = {}, expiresIn?: number) {
  const token = await started.auth.createAccessToken('alice', {
    csrf: true,
    claims,
    ...(expiresIn ? { expiresIn } : {}),
  })
  const res = await started.client.request('POST', '/cookies/access', { json: { token } })
  expect(res.status).toBe(200)
  return { cookie: cookieHeader(res.cookies), csrf: getCsrfToken(token)!, token, res }
}

// Max-Age counts whole seconds from when the cookie is set, which may be a second after issue.
function expectLifetime(maxAge: string | true | undefined, seconds: number): void {
  expect(Number(maxAge)).toBeGreaterThanOrEqual(seconds - 1)
  expect(Number(maxAge)).toBeLessThanOrEqual(seconds)
}

export function cookieSuite(ctx: SuiteContext): void {
  describe('cookie helpers', () => {
    it('sets an HttpOnly access cookie and a readable CSRF cookie, Lax, expiring with the token', async () => {
      const started = await ctx.start(COOKIES)
      const { res, token, csrf } = await login(started)
      const jwt = cookieNamed(res, 'access_token_cookie')
      expect(jwt.value).toBe(token)
      expect(jwt.attributes).toMatchObject({ path: '/', httponly: true, samesite: 'Lax' })
      expectLifetime(jwt.attributes['max-age'], 900)
      expect(jwt.attributes.secure).toBeUndefined()
      const csrfCookie = cookieNamed(res, 'csrf_access_token')
      expect(csrfCookie.value).toBe(csrf)
      expect(csrfCookie.attributes).toMatchObject({ path: '/', samesite: 'Lax' })
      expect(csrfCookie.attributes.httponly).toBeUndefined()
    })

    it('marks cookies Secure unless the request is plain http to localhost', async () => {
      const { client, auth } = await ctx.start(COOKIES)
      const token = await auth.createAccessToken('alice', { csrf: true })
      const remote = await client.request('POST', '/cookies/access', {
        json: { token },
        headers: { host: 'api.example.com' },
      })
      expect(remote.cookies.map((c) => c.attributes.secure)).toEqual([true, true])
      const local = await client.request('POST', '/cookies/access', {
        json: { token },
        headers: { host: 'localhost:3000' },
      })
      expect(local.cookies.map((c) => c.attributes.secure)).toEqual([undefined, undefined])
    })

    it('scopes the refresh cookie to the refresh path and keeps its CSRF cookie readable everywhere', async () => {
      const { client, auth } = await ctx.start(COOKIES)
      const token = await auth.createRefreshToken('alice', { csrf: true })
      const res = await client.request('POST', '/cookies/refresh', { json: { token } })
      expect(cookieNamed(res, 'refresh_token_cookie').attributes).toMatchObject({
        path: '/auth/refresh',
        httponly: true,
      })
      expect(cookieNamed(res, 'csrf_refresh_token').attributes).toMatchObject({ path: '/' })
    })

    it('applies configured names, paths, domain, SameSite and session cookies', async () => {
      const { client, auth } = await ctx.start({
        cookies: {
          accessName: 'at',
          accessPath: '/api',
          domain: 'example.com',
          sameSite: 'Strict',
          session: true,
        },
        csrf: { accessCookieName: 'xsrf' },
      })
      const token = await auth.createAccessToken('alice', { csrf: true })
      const res = await client.request('POST', '/cookies/access', { json: { token } })
      expect(cookieNamed(res, 'at').attributes).toMatchObject({
        path: '/api',
        domain: 'example.com',
        samesite: 'Strict',
      })
      expect(cookieNamed(res, 'at').attributes['max-age']).toBeUndefined()
      expect(cookieNamed(res, 'xsrf').value).toBe(getCsrfToken(token))
    })

    it('applies configured refresh cookie names and paths, and reads them back on refresh routes', async () => {
      const { client, auth } = await ctx.start({
        tokenLocations: ['cookies', 'json'],
        cookies: { refreshName: 'rt', refreshPath: '/auth' },
        csrf: { refreshCookieName: 'xsrf_rt', cookiePath: '/app' },
        json: { refreshKey: 'rt' },
      })
      const token = await auth.createRefreshToken('alice', { csrf: true })
      const res = await client.request('POST', '/cookies/refresh', { json: { token } })
      expect(cookieNamed(res, 'rt').attributes.path).toBe('/auth')
      expect(cookieNamed(res, 'xsrf_rt').attributes.path).toBe('/app')
      const headers = { cookie: cookieHeader(res.cookies), 'x-csrf-token': getCsrfToken(token)! }
      const viaCookie = await client.request('POST', '/auth/refresh', { headers })
      expect([viaCookie.status, viaCookie.body.jwt?.location]).toEqual([200, 'cookies'])
      const viaJson = await client.request('POST', '/auth/refresh', { json: { rt: token } })
      expect([viaJson.status, viaJson.body.jwt?.location]).toEqual([200, 'json'])
    })

    it('deletes every JWT and CSRF cookie, the refresh cookie at its own path', async () => {
      const { client } = await ctx.start(COOKIES)
      const res = await client.request('POST', '/cookies/unset')
      const names = ['access_token_cookie', 'csrf_access_token', 'refresh_token_cookie', 'csrf_refresh_token']
      expect(res.cookies.map((c) => c.name).sort()).toEqual([...names].sort())
      for (const c of res.cookies)
        expect([c.name, c.value, c.attributes['max-age']]).toEqual([c.name, '', '0'])
      expect(cookieNamed(res, 'refresh_token_cookie').attributes.path).toBe('/auth/refresh')
      const access = await client.request('POST', '/cookies/unset-access')
      expect(access.cookies.map((c) => c.name)).toEqual(['access_token_cookie', 'csrf_access_token'])
      const refresh = await client.request('POST', '/cookies/unset-refresh')
      expect(refresh.cookies.map((c) => c.name)).toEqual(['refresh_token_cookie', 'csrf_refresh_token'])
    })

    it('sets no CSRF cookie when csrf.inCookies is false', async () => {
      const started = await ctx.start({ ...COOKIES, csrf: { inCookies: false } })
      const { res } = await login(started)
      expect(res.cookies.map((c) => c.name)).toEqual(['access_token_cookie'])
    })

    it('refuses SameSite=None without Secure at start-up', async () => {
      await expect(ctx.build({ cookies: { sameSite: 'None' } })).rejects.toMatchObject({
        code: 'configuration_error',
        option: 'cookies.sameSite',
      })
    })
  })

  describe('CSRF double submit', () => {
    const send = async (
      started: Started,
      method: string,
      headers: Record<string, string> = {},
    ): Promise<TestResponse> => {
      const { cookie } = await login(started)
      return started.client.request(method, '/protected', { headers: { cookie, ...headers } })
    }

    it('does not check GET requests', async () => {
      const started = await ctx.start(COOKIES)
      const res = await send(started, 'GET')
      expect([res.status, res.body.jwt?.location]).toEqual([200, 'cookies'])
    })

    it.each(['POST', 'PUT', 'PATCH', 'DELETE'])(
      'answers %s without the header with 401 csrf_missing naming it',
      async (method) => {
        const started = await ctx.start(COOKIES)
        const res = await send(started, method)
        expect([res.status, res.body.error]).toEqual([401, 'csrf_missing'])
        expect(res.body.message).toContain('X-CSRF-TOKEN')
        expect(res.headers['www-authenticate']).toMatch(INVALID_TOKEN)
      },
    )

    it('answers a wrong value with 401 csrf_mismatch naming the header, and lets the right one through', async () => {
      const started = await ctx.start(COOKIES)
      const { cookie, csrf } = await login(started)
      const wrong = await started.client.request('POST', '/protected', {
        headers: { cookie, 'x-csrf-token': `${csrf.slice(1)}x` },
      })
      expect([wrong.status, wrong.body.error]).toEqual([401, 'csrf_mismatch'])
      expect(wrong.body.message).toContain('X-CSRF-TOKEN')
      const right = await started.client.request('POST', '/protected', {
        headers: { cookie, 'x-csrf-token': csrf },
      })
      expect([right.status, right.body.jwt?.identity]).toEqual([200, 'alice'])
    })

    it('checks only the configured methods, with the configured header', async () => {
      const started = await ctx.start({ ...COOKIES, csrf: { methods: ['DELETE'], headerName: 'X-XSRF' } })
      const { cookie, csrf } = await login(started)
      expect((await started.client.request('POST', '/protected', { headers: { cookie } })).status).toBe(200)
      const missing = await started.client.request('DELETE', '/protected', {
        headers: { cookie, 'x-csrf-token': csrf },
      })
      expect(missing.body.error).toBe('csrf_missing')
      expect(missing.body.message).toContain('X-XSRF')
      expect(
        (await started.client.request('DELETE', '/protected', { headers: { cookie, 'x-xsrf': csrf } }))
          .status,
      ).toBe(200)
    })

    it('skips the check when csrf.protect is false, and never checks header tokens', async () => {
      const off = await ctx.start({ ...COOKIES, csrf: { protect: false } })
      const token = await off.auth.createAccessToken('alice')
      const set = await off.client.request('POST', '/cookies/access', { json: { token } })
      const res = await off.client.request('POST', '/protected', {
        headers: { cookie: cookieHeader(set.cookies) },
      })
      expect(res.status).toBe(200)
      const both = await ctx.start({ tokenLocations: ['headers', 'cookies'] })
      const header = await both.auth.createAccessToken('alice')
      expect((await both.client.request('POST', '/protected', { headers: bearer(header) })).status).toBe(200)
    })

    it('accepts the value from a form field when csrf.checkForm is on', async () => {
      const started = await ctx.start({ ...COOKIES, csrf: { checkForm: true } })
      const { cookie, csrf } = await login(started)
      const res = await started.client.request('POST', '/protected', {
        headers: { cookie },
        form: { csrf_token: csrf },
      })
      expect(res.status).toBe(200)
      const wrong = await started.client.request('POST', '/protected', {
        headers: { cookie },
        form: { csrf_token: 'no' },
      })
      expect(wrong.body.error).toBe('csrf_mismatch')
      // The value came from the field: the answer names it, not the header that was not sent.
      expect(wrong.body.message).toContain('csrf_token')
      expect(wrong.body.message).not.toContain('X-CSRF-TOKEN')
      const header = await started.client.request('POST', '/protected', {
        headers: { cookie, 'x-csrf-token': 'no' },
        form: { csrf_token: csrf },
      })
      expect([header.body.error, header.body.message]).toEqual([
        'csrf_mismatch',
        expect.stringContaining('X-CSRF-TOKEN'),
      ])
    })

    it('refuses a cookie token without a csrf claim as csrf_mismatch', async () => {
      const { client, auth } = await ctx.start(COOKIES)
      const cookie = `access_token_cookie=${await auth.createAccessToken('alice')}`
      const res = await client.request('POST', '/protected', {
        headers: { cookie, 'x-csrf-token': 'anything' },
      })
      expect([res.status, res.body.error]).toEqual([401, 'csrf_mismatch'])
    })

    it('refuses it under the flask preset as flask-jwt-extended does: 422 Missing claim: csrf, before a revocation', async () => {
      const { client, auth } = await ctx.start({ ...COOKIES, compat: 'flask-jwt-extended' })
      const token = await auth.createAccessToken('alice')
      const res = await client.request('POST', '/protected', {
        headers: { cookie: `access_token_cookie=${token}`, 'x-csrf-token': 'anything' },
      })
      expect([res.status, res.body]).toEqual([422, { msg: 'Missing claim: csrf' }])
      // A safe method sends no value and is not compared: the token is accepted.
      const get = await client.request('GET', '/protected', {
        headers: { cookie: `access_token_cookie=${token}` },
      })
      expect(get.status).toBe(200)
      // flask's _decode_jwt raises it while decoding, before its blocklist check.
      await auth.revokeToken((await auth.verify(token)).claims)
      const revoked = await client.request('POST', '/protected', {
        headers: { cookie: `access_token_cookie=${token}`, 'x-csrf-token': 'anything' },
      })
      expect([revoked.status, revoked.body]).toEqual([422, { msg: 'Missing claim: csrf' }])
    })

    it('reads the refresh cookie and its CSRF value on refresh routes', async () => {
      const { client, auth } = await ctx.start(COOKIES)
      const token = await auth.createRefreshToken('alice', { csrf: true })
      const set = await client.request('POST', '/cookies/refresh', { json: { token } })
      const cookie = cookieHeader(set.cookies)
      const res = await client.request('POST', '/auth/refresh', {
        headers: { cookie, 'x-csrf-token': getCsrfToken(token)! },
      })
      expect([res.status, res.body.jwt?.claims.type]).toEqual([200, 'refresh'])
    })
  })

  describe('Origin check', () => {
    const options = { ...COOKIES, csrf: { checkOrigin: true, trustedOrigins: ['https://app.example.com'] } }
    const post = async (headers: Record<string, string>) => {
      const started = await ctx.start(options)
      const { cookie, csrf } = await login(started)
      return started.client.request('POST', '/protected', {
        headers: { cookie, 'x-csrf-token': csrf, ...headers },
      })
    }

    it('refuses an unsafe request from an untrusted origin or another site', async () => {
      const refused: Record<string, string>[] = [
        { origin: 'https://evil.example' },
        { 'sec-fetch-site': 'cross-site' },
        { origin: 'null' },
      ]
      for (const headers of refused) {
        const res = await post(headers)
        expect([JSON.stringify(headers), res.status, res.body.error]).toEqual([
          JSON.stringify(headers),
          401,
          'csrf_origin_rejected',
        ])
      }
    })

    it("names the Origin refused and this server's origin, and counts the trusted ones without listing them", async () => {
      const res = await post({ origin: 'https://evil.example', host: 'api.example.com' })
      expect([res.status, res.body.error]).toEqual([401, 'csrf_origin_rejected'])
      expect(res.body.message).toContain('https://evil.example')
      expect(res.body.message).toContain('http://api.example.com')
      expect(res.body.message).toContain('the trusted origin')
      expect(res.body.message).not.toContain('app.example.com')
      expect(res.headers['www-authenticate']).toMatch(INVALID_TOKEN)
      // The browser's https origin seen as http: the message points at the untrusted TLS proxy.
      const proxied = await post({ origin: 'https://api.example.com', host: 'api.example.com' })
      expect(proxied.body.message).toMatch(/proxy/)
      // A long Origin is cut short.
      const long = await post({ origin: `https://${'a'.repeat(5000)}.example` })
      expect(long.body.message?.length).toBeLessThan(400)
    })

    it('lets through same-origin, trusted-origin and non-browser requests', async () => {
      const allowed: Record<string, string>[] = [
        { 'sec-fetch-site': 'same-origin', origin: 'https://elsewhere.example' },
        { origin: 'https://app.example.com', 'sec-fetch-site': 'same-site' },
        { origin: 'http://api.example.com', host: 'api.example.com' },
        {},
      ]
      for (const headers of allowed) {
        const res = await post(headers)
        expect([JSON.stringify(headers), res.status]).toEqual([JSON.stringify(headers), 200])
      }
    })

    // Behind a proxy the public host is in X-Forwarded-Host; the framework says whether to believe it.
    const behindProxy = {
      origin: 'https://api.example.com',
      'x-forwarded-host': 'api.example.com',
      'x-forwarded-proto': 'https',
    }
    const viaProxy = async (trustProxy: boolean) => {
      const started = await ctx.start(options, {}, { trustProxy })
      const { cookie, csrf } = await login(started)
      return started.client.request('POST', '/protected', {
        headers: { cookie, 'x-csrf-token': csrf, ...behindProxy },
      })
    }

    it('compares the Origin with the forwarded host when the framework trusts the proxy', async () => {
      expect((await viaProxy(true)).status).toBe(200)
    })

    it('ignores X-Forwarded-Host when the framework does not trust the proxy', async () => {
      const res = await viaProxy(false)
      expect([res.status, res.body.error]).toEqual([401, 'csrf_origin_rejected'])
    })
  })

  describe('__Host- cookie names (the defence against cookie tossing)', () => {
    it('sets and reads __Host- cookies: Secure, Path=/, no Domain', async () => {
      const started = await ctx.start({
        tokenLocations: ['cookies'],
        cookies: {
          accessName: '__Host-access',
          refreshName: '__Host-refresh',
          refreshPath: '/',
          secure: true,
        },
        csrf: { accessCookieName: '__Host-csrf-access', refreshCookieName: '__Host-csrf-refresh' },
      })
      const { cookie, res } = await login(started)
      for (const name of ['__Host-access', '__Host-csrf-access']) {
        const set = cookieNamed(res, name)
        expect([name, set.attributes.secure, set.attributes.path, set.attributes.domain]).toEqual([
          name,
          true,
          '/',
          undefined,
        ])
      }
      const read = await started.client.request('GET', '/protected', { headers: { cookie } })
      expect([read.status, read.body.jwt?.location]).toEqual([200, 'cookies'])
      const token = await started.auth.createAccessToken('alice', { csrf: true })
      const withDomain = await started.client.request('POST', '/cookies/access', {
        json: { token, options: { domain: 'example.com' } },
      })
      // A per-call Domain is refused (a ConfigurationError from the setter): no cookie is set.
      expect([withDomain.status, withDomain.cookies]).toEqual([500, []])
      const unsetWithDomain = await started.client.request('POST', '/cookies/unset', {
        json: { options: { domain: 'example.com' } },
      })
      expect([unsetWithDomain.status, unsetWithDomain.cookies]).toEqual([500, []])
    })

    it('refuses a per-call Domain when only the CSRF cookie has a __Host- name, setting or deleting', async () => {
      const started = await ctx.start({
        tokenLocations: ['cookies'],
        cookies: { secure: true },
        csrf: { accessCookieName: '__Host-csrf-access' },
      })
      const token = await started.auth.createAccessToken('alice', { csrf: true })
      const set = await started.client.request('POST', '/cookies/access', {
        json: { token, options: { domain: 'example.com' } },
      })
      expect([set.status, set.cookies]).toEqual([500, []])
      const unset = await started.client.request('POST', '/cookies/unset-access', {
        json: { options: { domain: 'example.com' } },
      })
      expect([unset.status, unset.cookies]).toEqual([500, []])
      // Without a Domain both work.
      expect((await started.client.request('POST', '/cookies/access', { json: { token } })).status).toBe(200)
      expect((await started.client.request('POST', '/cookies/unset-access', { json: {} })).status).toBe(200)
    })
  })

  describe('implicit refresh', () => {
    it('re-issues the access cookie within the window, keeping claims and the CSRF value', async () => {
      const started = await ctx.start({ ...COOKIES, implicitRefresh: '10m' })
      const { cookie, csrf, token } = await login(started, { roles: ['admin'] }, 300)
      const res = await started.client.request('GET', '/protected', { headers: { cookie } })
      expect(res.status).toBe(200)
      const fresh = cookieNamed(res, 'access_token_cookie')
      expect(fresh.value).not.toBe(token)
      expectLifetime(fresh.attributes['max-age'], 900)
      expect(cookieNamed(res, 'csrf_access_token').value).toBe(csrf)
      const { claims } = await started.auth.verify(fresh.value)
      expect([claims.sub, claims.roles, claims.csrf, claims.fresh]).toEqual(['alice', ['admin'], csrf, false])
    })

    it('re-issues once on a route behind two guards (a router-wide one, then the route’s own)', async () => {
      const started = await ctx.start({ ...COOKIES, implicitRefresh: '10m' })
      const { cookie } = await login(started, { roles: ['admin'] }, 300)
      const res = await started.client.request('GET', '/stacked', { headers: { cookie } })
      expect(res.status).toBe(200)
      expect(res.cookies.map((c) => c.name)).toEqual(['access_token_cookie', 'csrf_access_token'])
    })

    it('re-issues the cookie on the hook path too, after the user lookup', async () => {
      const started = await ctx.start({ ...COOKIES, implicitRefresh: '10m', userLookup: () => ({ id: 1 }) })
      const { cookie } = await login(started, {}, 60)
      const res = await started.client.request('GET', '/protected', { headers: { cookie } })
      expect([res.status, res.body.jwt?.user]).toEqual([200, { id: 1 }])
      expect(res.cookies.map((c) => c.name)).toEqual(['access_token_cookie', 'csrf_access_token'])
    })

    it('never re-issues a revoked token read on a route that skips the revocation check', async () => {
      const started = await ctx.start({ ...COOKIES, implicitRefresh: '15m' })
      const { cookie, token } = await login(started, {}, 300)
      await started.auth.revokeToken((await started.auth.verify(token)).claims)
      const skipped = await started.client.request('GET', '/skip-revocation', { headers: { cookie } })
      // The route asked to skip the check, so it is served; but it gets no new cookie.
      expect([skipped.status, skipped.cookies]).toEqual([200, []])
      const refused = await started.client.request('GET', '/protected', { headers: { cookie } })
      expect([refused.status, refused.body.error, refused.cookies]).toEqual([401, 'token_revoked', []])
    })

    it('never re-issues on a skipping route a token revoked by user, by session or by the tokenInBlocklist hook', async () => {
      const byUser = await ctx.start({ ...COOKIES, implicitRefresh: '15m' })
      const user = await login(byUser, {}, 300)
      await byUser.auth.revokeUser('alice')
      const userRes = await byUser.client.request('GET', '/skip-revocation', {
        headers: { cookie: user.cookie },
      })
      expect([userRes.status, userRes.cookies]).toEqual([200, []])

      const bySession = await ctx.start({ ...COOKIES, implicitRefresh: '15m' })
      const token = await bySession.auth.createAccessToken('alice', { csrf: true, sid: 's1', expiresIn: 300 })
      const set = await bySession.client.request('POST', '/cookies/access', { json: { token } })
      await bySession.auth.revokeSession('s1')
      const sessionRes = await bySession.client.request('GET', '/skip-revocation', {
        headers: { cookie: cookieHeader(set.cookies) },
      })
      expect([sessionRes.status, sessionRes.cookies]).toEqual([200, []])

      const hooked = await ctx.start({ ...COOKIES, implicitRefresh: '15m', tokenInBlocklist: () => true })
      const listed = await login(hooked, {}, 300)
      const hookRes = await hooked.client.request('GET', '/skip-revocation', {
        headers: { cookie: listed.cookie },
      })
      expect([hookRes.status, hookRes.cookies]).toEqual([200, []])
    })

    it('still re-issues a token that is not revoked on a route that skips the revocation check', async () => {
      const started = await ctx.start({ ...COOKIES, implicitRefresh: '15m', tokenInBlocklist: () => false })
      const { cookie, token } = await login(started, {}, 300)
      const res = await started.client.request('GET', '/skip-revocation', { headers: { cookie } })
      expect(res.status).toBe(200)
      expect(cookieNamed(res, 'access_token_cookie').value).not.toBe(token)
    })

    // A stolen cookie presented now and then must not live for ever: the chain ends when a refresh token
    // made at its start would have expired.
    it('ends a chain of refreshes a refresh token lifetime after it began, carried as orig_iat', async () => {
      const started = await ctx.start({ ...COOKIES, implicitRefresh: '10m' }, { refreshTokenTtl: '1h' })
      const now = Math.floor(Date.now() / 1000)
      const renewedClaims = async (cookie: string) => {
        const res = await started.client.request('GET', '/protected', { headers: { cookie } })
        expect(res.status).toBe(200)
        return (await started.auth.verify(cookieNamed(res, 'access_token_cookie').value)).claims
      }
      const first = await login(started, {}, 300)
      const firstIat = (await started.auth.verify(first.token)).claims.iat
      expect((await renewedClaims(first.cookie)).orig_iat).toBe(firstIat)
      const young = await login(started, { orig_iat: now - 1800 }, 300)
      expect((await renewedClaims(young.cookie)).orig_iat).toBe(now - 1800)
      // A start after the token's own iat is no start: its iat is.
      const future = await login(started, { orig_iat: now + 999 }, 300)
      const futureIat = (await started.auth.verify(future.token)).claims.iat
      expect((await renewedClaims(future.cookie)).orig_iat).toBe(futureIat)
      // Begun over an hour ago: still served until it expires, never renewed.
      const old = await login(started, { orig_iat: now - 3601 }, 300)
      const served = await started.client.request('GET', '/protected', { headers: { cookie: old.cookie } })
      expect([served.status, served.cookies]).toEqual([200, []])
    })

    it('makes a token without a sid the session of its refreshes: revokeSession(jti) refuses them all', async () => {
      const started = await ctx.start({ ...COOKIES, implicitRefresh: '15m' })
      const { cookie, token } = await login(started, {}, 300)
      const { jti } = (await started.auth.verify(token)).claims
      const res = await started.client.request('GET', '/protected', { headers: { cookie } })
      const successor = cookieNamed(res, 'access_token_cookie').value
      expect((await started.auth.verify(successor)).claims.sid).toBe(jti)
      const again = await started.client.request('GET', '/protected', {
        headers: { cookie: `access_token_cookie=${successor}` },
      })
      const third = cookieNamed(again, 'access_token_cookie').value
      expect((await started.auth.verify(third)).claims.sid).toBe(jti)
      // The logout of adapters.md step 5 (revokeSession(sid ?? jti)), presented with the last refresh: the
      // first token, created without a sid, is its own session, so it is refused with its refreshes.
      const { claims } = await started.auth.verify(third)
      await started.auth.revokeSession(claims.sid ?? claims.jti)
      for (const presented of [token, successor, third]) {
        const refused = await started.client.request('GET', '/protected', {
          headers: { cookie: `access_token_cookie=${presented}` },
        })
        expect([refused.status, refused.body.error, refused.cookies]).toEqual([401, 'token_revoked', []])
      }
    })

    it('leaves cookies outside the window and header tokens alone', async () => {
      const started = await ctx.start({
        tokenLocations: ['headers', 'cookies'],
        implicitRefresh: { window: '1m' },
      })
      const { cookie } = await login(started)
      expect((await started.client.request('GET', '/protected', { headers: { cookie } })).cookies).toEqual([])
      const short = await started.auth.createAccessToken('alice', { expiresIn: 30 })
      expect((await started.client.request('GET', '/protected', { headers: bearer(short) })).cookies).toEqual(
        [],
      )
    })
  })
}
