// Every token error code with its status, body and WWW-Authenticate header; the error options
// (formatters, keys, status, realm, respond: false) and the flask-jwt-extended preset.
import { describe, expect, it } from 'vitest'
import type { Tessera, TesseraErrorCode, TesseraOptions } from '../../packages/tessera/src/index.js'
import { accessClaims, forge, SECRET } from '../helpers/forge.js'
import { bearer, INVALID_TOKEN, type SuiteContext } from './shared-suite.js'

const H = { alg: 'HS256', typ: 'at+jwt' }
const sign = (header: object, payload: object): string => forge(header, payload, { hmacSecret: SECRET })
const now = (): number => Math.floor(Date.now() / 1000)

interface Case {
  code: TesseraErrorCode
  token: (auth: Tessera) => Promise<string> | string
  path?: string
  auth?: Omit<TesseraOptions, 'secret' | 'keys'>
}

/** One way to provoke each error the core raises while verifying. */
const TOKEN_ERRORS: Case[] = [
  { code: 'token_malformed', token: () => 'not-a-jwt' },
  {
    code: 'token_algorithm_rejected',
    token: () => forge({ ...H, alg: 'HS512' }, accessClaims(), { hmacSecret: SECRET, hash: 'sha512' }),
  },
  {
    code: 'token_header_rejected',
    token: () => sign({ ...H, jku: 'https://attacker.example/jwks' }, accessClaims()),
  },
  { code: 'token_unknown_key', token: () => sign({ ...H, kid: 'retired-long-ago' }, accessClaims()) },
  {
    code: 'token_invalid_signature',
    token: () => forge(H, accessClaims(), { hmacSecret: `${SECRET}-but-not-the-same` }),
  },
  {
    code: 'token_expired',
    token: () => sign(H, accessClaims({ iat: now() - 900, nbf: now() - 900, exp: now() - 60 })),
  },
  { code: 'token_not_yet_valid', token: () => sign(H, accessClaims({ nbf: now() + 600 })) },
  { code: 'token_claim_missing', token: () => sign(H, accessClaims({ jti: undefined })) },
  { code: 'token_claim_invalid', token: () => sign(H, accessClaims({ exp: 'tomorrow' })) },
  { code: 'token_wrong_type', token: (auth) => auth.createRefreshToken('alice') },
  { code: 'token_wrong_audience', token: () => sign(H, accessClaims({ aud: 'another-api' })) },
  {
    code: 'token_wrong_issuer',
    token: () => sign(H, accessClaims({ iss: 'someone-else' })),
    auth: { issuer: 'tessera' },
  },
  {
    code: 'token_revoked',
    token: async (auth) => {
      const token = await auth.createAccessToken('alice')
      await auth.revokeToken((await auth.verify(token)).claims)
      return token
    },
  },
  { code: 'fresh_token_required', token: (auth) => auth.createAccessToken('alice'), path: '/fresh' },
]

async function refusal(ctx: SuiteContext, c: Case, options = {}) {
  const { client, auth } = await ctx.start(options, c.auth)
  return client.request('GET', c.path ?? '/protected', { headers: bearer(await c.token(auth)) })
}

