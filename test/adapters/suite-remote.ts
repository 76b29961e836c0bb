// Resource servers through the adapters: an engine fed by remoteJwks (or importJwks) is taken as is;
// the first request after a rotation waits inside the guard for the one shared fetch and gets 200; a
// JWKS that is down, slow or garbage never turns a known kid's request into anything but 200.
import { afterEach, describe, expect, it } from 'vitest'
import {
  createTessera,
  generateKey,
  importJwks,
  remoteJwks,
  type RemoteJwks,
  type Tessera,
} from '../../packages/tessera/src/index.js'
import { forge, accessClaims } from '../helpers/forge.js'
import { manualClock, startJwksServer, type JwksServer } from '../helpers/jwks-server.js'
import { bearer, INVALID_TOKEN, type SuiteContext } from './shared-suite.js'

const AUDIENCE = { issuer: 'https://auth.example.com', audience: 'orders-api' }
const AUDIENCE_CLAIMS = { iss: AUDIENCE.issuer, aud: AUDIENCE.audience }
const k1 = await generateKey('EdDSA', { kid: 'k1' })
const k2 = await generateKey('EdDSA', { kid: 'k2' })
const issuer = createTessera({ keys: [k1], ...AUDIENCE })
const rotated = createTessera({ keys: [k2, k1], ...AUDIENCE })

export function remoteSuite(ctx: SuiteContext): void {
  describe('resource server (remote JWKS)', () => {
    const servers: JwksServer[] = []
    afterEach(async () => {
      await Promise.all(servers.splice(0).map((s) => s.close()))
    })

    const resource = async (
      timeout?: number,
    ): Promise<{
      server: JwksServer
      jwks: RemoteJwks
      auth: Tessera
      clock: ReturnType<typeof manualClock>
    }> => {
      const server = await startJwksServer(issuer.jwks(), 'max-age=300')
      servers.push(server)
      const clock = manualClock()
      // A timeout of its own for the failure cases; the others get the default.
      const jwks = remoteJwks(server.url, { now: clock.now, timeout, onError: () => undefined })
      return { server, jwks, clock, auth: createTessera({ keys: jwks, ...AUDIENCE }) }
    }

    it('answers 200 to the first request, fetching the JWKS inside the guard', async () => {
      const { server, auth } = await resource()
      const client = await ctx.startWith(auth)
      const res = await client.request('GET', '/protected', {
        headers: bearer(await issuer.createAccessToken('alice')),
      })
      expect([res.status, res.body.jwt?.identity, server.hits.jwks]).toEqual([200, 'alice', 1])
    })

    it('answers 200 to the first request after a rotation, with one fetch for concurrent requests', async () => {
      const { server, jwks, auth, clock } = await resource()
      await jwks.ready()
      const client = await ctx.startWith(auth)
      clock.advance(5_000)
      server.jwks = rotated.jwks()
      const token = await rotated.createAccessToken('alice')
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => client.request('GET', '/protected', { headers: bearer(token) })),
      )
      expect(answers.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 200))
      expect(answers[0]?.body.jwt?.header.kid).toBe('k2')
      expect(server.hits.jwks).toBe(2)
    })

    it.each(['reset', 'error', 'slow', 'garbage'] as const)(
      'keeps answering 200 for known kids while the JWKS is %s',
      async (mode) => {
        // 3 s, not 0.2 s: the 'ok' fetch of ready() timed out at 0.2 s on a loaded machine. Still well under
        // the 10 s the 'slow' stub takes to answer.
        const { server, jwks, auth, clock } = await resource(3)
        await jwks.ready()
        const client = await ctx.startWith(auth)
        const token = await issuer.createAccessToken('alice')
        server.mode = mode
        clock.advance(400_000) // stale: a background refresh starts, and fails
        const answers = await Promise.all(
          Array.from({ length: 50 }, () => client.request('GET', '/protected', { headers: bearer(token) })),
        )
        expect(new Set(answers.map((r) => r.status))).toEqual(new Set([200]))
        // At most the one background refresh: no request fetched, none waited for a fetch.
        expect(server.hits.jwks).toBeLessThanOrEqual(2)
        await expect(jwks.refresh()).rejects.toMatchObject({ code: 'jwks_unavailable' })
        expect((await client.request('GET', '/protected', { headers: bearer(token) })).status).toBe(200)
      },
    )

    it('answers 401 token_unknown_key when the key is still unknown after the fetch', async () => {
      const { auth } = await resource()
      const client = await ctx.startWith(auth)
      const token = forge({ alg: 'EdDSA', typ: 'at+jwt', kid: 'nobody' }, accessClaims(), { hmacSecret: 'x' })
      const res = await client.request('GET', '/protected', { headers: bearer(token) })
      expect([res.status, res.body.error]).toEqual([401, 'token_unknown_key'])
      expect(res.headers['www-authenticate']).toMatch(INVALID_TOKEN)
    })

    it("answers the flask preset's refusal after the fetch too: an expired refresh token for access is expired", async () => {
      const { auth } = await resource()
      const client = await ctx.startWith(auth, { compat: 'flask-jwt-extended' })
      const now = Math.floor(Date.now() / 1000)
      const claims = { iat: now - 900, nbf: now - 900, exp: now - 60, type: 'refresh', ...AUDIENCE_CLAIMS }
      const token = forge({ alg: 'EdDSA', typ: 'refresh+jwt', kid: 'k1' }, accessClaims(claims), k1)
      // The first request waits for the JWKS: the refusal comes back asynchronously.
      const res = await client.request('GET', '/protected', { headers: bearer(token) })
      expect([res.status, res.body]).toEqual([401, { msg: 'Token has expired' }])
    })

    it('takes a verify-only engine built with importJwks, and refuses implicitRefresh with it', async () => {
      const auth = createTessera({ keys: importJwks(issuer.jwks()), ...AUDIENCE })
      const client = await ctx.startWith(auth)
      const res = await client.request('GET', '/protected', {
        headers: bearer(await issuer.createAccessToken('alice')),
      })
      expect([res.status, res.body.jwt?.identity]).toEqual([200, 'alice'])
      await expect(ctx.startWith(auth, { implicitRefresh: '5m' })).rejects.toMatchObject({
        code: 'configuration_error',
        option: 'implicitRefresh',
      })
    })
  })
}
