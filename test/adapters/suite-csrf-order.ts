// Which refusal a cookie request gets when its token is refused and its CSRF double-submit value is
// wrong or missing too: Tessera's order, and flask-jwt-extended's under the preset (the value is compared
// inside decode_token, after PyJWT's checks and before the type, freshness and blocklist checks).
import { describe, expect, it } from 'vitest'
import { getCsrfToken } from '../../packages/tessera/src/adapters/fastify.js'
import {
  memoryRevocationStore,
  type RevocationStore,
  type TesseraOptions,
} from '../../packages/tessera/src/index.js'
import { accessClaims, forge, SECRET } from '../helpers/forge.js'
import type { Body, TestClient } from './harness.js'
import type { Started, SuiteContext } from './shared-suite.js'

const COOKIES = { tokenLocations: ['cookies'] as const }
const FLASK = { ...COOKIES, compat: 'flask-jwt-extended' as const }
const WRONG = 'not-the-value'

/** A memory store answering through promises, as Redis or SQL stores do. */
function asyncStore(): RevocationStore {
  const memory = memoryRevocationStore()
  return { ...memory, isRevoked: (subject) => Promise.resolve(memory.isRevoked(subject)) }
}

const STORES: [string, () => Omit<TesseraOptions, 'secret' | 'keys'>][] = [
  ['a synchronous revocation store', () => ({})],
  ['an asynchronous revocation store', () => ({ revocation: asyncStore() })],
]

/** A cookie token refused for its own sake, the route it is sent to and its CSRF value. */
interface Refused {
  what: string
  path: string
  cookie: string
  csrf: string
}

/** A revoked access cookie, a refresh token in the access cookie and the reverse, a stale access token. */
async function refusedTokens({ auth }: Started): Promise<Refused[]> {
  const revoked = await auth.createAccessToken('alice', { csrf: true })
  await auth.revokeToken((await auth.verify(revoked)).claims)
  const refresh = await auth.createRefreshToken('alice', { csrf: true })
  const access = await auth.createAccessToken('alice', { csrf: true })
  const entry = (what: string, path: string, name: string, token: string): Refused => ({
    what,
    path,
    cookie: `${name}=${token}`,
    csrf: getCsrfToken(token)!,
  })
  return [
    entry('revoked', '/protected', 'access_token_cookie', revoked),
    entry('revoked, verifyRequest', '/verify', 'access_token_cookie', revoked),
    entry('refresh for access', '/protected', 'access_token_cookie', refresh),
    entry('access for refresh', '/auth/refresh', 'refresh_token_cookie', access),
    entry('not fresh', '/fresh', 'access_token_cookie', access),
  ]
}

/** POSTs `cookie` to `path` with `csrf` (none when undefined): the status and the code or flask `msg`. */
async function post(
  client: TestClient,
  path: string,
  cookie: string,
  csrf: string | undefined,
): Promise<[number, Body]> {
  const headers: Record<string, string> = { cookie }
  if (csrf !== undefined) headers['x-csrf-token'] = csrf
  const res = await client.request('POST', path, { headers })
  return [res.status, res.body]
}

