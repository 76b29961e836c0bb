// The last flask-jwt-extended parity items, run on every adapter: verifyRequest (verify_jwt_in_request),
// per-call cookie max_age/domain, separate access/refresh CSRF names and paths, and option-name hints.
// Each test names the flask-jwt-extended test it mirrors (tests/… in vimalloc/flask-jwt-extended).
import { describe, expect, it } from 'vitest'
import { getCsrfToken } from '../../packages/tessera/src/adapters/fastify.js'
import { accessClaims, forge, SECRET } from '../helpers/forge.js'
import { cookieHeader, cookieNamed } from './harness.js'
import { bearer, INVALID_TOKEN, type SuiteContext } from './shared-suite.js'

export function paritySuite(ctx: SuiteContext): void {
  describe('verifyRequest (verify_jwt_in_request)', () => {
    // test_view_decorators.py::test_verify_jwt_in_request_returns_decoded_token
    it('returns the verified header and claims and sets request.jwt, as the guard does', async () => {
      const { client, auth } = await ctx.start()
      const token = await auth.createAccessToken('username', { claims: { tier: 'gold' } })
      const viaCall = await client.request('GET', '/verify', { headers: bearer(token) })
      const viaGuard = await client.request('GET', '/protected', { headers: bearer(token) })
      expect(viaCall.status).toBe(200)
      expect(viaCall.body.jwt).toMatchObject({
        identity: 'username',
        location: 'headers',
        header: { alg: 'HS256', typ: 'at+jwt' },
        claims: { sub: 'username', tier: 'gold' },
      })
      expect(viaCall.body).toEqual(viaGuard.body)
    })

    // test_view_decorators.py::test_no_token, ::test_invalid_jwt, ::test_expired_token
    it('answers a missing, malformed or expired token exactly as the guard does', async () => {
      const { client } = await ctx.start()
      const now = Math.floor(Date.now() / 1000)
      const expired = forge(
        { alg: 'HS256', typ: 'at+jwt' },
        accessClaims({ iat: now - 99, nbf: now - 99, exp: now - 9 }),
        { hmacSecret: SECRET },
      )
      for (const headers of [{}, bearer('not-a-jwt'), bearer(expired)]) {
        const viaCall = await client.request('GET', '/verify', { headers })
        const viaGuard = await client.request('GET', '/protected', { headers })
        expect([viaCall.status, viaCall.body, viaCall.headers['www-authenticate']]).toEqual([
          viaGuard.status,
          viaGuard.body,
          viaGuard.headers['www-authenticate'],
        ])
        expect(viaCall.status).toBe(401)
      }
      const expiredCall = await client.request('GET', '/verify', { headers: bearer(expired) })
      expect(expiredCall.body.error).toBe('token_expired')
      expect(expiredCall.headers['www-authenticate']).toMatch(INVALID_TOKEN)
    })

    // test_view_decorators.py::test_jwt_optional, ::test_jwt_optional_with_no_valid_jwt
    it('optional: resolves to null without a token, and still refuses a bad one', async () => {
      const { client, auth } = await ctx.start()
      const none = await client.request('GET', '/verify/optional')
      expect([none.status, none.body.jwt]).toEqual([200, null])
      const good = await client.request('GET', '/verify/optional', {
        headers: bearer(await auth.createAccessToken('alice')),
      })
      expect(good.body.jwt?.identity).toBe('alice')
      const bad = await client.request('GET', '/verify/optional', { headers: bearer('not-a-jwt') })
      expect([bad.status, bad.body.error]).toEqual([401, 'token_malformed'])
    })

    // test_view_decorators.py::test_fresh_jwt_required, ::test_refresh_jwt_required, ::test_override_jwt_location
    it('takes the guard options: fresh, refresh, locations and roles', async () => {
      const { client, auth } = await ctx.start()
      const stale = bearer(await auth.createAccessToken('alice'))
      const fresh = bearer(await auth.createAccessToken('alice', { fresh: true }))
      const refresh = bearer(await auth.createRefreshToken('alice'))
      expect((await client.request('GET', '/verify/fresh', { headers: stale })).body.error).toBe(
        'fresh_token_required',
      )
      expect((await client.request('GET', '/verify/fresh', { headers: fresh })).status).toBe(200)
      expect((await client.request('POST', '/verify/refresh', { headers: stale })).body.error).toBe(
        'token_wrong_type',
      )
      const refreshed = await client.request('POST', '/verify/refresh', { headers: refresh })
      expect([refreshed.status, refreshed.body.jwt?.claims.type]).toEqual([200, 'refresh'])
      expect((await client.request('GET', '/verify/query-only', { headers: fresh })).body.error).toBe(
        'token_missing',
      )
      const token = await auth.createAccessToken('alice')
      const viaQuery = await client.request('GET', `/verify/query-only?jwt=${token}`)
      expect([viaQuery.status, viaQuery.body.jwt?.location]).toEqual([200, 'query'])
      const forbidden = await client.request('GET', '/verify/admin', { headers: stale })
      expect([forbidden.status, forbidden.body.error]).toEqual([403, 'forbidden'])
      const admin = await auth.createAccessToken('alice', { claims: { roles: ['admin'] } })
      expect((await client.request('GET', '/verify/admin', { headers: bearer(admin) })).status).toBe(200)
    })

    // test_cookies.py::test_default_access_csrf_protection; test_options_method.py on purpose not
    // (flask runs the view for a token-less OPTIONS: refused here, see suite-routes)
    it('checks the CSRF double submit on cookie tokens, never on OPTIONS', async () => {
      const { client, auth } = await ctx.start({ tokenLocations: ['cookies'] })
      const token = await auth.createAccessToken('alice', { csrf: true })
      const set = await client.request('POST', '/cookies/access', { json: { token } })
      const cookie = cookieHeader(set.cookies)
      const missing = await client.request('POST', '/verify', { headers: { cookie } })
      expect([missing.status, missing.body.error]).toEqual([401, 'csrf_missing'])
      const ok = await client.request('POST', '/verify', {
        headers: { cookie, 'x-csrf-token': getCsrfToken(token)! },
      })
      expect([ok.status, ok.body.jwt?.location]).toEqual([200, 'cookies'])
      const options = await client.request('OPTIONS', '/verify', { headers: { cookie } })
      expect([options.status, options.body.jwt?.location]).toEqual([200, 'cookies'])
    })

    it('refuses allowExpired: no guard accepts an expired token', async () => {
      const { client, auth } = await ctx.start()
      const res = await client.request('GET', '/verify/expired-allowed', {
        headers: bearer(await auth.createAccessToken('alice')),
      })
      expect([res.status, res.body.error]).toEqual([500, 'configuration_error'])
    })
  })

  describe("flask-jwt-extended's missing-token messages", () => {
    const flask = { compat: 'flask-jwt-extended' as const }

    // test_view_decorators.py::test_jwt_required ({"msg": "Missing Authorization Header"}),
    // view_decorators.py::_decode_jwt_from_cookies and ::_decode_jwt_from_request (several locations)
    it("answers token_missing with flask's text for the route's locations", async () => {
      const msg = async (options: Parameters<SuiteContext['start']>[0], path = '/protected') => {
        const { client } = await ctx.start({ ...flask, ...options })
        const res = await client.request(path === '/auth/refresh' ? 'POST' : 'GET', path)
        expect([path, res.status, res.headers['www-authenticate']]).toEqual([path, 401, 'Bearer'])
        return res.body
      }
      expect(await msg({})).toEqual({ msg: 'Missing Authorization Header' })
      expect(await msg({ tokenLocations: ['cookies'] })).toEqual({
        msg: 'Missing cookie "access_token_cookie"',
      })
      expect(await msg({ tokenLocations: ['headers', 'cookies'] })).toEqual({
        msg: 'Missing JWT in headers or cookies (Missing Authorization Header; Missing cookie "access_token_cookie")',
      })
      expect(await msg({ tokenLocations: ['headers', 'cookies'] }, '/auth/refresh')).toEqual({
        msg: 'Missing JWT in headers or cookies (Missing Authorization Header; Missing cookie "refresh_token_cookie")',
      })
      // The route's own locations, on a guard and on verifyRequest alike.
      for (const path of ['/query-only', '/verify/query-only']) {
        expect(await msg({}, path)).toEqual({ msg: "Missing 'jwt' query paramater" })
      }
    })

    // test_headers.py::test_default_headers, ::test_custom_header_type; test_json.py::test_content_type;
    // test_multiple_token_locations.py::test_no_jwt_in_request (json and query_string)
    it("words another scheme's header and a body that is not JSON as flask does", async () => {
      const { client } = await ctx.start({ ...flask, tokenLocations: ['json', 'query'] })
      const form = await client.request('POST', '/protected', { form: { access_token: 'x' } })
      expect([form.status, form.body]).toEqual([
        401,
        {
          msg:
            'Missing JWT in json or query_string (Invalid content-type. Must be application/json.; ' +
            "Missing 'jwt' query paramater)",
        },
      ])
      const json = await client.request('POST', '/protected', { json: {} })
      expect(json.body.msg).toBe(
        `Missing JWT in json or query_string (Missing "access_token" key in json data.; Missing 'jwt' query paramater)`,
      )
      const custom = await ctx.start({ ...flask, header: { type: 'JWT' } })
      for (const authorization of ['Basic basiccreds', 'Bearer abc.def.ghi']) {
        const res = await custom.client.request('GET', '/protected', { headers: { authorization } })
        expect([authorization, res.status, res.body]).toEqual([
          authorization,
          401,
          { msg: "Missing 'JWT' type in 'Authorization' header. Expected 'Authorization: JWT <JWT>'" },
        ])
      }
      // A blank header (or commas only) is a missing one, for flask as here.
      const blank = await custom.client.request('GET', '/protected', { headers: { authorization: ' , ' } })
      expect(blank.body).toEqual({ msg: 'Missing Authorization Header' })
    })
  })

  describe('per-call cookie max_age and domain', () => {
    const COOKIES = { tokenLocations: ['cookies'] as const, cookies: { domain: 'test.com' } }

    // test_cookies.py::test_override_domain_option; utils.set_access_cookies(max_age=…)
    it('overrides Max-Age and Domain of both cookies for one call, setting and unsetting', async () => {
      const { client, auth } = await ctx.start(COOKIES)
      for (const [type, path, jwtName, csrfName] of [
        ['access', '/cookies/access', 'access_token_cookie', 'csrf_access_token'],
        ['refresh', '/cookies/refresh', 'refresh_token_cookie', 'csrf_refresh_token'],
      ] as const) {
        const token =
          type === 'access'
            ? await auth.createAccessToken('alice', { csrf: true })
            : await auth.createRefreshToken('alice', { csrf: true })
        const res = await client.request('POST', path, {
          json: { token, options: { maxAge: '30d', domain: 'yolo.com' } },
        })
        for (const name of [jwtName, csrfName]) {
          expect([name, cookieNamed(res, name).attributes]).toMatchObject([
            name,
            { domain: 'yolo.com', 'max-age': String(30 * 86_400) },
          ])
        }
        const plain = await client.request('POST', path, { json: { token } })
        expect(cookieNamed(plain, jwtName).attributes.domain).toBe('test.com')
      }
      for (const path of ['/cookies/unset', '/cookies/unset-access', '/cookies/unset-refresh']) {
        const res = await client.request('POST', path, { json: { options: { domain: 'yolo.com' } } })
        expect(res.cookies.length).toBeGreaterThan(0)
        for (const c of res.cookies) expect([c.name, c.attributes.domain]).toEqual([c.name, 'yolo.com'])
      }
    })

    // flask_jwt_extended/utils.py: `max_age=max_age or config.cookie_max_age`, so it wins over session cookies
    it('gives session cookies a Max-Age when the call asks for one', async () => {
      const { client, auth } = await ctx.start({ tokenLocations: ['cookies'], cookies: { session: true } })
      const token = await auth.createAccessToken('alice', { csrf: true })
      const session = await client.request('POST', '/cookies/access', { json: { token } })
      expect(cookieNamed(session, 'access_token_cookie').attributes['max-age']).toBeUndefined()
      const lasting = await client.request('POST', '/cookies/access', {
        json: { token, options: { maxAge: 3600 } },
      })
      expect(cookieNamed(lasting, 'access_token_cookie').attributes['max-age']).toBe('3600')
    })

    it('refuses bad per-call options and sets no cookie', async () => {
      const { client, auth } = await ctx.start({ tokenLocations: ['cookies'] })
      const token = await auth.createAccessToken('alice', { csrf: true })
      for (const options of [{ maxAge: 0 }, { maxAge: 'soon' }, { domain: 'a;b' }, { max_age: 60 }]) {
        const res = await client.request('POST', '/cookies/access', { json: { token, options } })
        expect([JSON.stringify(options), res.status, res.cookies]).toEqual([JSON.stringify(options), 500, []])
      }
      const unset = await client.request('POST', '/cookies/unset', { json: { options: { maxAge: 60 } } })
      expect([unset.status, unset.cookies]).toEqual([500, []])
    })
  })

  describe('separate access and refresh CSRF names', () => {
    const login = async (
      options: Parameters<SuiteContext['start']>[0],
    ): Promise<{
      post: (path: string, headers: Record<string, string>, form?: Record<string, string>) => Promise<number>
      access: string
      refresh: string
      set: { access: ReturnType<typeof cookieNamed>[]; refresh: ReturnType<typeof cookieNamed>[] }
    }> => {
      const { client, auth } = await ctx.start({ tokenLocations: ['cookies'], ...options })
      const accessToken = await auth.createAccessToken('alice', { csrf: true })
      const refreshToken = await auth.createRefreshToken('alice', { csrf: true })
      const a = await client.request('POST', '/cookies/access', { json: { token: accessToken } })
      const r = await client.request('POST', '/cookies/refresh', { json: { token: refreshToken } })
      const cookie = cookieHeader([...a.cookies, ...r.cookies])
      return {
        access: getCsrfToken(accessToken)!,
        refresh: getCsrfToken(refreshToken)!,
        set: { access: a.cookies, refresh: r.cookies },
        post: async (path, headers, form) =>
          (await client.request('POST', path, { headers: { cookie, ...headers }, ...(form ? { form } : {}) }))
            .status,
      }
    }

    // test_cookies.py::test_csrf_with_custom_header_names (JWT_ACCESS_CSRF_HEADER_NAME, JWT_REFRESH_CSRF_HEADER_NAME)
    it('reads each token type from its own header', async () => {
      const s = await login({
        csrf: { accessHeaderName: 'X-ACCESS-CSRF', refreshHeaderName: 'X-REFRESH-CSRF' },
      })
      expect(await s.post('/protected', { 'x-access-csrf': s.access })).toBe(200)
      expect(await s.post('/protected', { 'x-csrf-token': s.access })).toBe(401)
      expect(await s.post('/protected', { 'x-refresh-csrf': s.access })).toBe(401)
      expect(await s.post('/auth/refresh', { 'x-refresh-csrf': s.refresh })).toBe(200)
      expect(await s.post('/auth/refresh', { 'x-access-csrf': s.refresh })).toBe(401)
      // The shared name stays the default of the one left unset.
      const mixed = await login({ csrf: { headerName: 'X-XSRF', refreshHeaderName: 'X-REFRESH-CSRF' } })
      expect(await mixed.post('/protected', { 'x-xsrf': mixed.access })).toBe(200)
      expect(await mixed.post('/auth/refresh', { 'x-refresh-csrf': mixed.refresh })).toBe(200)
      expect(await mixed.post('/auth/refresh', { 'x-xsrf': mixed.refresh })).toBe(401)
    })

    it('names the header of the route in csrf_missing and csrf_mismatch', async () => {
      const { client, auth } = await ctx.start({
        tokenLocations: ['cookies'],
        csrf: { refreshHeaderName: 'X-REFRESH-CSRF' },
      })
      const token = await auth.createRefreshToken('alice', { csrf: true })
      const cookie = `refresh_token_cookie=${token}`
      const missing = await client.request('POST', '/auth/refresh', { headers: { cookie } })
      expect([missing.body.error, missing.body.message]).toEqual([
        'csrf_missing',
        expect.stringContaining('X-REFRESH-CSRF'),
      ])
      const wrong = await client.request('POST', '/auth/refresh', {
        headers: { cookie, 'x-refresh-csrf': 'wrong' },
      })
      expect([wrong.body.error, wrong.body.message]).toEqual([
        'csrf_mismatch',
        expect.stringContaining('X-REFRESH-CSRF'),
      ])
    })

    // test_cookies.py::test_csrf_with_custom_form_field (JWT_ACCESS_CSRF_FIELD_NAME, JWT_REFRESH_CSRF_FIELD_NAME)
    it('reads each token type from its own form field', async () => {
      const s = await login({
        csrf: { checkForm: true, accessFieldName: 'access_csrf', refreshFieldName: 'refresh_csrf' },
      })
      expect(await s.post('/protected', {}, { access_csrf: s.access })).toBe(200)
      expect(await s.post('/protected', {}, { csrf_token: s.access })).toBe(401)
      expect(await s.post('/auth/refresh', {}, { refresh_csrf: s.refresh })).toBe(200)
      expect(await s.post('/auth/refresh', {}, { access_csrf: s.refresh })).toBe(401)
    })

    // test_cookies.py::test_custom_cookie_names_and_paths (JWT_ACCESS_CSRF_COOKIE_PATH, JWT_REFRESH_CSRF_COOKIE_PATH)
    it('sets and deletes each CSRF cookie at its own path', async () => {
      const { client, auth } = await ctx.start({
        tokenLocations: ['cookies'],
        csrf: { accessCookiePath: '/protected', refreshCookiePath: '/auth/refresh' },
      })
      const a = await client.request('POST', '/cookies/access', {
        json: { token: await auth.createAccessToken('alice', { csrf: true }) },
      })
      const r = await client.request('POST', '/cookies/refresh', {
        json: { token: await auth.createRefreshToken('alice', { csrf: true }) },
      })
      expect(cookieNamed(a, 'csrf_access_token').attributes.path).toBe('/protected')
      expect(cookieNamed(r, 'csrf_refresh_token').attributes.path).toBe('/auth/refresh')
      const unset = await client.request('POST', '/cookies/unset')
      expect(cookieNamed(unset, 'csrf_access_token').attributes.path).toBe('/protected')
      expect(cookieNamed(unset, 'csrf_refresh_token').attributes.path).toBe('/auth/refresh')
      // Without the per-type paths both stay at csrf.cookiePath, as before.
      const shared = await ctx.start({ tokenLocations: ['cookies'], csrf: { cookiePath: '/app' } })
      const b = await shared.client.request('POST', '/cookies/refresh', {
        json: { token: await shared.auth.createRefreshToken('alice', { csrf: true }) },
      })
      expect(cookieNamed(b, 'csrf_refresh_token').attributes.path).toBe('/app')
    })
  })

  describe('option name hints', () => {
    it.each([
      [{ tokenLocation: ['headers'] }, 'tokenLocation', '"tokenLocations"'],
      [{ JWT_TOKEN_LOCATION: ['headers'] }, 'JWT_TOKEN_LOCATION', '"tokenLocations"'],
      [{ JWT_COOKIE_DOMAIN: 'example.com' }, 'JWT_COOKIE_DOMAIN', '"cookies.domain"'],
      [{ cookies: { JWT_SESSION_COOKIE: true } }, 'cookies.JWT_SESSION_COOKIE', '"session"'],
      [{ cookies: { samesite: 'Lax' } }, 'cookies.samesite', '"sameSite"'],
      [{ csrf: { acessHeaderName: 'X' } }, 'csrf.acessHeaderName', '"accessHeaderName"'],
      [
        { csrf: { JWT_REFRESH_CSRF_COOKIE_PATH: '/' } },
        'csrf.JWT_REFRESH_CSRF_COOKIE_PATH',
        '"refreshCookiePath"',
      ],
      [{ errors: { message_key: 'msg' } }, 'errors.message_key', '"messageKey"'],
    ])('%j: names %s and suggests %s', async (options, option, hint) => {
      await expect(ctx.build(options as never)).rejects.toMatchObject({
        code: 'configuration_error',
        option,
        message: expect.stringContaining(`did you mean ${hint}?`) as string,
      })
    })

    it('points engine options given to the adapter at createTessera()', async () => {
      await expect(ctx.build({ accessTokenTtl: '15m' } as never)).rejects.toMatchObject({
        option: 'accessTokenTtl',
        message: expect.stringContaining('createTessera()') as string,
      })
    })

    it('says nothing it cannot back up for a name far from every option', async () => {
      await expect(ctx.build({ frobnicate: true } as never)).rejects.toMatchObject({
        message: 'frobnicate: unknown option',
      })
    })
  })
}