export function errorSuite(ctx: SuiteContext): void {
  describe('token errors', () => {
    it.each(TOKEN_ERRORS.map((c) => [c.code, c] as const))(
      'answers %s with 401, its code and an invalid_token challenge',
      async (code, c) => {
        const res = await refusal(ctx, c)
        expect([res.status, res.body.error]).toEqual([401, code])
        expect(typeof res.body.message).toBe('string')
        expect(res.headers['www-authenticate']).toMatch(INVALID_TOKEN)
        expect(res.headers['content-type']).toMatch(/^application\/json/)
      },
    )

    // The type is checked first (claims.ts); the flask preset reorders (below).
    it('refuses an expired token of the other type as token_wrong_type, whatever its age', async () => {
      const { client } = await ctx.start()
      const old = { iat: now() - 900, nbf: now() - 900, exp: now() - 60 }
      const refresh = sign({ ...H, typ: 'refresh+jwt' }, accessClaims({ ...old, type: 'refresh' }))
      const res = await client.request('GET', '/protected', { headers: bearer(refresh) })
      expect([res.status, res.body.error]).toEqual([401, 'token_wrong_type'])
      const access = await client.request('POST', '/auth/refresh', {
        headers: bearer(sign(H, accessClaims(old))),
      })
      expect([access.status, access.body.error]).toEqual([401, 'token_wrong_type'])
    })
  })

  describe('error options', () => {
    const expired = TOKEN_ERRORS.find((c) => c.code === 'token_expired')!
    const malformed = TOKEN_ERRORS[0]!

    it('lets a per-code formatter rewrite one answer and leaves the others alone', async () => {
      const options = {
        errors: {
          formatters: {
            token_expired: (
              error: { claims: { exp: number } },
              response: { headers: Record<string, string> },
            ) => ({
              status: 419,
              body: { expired_at: error.claims.exp },
              headers: { ...response.headers, 'x-reason': 'expired' },
            }),
          },
        },
      }
      const res = await refusal(ctx, expired, options)
      expect(res.status).toBe(419)
      expect(typeof res.body.expired_at).toBe('number')
      expect(res.headers['x-reason']).toBe('expired')
      expect((await refusal(ctx, malformed, options)).body.error).toBe('token_malformed')
    })

    it('applies the catch-all formatter to codes without their own', async () => {
      const res = await refusal(ctx, malformed, {
        errors: {
          format: (error: { code: string }) => ({ status: 400, body: { problem: error.code }, headers: {} }),
        },
      })
      expect([res.status, res.body.problem]).toEqual([400, 'token_malformed'])
    })

    it('renames the body keys, drops the code key, overrides statuses and adds a realm', async () => {
      const renamed = await refusal(ctx, malformed, { errors: { messageKey: 'detail', codeKey: 'code' } })
      expect(renamed.body.code).toBe('token_malformed')
      expect(typeof renamed.body.detail).toBe('string')
      expect(renamed.body.error).toBeUndefined()
      const noCode = await refusal(ctx, malformed, { errors: { codeKey: false } })
      expect(Object.keys(noCode.body)).toEqual(['message'])
      const status = await refusal(ctx, expired, { errors: { status: { token_expired: 440 } } })
      expect(status.status).toBe(440)
      const realm = await refusal(ctx, expired, { errors: { realm: 'api' } })
      expect(realm.headers['www-authenticate']).toMatch(/^Bearer realm="api", error="invalid_token"/)
    })

    it('hands errors to the framework with their status when respond is false', async () => {
      const { client } = await ctx.start({ errors: { respond: false } })
      const res = await client.request('GET', '/protected')
      expect(res.status).toBe(401)
      expect(res.body.error).not.toBe('token_missing')
    })

    it('hands errors to the framework with the configured status when respond is false', async () => {
      const statuses = { token_missing: 403, token_expired: 440, user_not_found: 404 }
      const { client } = await ctx.start({ errors: { respond: false, status: statuses } })
      expect((await client.request('GET', '/protected')).status).toBe(403)
      expect((await refusal(ctx, expired, { errors: { respond: false, status: statuses } })).status).toBe(440)
      // The asynchronous path (a user lookup) too.
      const lookup = await ctx.start({ errors: { respond: false, status: statuses }, userLookup: () => null })
      const token = await lookup.auth.createAccessToken('alice')
      expect((await lookup.client.request('GET', '/protected', { headers: bearer(token) })).status).toBe(404)
    })
  })

  describe('flask-jwt-extended preset', () => {
    const flask = { compat: 'flask-jwt-extended' as const }

    it('answers invalid tokens with 422 and a msg key', async () => {
      for (const c of TOKEN_ERRORS.filter(
        (t) => !['token_expired', 'token_revoked', 'fresh_token_required'].includes(t.code),
      )) {
        const res = await refusal(ctx, c, flask)
        expect([c.code, res.status]).toEqual([c.code, 422])
        expect(typeof res.body.msg).toBe('string')
        expect(res.body.error).toBeUndefined()
        expect(res.headers['www-authenticate']).toBeUndefined()
      }
    })

    it("keeps 401 for missing, expired, revoked and stale tokens, with flask's messages", async () => {
      const { client } = await ctx.start(flask)
      const missing = await client.request('GET', '/protected')
      expect([missing.status, typeof missing.body.msg, missing.headers['www-authenticate']]).toEqual([
        401,
        'string',
        'Bearer',
      ])
      const expired = await refusal(
        ctx,
        TOKEN_ERRORS.find((c) => c.code === 'token_expired')!,
        flask,
      )
      expect([expired.status, expired.body.msg]).toEqual([401, 'Token has expired'])
      for (const code of ['token_revoked', 'fresh_token_required'] as const) {
        const res = await refusal(
          ctx,
          TOKEN_ERRORS.find((c) => c.code === code)!,
          flask,
        )
        expect([code, res.status, typeof res.body.msg]).toEqual([code, 401, 'string'])
      }
    })

    it("gives a token of the other type and a failed user lookup flask's own texts", async () => {
      const { client, auth } = await ctx.start({
        ...flask,
        userLookup: ({ identity }) => (identity === 'ghost' ? null : { identity }),
      })
      const refreshAsAccess = await client.request('GET', '/protected', {
        headers: bearer(await auth.createRefreshToken('alice')),
      })
      expect([refreshAsAccess.status, refreshAsAccess.body]).toEqual([
        422,
        { msg: 'Only non-refresh tokens are allowed' },
      ])
      const accessAsRefresh = await client.request('POST', '/auth/refresh', {
        headers: bearer(await auth.createAccessToken('alice')),
      })
      expect([accessAsRefresh.status, accessAsRefresh.body]).toEqual([
        422,
        { msg: 'Only refresh tokens are allowed' },
      ])
      // The claim right, the header typ a plain JWT's (flask-jwt-extended's own tokens): Tessera's text.
      const plainTyp = await client.request('GET', '/protected', {
        headers: bearer(sign({ ...H, typ: 'JWT' }, accessClaims())),
      })
      expect([plainTyp.status, plainTyp.body.msg]).toEqual([
        422,
        expect.stringMatching(/header "typ" is not "at\+jwt"/),
      ])
      const ghost = await client.request('GET', '/protected', {
        headers: bearer(await auth.createAccessToken('ghost')),
      })
      expect([ghost.status, ghost.body]).toEqual([401, { msg: 'Error loading the user ghost' }])
    })

    // flask-jwt-extended's _decode_jwt_from_config: PyJWT raises ExpiredSignatureError while decoding,
    // before view_decorators.py calls verify_token_type.
    it('answers an expired token of the other type as expired, as flask checks exp before the type', async () => {
      const { client } = await ctx.start(flask)
      const old = { iat: now() - 900, nbf: now() - 900, exp: now() - 60 }
      const refresh = sign({ ...H, typ: 'refresh+jwt' }, accessClaims({ ...old, type: 'refresh' }))
      const access = sign(H, accessClaims(old))
      for (const [method, path, token] of [
        ['GET', '/protected', refresh],
        ['POST', '/auth/refresh', access],
        ['GET', '/verify', refresh],
      ] as const) {
        const res = await client.request(method, path, { headers: bearer(token) })
        expect([path, res.status, res.body]).toEqual([path, 401, { msg: 'Token has expired' }])
      }
      // Other refusals PyJWT makes while decoding come first too; a live token keeps flask's type text.
      const elsewhere = sign(
        { ...H, typ: 'refresh+jwt' },
        accessClaims({ type: 'refresh', aud: 'another-api' }),
      )
      const audience = await client.request('GET', '/protected', { headers: bearer(elsewhere) })
      expect([audience.status, audience.body.msg]).toEqual([422, expect.stringMatching(/audience/)])
      const live = sign({ ...H, typ: 'refresh+jwt' }, accessClaims({ type: 'refresh' }))
      expect((await client.request('GET', '/protected', { headers: bearer(live) })).body).toEqual({
        msg: 'Only non-refresh tokens are allowed',
      })
    })

    it('answers a refused claims check with 400, and lets explicit statuses win over the preset', async () => {
      const { client, auth } = await ctx.start({ ...flask, verifyClaims: () => false })
      const res = await client.request('GET', '/protected', {
        headers: bearer(await auth.createAccessToken('alice')),
      })
      expect([res.status, typeof res.body.msg]).toEqual([400, 'string'])
      const custom = await refusal(ctx, TOKEN_ERRORS[0]!, {
        ...flask,
        errors: { status: { token_malformed: 401 } },
      })
      expect(custom.status).toBe(401)
      expect(custom.headers['www-authenticate']).toMatch(INVALID_TOKEN)
    })
  })
}
