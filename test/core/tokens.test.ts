import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  ConfigurationError,
  createTessera,
  decodeUnverified,
  generateKey,
  TOKEN_TYP,
} from '../../packages/tessera/src/index.js'
import { SECRET } from '../helpers/forge.js'

afterEach(() => {
  vi.useRealTimers()
})

describe('token creation', () => {
  it('writes sub, iat, nbf, exp, jti, type and fresh, and a header with kid and typ at+jwt', async () => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') })
    const auth = createTessera({ secret: SECRET })
    const { header, payload } = decodeUnverified(await auth.createAccessToken('alice'))
    const now = Date.parse('2026-01-01T00:00:00Z') / 1000
    expect(header).toEqual({ alg: 'HS256', kid: auth.keys.active.kid, typ: 'at+jwt' })
    expect(payload).toEqual({
      sub: 'alice',
      iat: now,
      nbf: now,
      exp: now + 900,
      jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/) as unknown,
      type: 'access',
      fresh: false,
    })
  })

  it('gives refresh tokens their own typ, the refresh lifetime and never freshness', async () => {
    const auth = createTessera({ secret: SECRET, refreshTokenTtl: '7d' })
    const { header, payload } = decodeUnverified(await auth.createRefreshToken('alice', { fresh: true }))
    expect(header.typ).toBe(TOKEN_TYP.refresh)
    expect(TOKEN_TYP.refresh).not.toBe(TOKEN_TYP.access)
    expect(payload.type).toBe('refresh')
    expect(payload.fresh).toBe(false)
    expect((payload.exp as number) - (payload.iat as number)).toBe(7 * 86_400)
  })

  it('makes a new jti for every token', async () => {
    const auth = createTessera({ secret: SECRET })
    const ids = new Set<unknown>()
    for (let i = 0; i < 50; i++) ids.add(decodeUnverified(await auth.createAccessToken('alice')).payload.jti)
    expect(ids.size).toBe(50)
  })

  it('honours per-call lifetime, freshness deadline, sid, csrf, audience, issuer, jti, claims and headers', async () => {
    const auth = createTessera({ secret: SECRET })
    const token = await auth.createAccessToken('alice', {
      expiresIn: '5m',
      fresh: '10m',
      sid: 'session-1',
      csrf: true,
      audience: ['api', 'web'],
      issuer: 'https://auth.example',
      jti: 'chosen-id',
      claims: { roles: ['admin'] },
      headers: { cty: 'example' },
    })
    const { header, payload } = decodeUnverified(token)
    const iat = payload.iat as number
    expect(payload.exp).toBe(iat + 300)
    expect(payload.fresh).toBe(iat + 600)
    expect(payload).toMatchObject({
      sid: 'session-1',
      aud: ['api', 'web'],
      iss: 'https://auth.example',
      jti: 'chosen-id',
      roles: ['admin'],
    })
    expect(payload.csrf).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(header).toMatchObject({ cty: 'example', typ: 'at+jwt', alg: 'HS256' })
  })

  it('writes the configured audience and the first configured issuer; nbf can be left out', async () => {
    const auth = createTessera({
      secret: SECRET,
      audience: 'api',
      issuer: ['https://a', 'https://b'],
      writeNbf: false,
    })
    const { payload } = decodeUnverified(await auth.createAccessToken('alice'))
    expect(payload.aud).toBe('api')
    expect(payload.iss).toBe('https://a')
    expect(payload.nbf).toBeUndefined()
  })

  it('turns numbers into string identities and objects through identityFrom', async () => {
    const plain = createTessera({ secret: SECRET })
    expect(decodeUnverified(await plain.createAccessToken(42)).payload.sub).toBe('42')
    await expect(plain.createAccessToken({ id: 7 })).rejects.toMatchObject({
      code: 'configuration_error',
      option: 'identity',
    })
    await expect(plain.createAccessToken('')).rejects.toBeInstanceOf(ConfigurationError)
    const withLoader = createTessera({
      secret: SECRET,
      identityFrom: (user) => `user-${(user as { id: number }).id}`,
    })
    expect(decodeUnverified(await withLoader.createAccessToken({ id: 7 })).payload.sub).toBe('user-7')
  })

  it('adds claims and headers from the hooks, with the token type in the context', async () => {
    const auth = createTessera({
      secret: SECRET,
      additionalClaims: (identity, { type }) => ({ roles: identity === 'root' ? ['admin'] : [], kind: type }),
      additionalHeaders: async () => Promise.resolve({ 'x-tenant': 'acme' }),
    })
    const access = decodeUnverified(await auth.createAccessToken('root'))
    expect(access.payload).toMatchObject({ roles: ['admin'], kind: 'access' })
    expect(access.header['x-tenant']).toBe('acme')
    expect(decodeUnverified(await auth.createRefreshToken('root')).payload.kind).toBe('refresh')
  })

  it.each(['exp', 'iat', 'nbf', 'jti', 'type', 'fresh', 'sub', 'aud', 'iss', 'csrf', 'sid'])(
    'refuses to let claims override the reserved claim %s',
    async (claim) => {
      const auth = createTessera({ secret: SECRET })
      await expect(auth.createAccessToken('alice', { claims: { [claim]: 'x' } })).rejects.toMatchObject({
        code: 'configuration_error',
        option: `claims.${claim}`,
      })
    },
  )

  it.each(['alg', 'kid', 'typ', 'crit', 'jwk', 'jku', 'x5u', 'x5c', 'b64'])(
    'refuses to let headers set %s',
    async (name) => {
      const auth = createTessera({ secret: SECRET })
      await expect(auth.createAccessToken('alice', { headers: { [name]: 'x' } })).rejects.toMatchObject({
        option: `headers.${name}`,
      })
    },
  )

  it('signs with the active key after a rotation', async () => {
    const auth = createTessera({ keys: await generateKey('EdDSA') })
    const before = decodeUnverified(await auth.createAccessToken('alice')).header.kid
    const next = await auth.keys.rotate()
    const after = decodeUnverified(await auth.createAccessToken('alice')).header.kid
    expect(after).toBe(next.kid)
    expect(after).not.toBe(before)
  })
})
