// Token locations: headers (name, type, bare, case, several credentials), query (name, prefix), JSON
// body keys, order, per-route overrides, and the missing-token error naming every location tried.
import { describe, expect, it } from 'vitest'
import { bearer, INVALID_TOKEN, type SuiteContext } from './shared-suite.js'

export function locationSuite(ctx: SuiteContext): void {
  describe('header location', () => {
    it('accepts a Bearer token and exposes identity, claims, header and location', async () => {
      const { client, auth } = await ctx.start()
      const token = await auth.createAccessToken('alice', { claims: { roles: ['reader'] } })
      const res = await client.request('GET', '/protected', { headers: bearer(token) })
      expect(res.status).toBe(200)
      expect(res.body.jwt).toMatchObject({
        identity: 'alice',
        location: 'headers',
        claims: { sub: 'alice', type: 'access', roles: ['reader'] },
        header: { alg: 'HS256', typ: 'at+jwt' },
      })
    })

    it('answers 401 token_missing with a bare Bearer challenge when no token is sent', async () => {
      const { client } = await ctx.start()
      const res = await client.request('GET', '/protected')
      expect(res.status).toBe(401)
      expect(res.body.error).toBe('token_missing')
      expect(typeof res.body.message).toBe('string')
      expect(res.headers['www-authenticate']).toBe('Bearer')
    })

    it('treats the scheme case-insensitively and finds it among several credentials', async () => {
      const { client, auth } = await ctx.start()
      const token = await auth.createAccessToken('alice')
      for (const authorization of [
        `bearer ${token}`,
        `BEARER  ${token}`,
        `Basic dXNlcjpwdw==, Bearer ${token}`,
      ]) {
        const res = await client.request('GET', '/protected', { headers: { authorization } })
        expect([authorization, res.status]).toEqual([authorization, 200])
      }
    })

    it('counts a header with another scheme as no token', async () => {
      const { client } = await ctx.start()
      const res = await client.request('GET', '/protected', {
        headers: { authorization: 'Basic dXNlcjpwdw==' },
      })
      expect([res.status, res.body.error]).toEqual([401, 'token_missing'])
    })

    it.each([['Bearer'], ['Bearer a b'], ['Bearer a, Bearer b']])(
      'refuses the malformed header %j as token_malformed',
      async (authorization) => {
        const { client } = await ctx.start()
        const res = await client.request('GET', '/protected', { headers: { authorization } })
        expect([res.status, res.body.error]).toEqual([401, 'token_malformed'])
        expect(res.headers['www-authenticate']).toMatch(INVALID_TOKEN)
      },
    )

    it('reads a configured header name and type', async () => {
      const { client, auth } = await ctx.start({ header: { name: 'X-Api-Token', type: 'JWT' } })
      const token = await auth.createAccessToken('alice')
      expect(
        (await client.request('GET', '/protected', { headers: { 'x-api-token': `JWT ${token}` } })).status,
      ).toBe(200)
      expect((await client.request('GET', '/protected', { headers: bearer(token) })).body.error).toBe(
        'token_missing',
      )
    })

    it('reads a bare token when the header type is empty', async () => {
      const { client, auth } = await ctx.start({ header: { type: '' } })
      const token = await auth.createAccessToken('alice')
      const res = await client.request('GET', '/protected', { headers: { authorization: token } })
      expect(res.status).toBe(200)
      expect(res.body.jwt?.identity).toBe('alice')
    })
  })

  describe('query and JSON locations', () => {
    it('reads the token from the jwt query parameter', async () => {
      const { client, auth } = await ctx.start({ tokenLocations: ['query'] })
      const token = await auth.createAccessToken('alice')
      const res = await client.request('GET', `/protected?jwt=${token}`)
      expect([res.status, res.body.jwt?.location]).toEqual([200, 'query'])
    })

    it('reads a configured query name and strips its prefix, refusing a value without it', async () => {
      const { client, auth } = await ctx.start({
        tokenLocations: ['query'],
        query: { name: 'token', prefix: 'Bearer ' },
      })
      const token = await auth.createAccessToken('alice')
      const ok = await client.request('GET', `/protected?token=${encodeURIComponent(`Bearer ${token}`)}`)
      expect(ok.status).toBe(200)
      const bad = await client.request('GET', `/protected?token=${token}`)
      expect([bad.status, bad.body.error]).toEqual([401, 'token_malformed'])
    })

    it('refuses a repeated query parameter as token_malformed', async () => {
      const { client, auth } = await ctx.start({ tokenLocations: ['query'] })
      const token = await auth.createAccessToken('alice')
      const res = await client.request('GET', `/protected?jwt=${token}&jwt=${token}`)
      expect([res.status, res.body.error]).toEqual([401, 'token_malformed'])
    })

    it('reads access_token from a JSON body, and refresh_token on refresh routes', async () => {
      const { client, auth } = await ctx.start({ tokenLocations: ['json'] })
      const access = await auth.createAccessToken('alice')
      const res = await client.request('POST', '/protected', { json: { access_token: access } })
      expect([res.status, res.body.jwt?.location]).toEqual([200, 'json'])
      const refresh = await auth.createRefreshToken('alice')
      const refreshed = await client.request('POST', '/auth/refresh', { json: { refresh_token: refresh } })
      expect([refreshed.status, refreshed.body.jwt?.claims.type]).toEqual([200, 'refresh'])
      const wrongKey = await client.request('POST', '/auth/refresh', { json: { access_token: refresh } })
      expect(wrongKey.body.error).toBe('token_missing')
    })

    it('reads the JSON location from JSON requests only: a cross-site form posting a token is none', async () => {
      // A form on any site can post urlencoded fields: a token read from one would act as the
      // attacker's account in the victim's browser, before the victim's own cookie (login CSRF).
      const { client, auth } = await ctx.start({ tokenLocations: ['json', 'cookies'] })
      const mallory = await auth.createAccessToken('mallory')
      const form = await client.request('POST', '/protected', {
        form: { access_token: mallory },
        headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
      })
      expect([form.status, form.body.error]).toEqual([401, 'token_missing'])
      const refresh = await auth.createRefreshToken('mallory')
      const refreshForm = await client.request('POST', '/auth/refresh', { form: { refresh_token: refresh } })
      expect([refreshForm.status, refreshForm.body.error]).toEqual([401, 'token_missing'])
      const json = await client.request('POST', '/protected', { json: { access_token: mallory } })
      expect([json.status, json.body.jwt?.location]).toEqual([200, 'json'])
    })

    it('reads configured JSON keys and refuses a non-string value as token_malformed', async () => {
      const { client, auth } = await ctx.start({ tokenLocations: ['json'], json: { accessKey: 'jwt' } })
      const token = await auth.createAccessToken('alice')
      expect((await client.request('POST', '/protected', { json: { jwt: token } })).status).toBe(200)
      for (const value of [42, 0, false, true, [], [token], {}, { token }]) {
        const bad = await client.request('POST', '/protected', { json: { jwt: value } })
        expect([value, bad.status, bad.body.error]).toEqual([value, 401, 'token_malformed'])
      }
    })

    // flask-jwt-extended's _decode_jwt_from_json: `request.json.get(key)` falsy is NoAuthorizationError.
    it('takes a null or empty JSON token field for no token: missing, the next location, or anonymous', async () => {
      const { client, auth } = await ctx.start({ tokenLocations: ['json', 'query'] })
      for (const value of [null, '']) {
        const access = await client.request('POST', '/protected', { json: { access_token: value } })
        expect([value, access.status, access.body.error]).toEqual([value, 401, 'token_missing'])
        const refresh = await client.request('POST', '/auth/refresh', { json: { refresh_token: value } })
        expect([value, refresh.status, refresh.body.error]).toEqual([value, 401, 'token_missing'])
        const optional = await client.request('POST', '/optional', { json: { access_token: value } })
        expect([value, optional.status, optional.body.jwt]).toEqual([value, 200, null])
      }
      const token = await auth.createAccessToken('alice')
      const next = await client.request('POST', `/protected?jwt=${token}`, { json: { access_token: null } })
      expect([next.status, next.body.jwt?.location]).toEqual([200, 'query'])
      const flask = await ctx.start({ tokenLocations: ['json'], compat: 'flask-jwt-extended' })
      const res = await flask.client.request('POST', '/auth/refresh', { json: { refresh_token: null } })
      expect([res.status, res.body]).toEqual([401, { msg: 'Missing "refresh_token" key in json data.' }])
    })
  })

  describe('location order and overrides', () => {
    it('uses the first location holding a token, in the configured order', async () => {
      const { client, auth } = await ctx.start({ tokenLocations: ['query', 'headers'] })
      const [a, b] = await Promise.all([
        auth.createAccessToken('from-query'),
        auth.createAccessToken('from-header'),
      ])
      const res = await client.request('GET', `/protected?jwt=${a}`, { headers: bearer(b) })
      expect([res.body.jwt?.identity, res.body.jwt?.location]).toEqual(['from-query', 'query'])
      const headerOnly = await client.request('GET', '/protected', { headers: bearer(b) })
      expect(headerOnly.body.jwt?.location).toBe('headers')
    })

    it('lets a route replace the app locations', async () => {
      const { client, auth } = await ctx.start()
      const token = await auth.createAccessToken('alice')
      expect((await client.request('GET', '/query-only', { headers: bearer(token) })).body.error).toBe(
        'token_missing',
      )
      expect((await client.request('GET', `/query-only?jwt=${token}`)).status).toBe(200)
    })

    it('names every location tried when no token is found', async () => {
      const { client } = await ctx.start({ tokenLocations: ['headers', 'cookies', 'query', 'json'] })
      const res = await client.request('POST', '/protected', { json: {} })
      expect([res.status, res.body.error]).toEqual([401, 'token_missing'])
      for (const place of ['Authorization', 'access_token_cookie', 'jwt', 'access_token']) {
        expect(res.body.message).toContain(place)
      }
    })
  })
}
