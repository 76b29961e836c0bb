// Route options (optional, fresh, refresh, verifyType, skipRevocationCheck, roles, scopes), OPTIONS, the
// app hooks (user lookup, blocklist, claims verification) and start-up validation.
import { describe, expect, it, vi } from 'vitest'
import { accessClaims, forge, SECRET } from '../helpers/forge.js'
import { bearer, INVALID_TOKEN, type SuiteContext } from './shared-suite.js'

const INSUFFICIENT_SCOPE = /^Bearer error="insufficient_scope", error_description="[^"]*"$/

export function routeSuite(ctx: SuiteContext): void {
  describe('route options', () => {
    // HTTP verb tampering: a handler that serves every method must not run for a token-less OPTIONS.
    it('authenticates OPTIONS like any method: 401 without a token, the handler runs with one', async () => {
      const { client, auth } = await ctx.start()
      for (const path of ['/protected', '/verify']) {
        const res = await client.request('OPTIONS', path)
        expect([path, res.status, res.body.error, res.body.jwt]).toEqual([
          path,
          401,
          'token_missing',
          undefined,
        ])
        expect(res.headers['www-authenticate']).toBe('Bearer')
      }
      // A preflight's headers change nothing: an attacker can send them.
      const preflight = await client.request('OPTIONS', '/protected', {
        headers: { origin: 'https://app.example', 'access-control-request-method': 'DELETE' },
      })
      expect([preflight.status, preflight.body.error]).toEqual([401, 'token_missing'])
      const withToken = await client.request('OPTIONS', '/protected', {
        headers: bearer(await auth.createAccessToken('alice')),
      })
      expect([withToken.status, withToken.body.jwt?.identity]).toEqual([200, 'alice'])
    })

    // HTTP verb tampering again: Fastify answers HEAD with a GET route of its own making, Express runs
    // the GET handlers for it. A HEAD answer has no body, but the handler runs (and can change state).
    it('authenticates HEAD like GET: 401 with a challenge without a token, 200 with one', async () => {
      const { client, auth } = await ctx.start()
      for (const path of ['/protected', '/admin', '/verify']) {
        const res = await client.request('HEAD', path)
        expect([path, res.status, res.headers['www-authenticate']]).toEqual([path, 401, 'Bearer'])
      }
      const forgery = forge({ alg: 'HS256', typ: 'at+jwt' }, accessClaims(), { hmacSecret: `${SECRET}!` })
      const forged = await client.request('HEAD', '/protected', { headers: bearer(forgery) })
      expect(forged.status).toBe(401)
      expect(forged.headers['www-authenticate']).toMatch(INVALID_TOKEN)
      const user = await client.request('HEAD', '/admin', {
        headers: bearer(await auth.createAccessToken('alice')),
      })
      expect(user.status).toBe(403)
      const withToken = await client.request('HEAD', '/protected', {
        headers: bearer(await auth.createAccessToken('alice')),
      })
      expect(withToken.status).toBe(200)
    })

    it('optional: passes a request without a token with jwt null, but refuses a bad or expired one', async () => {
      const { client, auth } = await ctx.start()
      const none = await client.request('GET', '/optional')
      expect([none.status, none.body.jwt]).toEqual([200, null])
      const good = await client.request('GET', '/optional', {
        headers: bearer(await auth.createAccessToken('alice')),
      })
      expect(good.body.jwt?.identity).toBe('alice')
      const bad = await client.request('GET', '/optional', { headers: bearer('not-a-jwt') })
      expect([bad.status, bad.body.error]).toEqual([401, 'token_malformed'])
      const now = Math.floor(Date.now() / 1000)
      const old = forge(
        { alg: 'HS256', typ: 'at+jwt' },
        accessClaims({ iat: now - 99, nbf: now - 99, exp: now - 9 }),
        { hmacSecret: SECRET },
      )
      const expired = await client.request('GET', '/optional', { headers: bearer(old) })
      expect([expired.status, expired.body.error]).toEqual([401, 'token_expired'])
    })

    it('optional: still refuses a cookie token that fails the CSRF check', async () => {
      const { client, auth } = await ctx.start({ tokenLocations: ['cookies'] })
      const cookie = `access_token_cookie=${await auth.createAccessToken('alice', { csrf: true })}`
      const res = await client.request('POST', '/optional', { headers: { cookie } })
      expect([res.status, res.body.error]).toEqual([401, 'csrf_missing'])
    })

    it('fresh: accepts a fresh token and refuses a stale one with fresh_token_required', async () => {
      const { client, auth } = await ctx.start()
      const fresh = await client.request('GET', '/fresh', {
        headers: bearer(await auth.createAccessToken('alice', { fresh: true })),
      })
      expect(fresh.status).toBe(200)
      const stale = await client.request('GET', '/fresh', {
        headers: bearer(await auth.createAccessToken('alice')),
      })
      expect([stale.status, stale.body.error]).toEqual([401, 'fresh_token_required'])
    })

    it('refresh: accepts refresh tokens only', async () => {
      const { client, auth } = await ctx.start()
      const ok = await client.request('POST', '/auth/refresh', {
        headers: bearer(await auth.createRefreshToken('alice')),
      })
      expect([ok.status, ok.body.jwt?.claims.type]).toEqual([200, 'refresh'])
      const access = await client.request('POST', '/auth/refresh', {
        headers: bearer(await auth.createAccessToken('alice')),
      })
      expect([access.status, access.body.error]).toEqual([401, 'token_wrong_type'])
    })

    it('verifyType false: accepts both token types', async () => {
      const { client, auth } = await ctx.start()
      for (const token of [await auth.createAccessToken('alice'), await auth.createRefreshToken('alice')]) {
        expect((await client.request('GET', '/any-type', { headers: bearer(token) })).status).toBe(200)
      }
    })

    it('skipRevocationCheck: lets a revoked token through that other routes refuse', async () => {
      const { client, auth } = await ctx.start()
      const token = await auth.createAccessToken('alice')
      await auth.revokeToken((await auth.verify(token)).claims)
      expect((await client.request('GET', '/skip-revocation', { headers: bearer(token) })).status).toBe(200)
      expect((await client.request('GET', '/protected', { headers: bearer(token) })).body.error).toBe(
        'token_revoked',
      )
    })

    it('roles: passes a token with one of the roles and answers 403 forbidden otherwise', async () => {
      const { client, auth } = await ctx.start()
      for (const roles of [['owner'], ['reader', 'admin'], 'admin']) {
        const res = await client.request('GET', '/admin', {
          headers: bearer(await auth.createAccessToken('a', { claims: { roles } })),
        })
        expect([roles, res.status]).toEqual([roles, 200])
      }
      for (const claims of [{ roles: ['reader'] }, {}, { roles: 'reader' }]) {
        const res = await client.request('GET', '/admin', {
          headers: bearer(await auth.createAccessToken('a', { claims })),
        })
        expect([res.status, res.body.error]).toEqual([403, 'forbidden'])
        expect(res.headers['www-authenticate']).toMatch(INSUFFICIENT_SCOPE)
      }
    })

    it('scopes: requires every scope, from a space-separated string or a list, in a configured claim', async () => {
      const { client, auth } = await ctx.start()
      const ok = await client.request('GET', '/scoped', {
        headers: bearer(await auth.createAccessToken('a', { claims: { scope: 'write read admin' } })),
      })
      expect(ok.status).toBe(200)
      const partial = await client.request('GET', '/scoped', {
        headers: bearer(await auth.createAccessToken('a', { claims: { scope: ['read'] } })),
      })
      expect([partial.status, partial.body.error]).toEqual([403, 'forbidden'])
      const custom = await ctx.start({ claimNames: { scope: 'scp', roles: 'groups' } })
      const scp = await custom.auth.createAccessToken('a', {
        claims: { scp: ['read', 'write'], groups: ['admin'] },
      })
      expect((await custom.client.request('GET', '/scoped', { headers: bearer(scp) })).status).toBe(200)
      expect((await custom.client.request('GET', '/admin', { headers: bearer(scp) })).status).toBe(200)
    })

    it('leaves unprotected routes alone', async () => {
      const { client } = await ctx.start()
      const res = await client.request('GET', '/open', { headers: bearer('not-a-jwt') })
      expect([res.status, res.body.jwt]).toEqual([200, null])
    })
  })

  describe('hooks', () => {
    it('userLookup: attaches the user, and answers 401 user_not_found when it finds none', async () => {
      const lookup = vi.fn((token: { identity: string }) =>
        Promise.resolve(token.identity === 'alice' ? { name: 'Alice' } : null),
      )
      const { client, auth } = await ctx.start({ userLookup: lookup })
      const found = await client.request('GET', '/protected', {
        headers: bearer(await auth.createAccessToken('alice')),
      })
      expect([found.status, found.body.jwt?.user]).toEqual([200, { name: 'Alice' }])
      const gone = await client.request('GET', '/protected', {
        headers: bearer(await auth.createAccessToken('bob')),
      })
      expect([gone.status, gone.body.error]).toEqual([401, 'user_not_found'])
      expect(gone.headers['www-authenticate']).toMatch(INVALID_TOKEN)
      expect(lookup).toHaveBeenCalledTimes(2)
    })

    it('userLookup: runs before the role check, so a deleted admin gets 401 rather than 403', async () => {
      const { client, auth } = await ctx.start({ userLookup: () => undefined })
      const res = await client.request('GET', '/admin', {
        headers: bearer(await auth.createAccessToken('a', { claims: { roles: ['reader'] } })),
      })
      expect([res.status, res.body.error]).toEqual([401, 'user_not_found'])
    })

    it('passes a hook failure that is not a Tessera error to the framework as a 500', async () => {
      const { client, auth } = await ctx.start({
        userLookup: () => Promise.reject(new Error('database down')),
      })
      const res = await client.request('GET', '/protected', {
        headers: bearer(await auth.createAccessToken('alice')),
      })
      expect(res.status).toBe(500)
      expect(res.body.error).not.toBe('user_not_found')
    })

    it('tokenInBlocklist: answers 401 token_revoked when the hook says so', async () => {
      const blocklist = vi.fn((token: { claims: { sub: string } }) => token.claims.sub === 'mallory')
      const { client, auth } = await ctx.start({ tokenInBlocklist: blocklist })
      const blocked = await client.request('GET', '/protected', {
        headers: bearer(await auth.createAccessToken('mallory')),
      })
      expect([blocked.status, blocked.body.error]).toEqual([401, 'token_revoked'])
      expect(blocked.headers['www-authenticate']).toMatch(INVALID_TOKEN)
      const ok = await client.request('GET', '/protected', {
        headers: bearer(await auth.createAccessToken('alice')),
      })
      expect(ok.status).toBe(200)
    })

    it('tokenInBlocklist: adds to the revocation store, so revokeToken, revokeSession and revokeUser still refuse', async () => {
      const blocklist = vi.fn(() => false)
      const { client, auth } = await ctx.start({ tokenInBlocklist: blocklist })
      const byToken = await auth.createAccessToken('alice')
      const bySession = await auth.createAccessToken('alice', { sid: 's1' })
      const byUser = await auth.createAccessToken('bob')
      for (const token of [byToken, bySession, byUser]) {
        expect((await client.request('GET', '/protected', { headers: bearer(token) })).status).toBe(200)
      }
      await auth.revokeToken((await auth.verify(byToken)).claims)
      await auth.revokeSession('s1')
      await auth.revokeUser('bob')
      for (const token of [byToken, bySession, byUser]) {
        const res = await client.request('GET', '/protected', { headers: bearer(token) })
        expect([res.status, res.body.error]).toEqual([401, 'token_revoked'])
        expect(res.headers['www-authenticate']).toMatch(INVALID_TOKEN)
      }
      // The store answered first: the hook was not asked about the revoked tokens.
      expect(blocklist).toHaveBeenCalledTimes(3)
      // skipRevocationCheck skips both, as the route asked.
      const skipped = await client.request('GET', '/skip-revocation', { headers: bearer(byToken) })
      expect(skipped.status).toBe(200)
      expect(blocklist).toHaveBeenCalledTimes(3)
    })

    it('verifyClaims: answers 401 claims_verification_failed when the hook refuses', async () => {
      const { client, auth } = await ctx.start({
        verifyClaims: async (token) => (await Promise.resolve(token.claims.tenant)) === 'acme',
      })
      const ok = await client.request('GET', '/protected', {
        headers: bearer(await auth.createAccessToken('a', { claims: { tenant: 'acme' } })),
      })
      expect(ok.status).toBe(200)
      const refused = await client.request('GET', '/protected', {
        headers: bearer(await auth.createAccessToken('a', { claims: { tenant: 'other' } })),
      })
      expect([refused.status, refused.body.error]).toEqual([401, 'claims_verification_failed'])
      expect(refused.headers['www-authenticate']).toMatch(INVALID_TOKEN)
    })

    it('waits for an asynchronous revocation store', async () => {
      const store = {
        isRevoked: async () => Promise.resolve(true),
        revokeToken() {},
        revokeSession() {},
        revokeUser() {},
      }
      const { client, auth } = await ctx.start({}, { revocation: store })
      const res = await client.request('GET', '/protected', {
        headers: bearer(await auth.createAccessToken('alice')),
      })
      expect([res.status, res.body.error]).toEqual([401, 'token_revoked'])
    })
  })

  describe('start-up validation', () => {
    it.each([
      [{ tokenLocation: ['headers'] }, 'tokenLocation'],
      [{ tokenLocations: ['header'] }, 'tokenLocations'],
      [{ tokenLocations: [] }, 'tokenLocations'],
      [{ header: { type: 'Bearer token' } }, 'header.type'],
      [{ cookies: { secure: 'yes' } }, 'cookies.secure'],
      [{ cookies: { refreshPath: 'auth/refresh' } }, 'cookies.refreshPath'],
      [{ csrf: { headerName: 'X CSRF' } }, 'csrf.headerName'],
      [{ csrf: { trustedOrigins: ['https://app.example.com/'] } }, 'csrf.trustedOrigins'],
      [{ implicitRefresh: '5 minutes' }, 'implicitRefresh'],
      [{ userLookup: 'users' }, 'userLookup'],
      [{ compat: 'flask' }, 'compat'],
      [{ errors: { status: { token_expired: 200 } } }, 'errors.status.token_expired'],
      [{ errors: { formatters: { token_expird: () => ({}) } } }, 'errors.formatters.token_expird'],
      // Cookie prefixes browsers would silently drop (RFC 6265bis §4.1.3).
      [{ cookies: { accessName: '__Host-access' } }, 'cookies.accessName'],
      [{ cookies: { accessName: '__Secure-access', secure: false } }, 'cookies.accessName'],
      [{ cookies: { refreshName: '__Host-refresh', secure: true } }, 'cookies.refreshName'],
      [
        { cookies: { accessName: '__host-access', secure: true, domain: 'example.com' } },
        'cookies.accessName',
      ],
      [
        { cookies: { secure: true }, csrf: { accessCookieName: '__Host-csrf', cookiePath: '/api' } },
        'csrf.accessCookieName',
      ],
    ])('refuses %j with a ConfigurationError naming %s', async (options, option) => {
      await expect(ctx.build(options as never)).rejects.toMatchObject({ code: 'configuration_error', option })
    })
  })
}