export function csrfOrderSuite(ctx: SuiteContext): void {
  describe('CSRF double submit on a refused token', () => {
    it.each(STORES)(
      'answers a revoked cookie token with a wrong CSRF value as csrf_mismatch, with %s: only a request that shows the value learns of a revocation',
      async (_, store) => {
        const started = await ctx.start(COOKIES, store())
        for (const t of (await refusedTokens(started)).filter((r) => r.what.startsWith('revoked'))) {
          const { client } = started
          expect([t.what, ...(await post(client, t.path, t.cookie, WRONG))]).toEqual([
            t.what,
            401,
            expect.objectContaining({ error: 'csrf_mismatch' }),
          ])
          expect([t.what, (await post(client, t.path, t.cookie, undefined))[1].error]).toEqual([
            t.what,
            'csrf_missing',
          ])
          expect([t.what, (await post(client, t.path, t.cookie, t.csrf))[1].error]).toEqual([
            t.what,
            'token_revoked',
          ])
        }
      },
    )

    it('keeps a wrong token type and a stale token ahead of a wrong CSRF value: the token itself says both', async () => {
      const started = await ctx.start(COOKIES)
      const expected: Record<string, string> = {
        'refresh for access': 'token_wrong_type',
        'access for refresh': 'token_wrong_type',
        'not fresh': 'fresh_token_required',
      }
      for (const t of (await refusedTokens(started)).filter((r) => r.what in expected)) {
        const [status, body] = await post(started.client, t.path, t.cookie, WRONG)
        expect([t.what, status, body.error]).toEqual([t.what, 401, expected[t.what]])
      }
    })

    it.each(STORES)(
      "answers a revoked, wrong-type or stale cookie token with flask's CSRF refusal under the flask preset, with %s, as flask compares the value while decoding",
      async (_, store) => {
        const started = await ctx.start(FLASK, store())
        // With the right value, the token's own refusal, in flask's words.
        const own: Record<string, [number, string]> = {
          revoked: [401, 'Token has been revoked'],
          'revoked, verifyRequest': [401, 'Token has been revoked'],
          'refresh for access': [422, 'Only non-refresh tokens are allowed'],
          'access for refresh': [422, 'Only refresh tokens are allowed'],
          'not fresh': [401, 'Fresh token required'],
        }
        for (const t of await refusedTokens(started)) {
          const { client } = started
          expect([t.what, ...(await post(client, t.path, t.cookie, WRONG))]).toEqual([
            t.what,
            401,
            { msg: 'CSRF double submit tokens do not match' },
          ])
          expect([t.what, ...(await post(client, t.path, t.cookie, undefined))]).toEqual([
            t.what,
            401,
            { msg: 'Missing CSRF token' },
          ])
          const [status, msg] = own[t.what]!
          expect([t.what, ...(await post(client, t.path, t.cookie, t.csrf))]).toEqual([
            t.what,
            status,
            { msg },
          ])
        }
      },
    )

    // flask-jwt-extended's _decode_jwt: PyJWT's jwt.decode (signature, exp, nbf, iat, aud, iss) runs
    // before the CSRF comparison; the blocklist, claims and user callbacks after the whole decode.
    it('answers under the flask preset what PyJWT refuses before the CSRF comparison, and the hooks after it', async () => {
      const { client } = await ctx.start(FLASK)
      const now = Math.floor(Date.now() / 1000)
      const old = { iat: now - 900, nbf: now - 900, exp: now - 60, csrf: 'the-value' }
      const expired = forge({ alg: 'HS256', typ: 'at+jwt' }, accessClaims(old), { hmacSecret: SECRET })
      const expiredRefresh = forge(
        { alg: 'HS256', typ: 'refresh+jwt' },
        accessClaims({ ...old, type: 'refresh' }),
        { hmacSecret: SECRET },
      )
      const forged = forge({ alg: 'HS256', typ: 'at+jwt' }, accessClaims({ csrf: 'the-value' }), {
        hmacSecret: `${SECRET}-not-ours`,
      })
      for (const [what, token, answer] of [
        ['expired', expired, [401, { msg: 'Token has expired' }]],
        ['expired refresh for access', expiredRefresh, [401, { msg: 'Token has expired' }]],
        ['forged', forged, [422, { msg: 'Signature verification failed' }]],
      ] as const) {
        const got = await post(client, '/protected', `access_token_cookie=${token}`, WRONG)
        expect([what, ...got]).toEqual([what, ...answer])
      }
      const hooked = await ctx.start({ ...FLASK, tokenInBlocklist: () => true, userLookup: () => null })
      const token = await hooked.auth.createAccessToken('alice', { csrf: true })
      const cookie = `access_token_cookie=${token}`
      expect(await post(hooked.client, '/protected', cookie, WRONG)).toEqual([
        401,
        { msg: 'CSRF double submit tokens do not match' },
      ])
      expect(await post(hooked.client, '/protected', cookie, getCsrfToken(token))).toEqual([
        401,
        { msg: 'Token has been revoked' },
      ])
    })

    it('words a missing claim under the flask preset as flask does: its own checks, and PyJWT for aud and iss', async () => {
      const { client } = await ctx.start(FLASK, { audience: 'api', issuer: 'https://auth.example' })
      const claims = { aud: 'api', iss: 'https://auth.example', csrf: 'the-value' }
      const sign = (overrides: Record<string, unknown>): string =>
        forge({ alg: 'HS256', typ: 'at+jwt' }, accessClaims({ ...claims, ...overrides }), {
          hmacSecret: SECRET,
        })
      for (const [missing, msg] of [
        ['sub', 'Missing claim: sub'],
        ['aud', 'Token is missing the "aud" claim'],
        ['iss', 'Token is missing the "iss" claim'],
      ] as const) {
        const token = sign({ [missing]: undefined })
        const res = await client.request('GET', '/protected', {
          headers: { cookie: `access_token_cookie=${token}` },
        })
        expect([missing, res.status, res.body]).toEqual([missing, 422, { msg }])
      }
    })
  })
}
