// auth.verify(token, { allowExpired: true }): flask-jwt-extended's decode_token(token, allow_expired=True).
// Only `exp` is waived; every other check stands (tests/test_decode_tokens.py::test_allow_expired_token).
import { describe, expect, it } from 'vitest'
import { createTessera, generateKey } from '../../packages/tessera/src/index.js'
import { accessClaims, b64, forge, SECRET } from '../helpers/forge.js'

const auth = createTessera({ secret: SECRET })
const now = (): number => Math.floor(Date.now() / 1000)
const expiredClaims = (overrides: Record<string, unknown> = {}) =>
  accessClaims({ iat: now() - 600, nbf: now() - 600, exp: now() - 300, ...overrides })
const signed = (header: Record<string, unknown>, claims: Record<string, unknown>): string =>
  forge(header, claims, { hmacSecret: SECRET })

describe('allowExpired', () => {
  // test_decode_tokens.py::test_allow_expired_token: access and refresh tokens expired five minutes ago
  it('reads an expired access or refresh token, and refuses it without the option', async () => {
    const access = signed({ alg: 'HS256', typ: 'at+jwt' }, expiredClaims())
    const refresh = signed({ alg: 'HS256', typ: 'refresh+jwt' }, expiredClaims({ type: 'refresh' }))
    const a = await auth.verify(access, { allowExpired: true })
    expect([a.identity, a.claims.exp < now()]).toEqual(['alice', true])
    const r = await auth.verify(refresh, { type: 'refresh', allowExpired: true })
    expect(r.claims.type).toBe('refresh')
    await expect(auth.verify(access)).rejects.toMatchObject({ code: 'token_expired' })
    await expect(auth.verify(access, { allowExpired: false })).rejects.toMatchObject({
      code: 'token_expired',
    })
  })

  it('reads a token the engine issued once it has expired', async () => {
    const token = await auth.createAccessToken('bob', { expiresIn: 1 })
    const later = Date.now() + 5000
    const realNow = Date.now
    Date.now = () => later
    try {
      await expect(auth.verify(token)).rejects.toMatchObject({ code: 'token_expired' })
      expect((await auth.verify(token, { allowExpired: true })).identity).toBe('bob')
    } finally {
      Date.now = realNow
    }
  })

  it('still refuses a bad signature, alg none and an algorithm other than the key’s', async () => {
    const good = signed({ alg: 'HS256', typ: 'at+jwt' }, expiredClaims())
    const [h, p] = good.split('.')
    await expect(auth.verify(`${h}.${p}.${'A'.repeat(43)}`, { allowExpired: true })).rejects.toMatchObject({
      code: 'token_invalid_signature',
    })
    const none = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(expiredClaims())}.`
    await expect(auth.verify(none, { allowExpired: true })).rejects.toMatchObject({
      code: 'token_algorithm_rejected',
    })
    const hs512 = forge({ alg: 'HS512', typ: 'at+jwt' }, expiredClaims(), {
      hmacSecret: SECRET,
      hash: 'sha512',
    })
    await expect(auth.verify(hs512, { allowExpired: true })).rejects.toMatchObject({
      code: 'token_algorithm_rejected',
    })
    const other = createTessera({ keys: await generateKey('EdDSA') })
    const foreign = await other.createAccessToken('alice')
    await expect(auth.verify(foreign, { allowExpired: true })).rejects.toMatchObject({
      code: expect.stringMatching(/^token_(unknown_key|algorithm_rejected|invalid_signature)$/) as string,
    })
  })

  it('still checks the type, nbf, audience and issuer', async () => {
    const refresh = signed({ alg: 'HS256', typ: 'refresh+jwt' }, expiredClaims({ type: 'refresh' }))
    await expect(auth.verify(refresh, { allowExpired: true })).rejects.toMatchObject({
      code: 'token_wrong_type',
    })
    const confused = signed({ alg: 'HS256', typ: 'refresh+jwt' }, expiredClaims())
    await expect(auth.verify(confused, { allowExpired: true })).rejects.toMatchObject({
      code: 'token_wrong_type',
    })
    const future = signed({ alg: 'HS256', typ: 'at+jwt' }, expiredClaims({ nbf: now() + 600 }))
    await expect(auth.verify(future, { allowExpired: true })).rejects.toMatchObject({
      code: 'token_not_yet_valid',
    })
    const aud = signed({ alg: 'HS256', typ: 'at+jwt' }, expiredClaims({ aud: 'elsewhere' }))
    await expect(auth.verify(aud, { allowExpired: true })).rejects.toMatchObject({
      code: 'token_wrong_audience',
    })
    const issuing = createTessera({ secret: SECRET, issuer: 'https://auth.example.com' })
    const noIss = signed({ alg: 'HS256', typ: 'at+jwt' }, expiredClaims())
    await expect(issuing.verify(noIss, { allowExpired: true })).rejects.toMatchObject({
      code: 'token_claim_missing',
    })
  })

  it('still checks revocation while the store remembers it', async () => {
    const engine = createTessera({ secret: SECRET })
    const token = await engine.createAccessToken('carol', { sid: 's-1' })
    await engine.revokeSession('s-1')
    await expect(engine.verify(token, { allowExpired: true })).rejects.toMatchObject({
      code: 'token_revoked',
    })
  })

  it('refuses a non-boolean allowExpired', async () => {
    const token = await auth.createAccessToken('alice')
    await expect(auth.verify(token, { allowExpired: 'yes' as never })).rejects.toMatchObject({
      code: 'configuration_error',
      option: 'verify.allowExpired',
    })
  })
})
