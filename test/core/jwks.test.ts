// importJwks and the verify-only engine: a resource server verifies the issuer's tokens with its JWKS
// alone, refuses every key that is not a public signature key (naming it), and refuses to sign.
import { generateKeyPairSync, type JsonWebKey } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  ConfigurationError,
  createKeyRing,
  createTessera,
  generateKey,
  importJwks,
  importKey,
  type Jwks,
  type PublicJwk,
} from '../../packages/tessera/src/index.js'
import { SECRET } from '../helpers/forge.js'

const issuer = createTessera({
  keys: [await generateKey('EdDSA', { kid: 'current' }), await generateKey('ES256', { kid: 'previous' })],
  issuer: 'https://auth.example.com',
  audience: 'orders-api',
})
const published: Jwks = issuer.jwks()

const rsaPair = generateKeyPairSync('rsa', { modulusLength: 2048 })
const rsaJwk = (): JsonWebKey => ({
  ...rsaPair.publicKey.export({ format: 'jwk' }),
  kid: 'rsa-1',
  alg: 'RS256',
  use: 'sig',
})
const edJwk = (): PublicJwk => ({ ...(published.keys[0] as PublicJwk) })

/** The ConfigurationError `run` throws. */
function thrown(run: () => unknown): ConfigurationError {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError)
    return error as ConfigurationError
  }
  throw new Error('nothing was thrown')
}

/** The ConfigurationError `importJwks` throws for a one-key set holding `jwk`. */
const refusal = (jwk: unknown): ConfigurationError => thrown(() => importJwks({ keys: [jwk] }))

describe('importJwks', () => {
  it("imports the issuer's own Jwks (no cast) as verification-only keys", () => {
    const keys = importJwks(published)
    expect(keys.map((k) => [k.kid, k.alg, k.canSign])).toEqual([
      ['current', 'EdDSA', false],
      ['previous', 'ES256', false],
    ])
  })

  it('accepts a PublicJwk as KeyInput.publicKey, and parsed JSON with extra members', () => {
    const key = importKey({ alg: 'EdDSA', publicKey: edJwk() })
    expect(key.kid).toBe('current')
    const parsed: unknown = JSON.parse(JSON.stringify({ keys: [{ ...rsaJwk(), x5t: 'ignored' }] }))
    expect(importJwks(parsed).map((k) => k.alg)).toEqual(['RS256'])
  })

  it('gives an EC or OKP key without alg the algorithm of its curve', () => {
    expect(importJwks({ keys: [{ ...edJwk(), alg: undefined }] })[0]?.alg).toBe('EdDSA')
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ format: 'jwk' })
    expect(importJwks({ keys: [{ ...p384, kid: 'p384' }] })[0]?.alg).toBe('ES384')
  })

  const privateJwk = rsaPair.privateKey.export({ format: 'jwk' })
  const refused: [string, () => unknown, RegExp][] = [
    ...(['d', 'p', 'q', 'dp', 'dq', 'qi'] as const).map((member): [string, () => unknown, RegExp] => [
      `a private RSA member "${member}"`,
      () => ({ ...rsaJwk(), [member]: privateJwk[member] }),
      new RegExp(`key "rsa-1": carries the private member "${member}"`),
    ]),
    ['an EdDSA private key (d)', () => ({ ...edJwk(), d: 'AAAA' }), /key "current": carries the private/],
    [
      'a symmetric secret (kty oct, k)',
      () => ({ kty: 'oct', kid: 'hs', alg: 'HS256', k: Buffer.from(SECRET).toString('base64url') }),
      /key "hs": is a symmetric secret/,
    ],
    ['an unknown kty', () => ({ ...edJwk(), kty: 'XYZ' }), /key "current": unsupported kty "XYZ"/],
    ['an X25519 (ECDH) curve', () => ({ ...edJwk(), crv: 'X25519' }), /key "current": unsupported curve/],
    ['an unknown EC curve', () => ({ kty: 'EC', kid: 'k1', crv: 'secp256k1', x: 'AA', y: 'AA' }), /key "k1"/],
    ['alg none', () => ({ ...edJwk(), alg: 'none' }), /key "current": algorithm "none" is not allowed/],
    ['an HMAC alg', () => ({ ...rsaJwk(), alg: 'HS256' }), /key "rsa-1": algorithm "HS256" is not allowed/],
    ['an alg that does not fit the key', () => ({ ...edJwk(), alg: 'ES256' }), /key "current": ES256 needs/],
    ['use "enc"', () => ({ ...rsaJwk(), use: 'enc' }), /key "rsa-1": "use" is "enc"/],
    ['key_ops without verify', () => ({ ...edJwk(), key_ops: ['encrypt'] }), /key "current": "key_ops"/],
    ['an RSA key without alg', () => ({ ...rsaJwk(), alg: undefined }), /key "rsa-1": has no "alg"/],
    [
      'an RSA key under 2048 bits',
      () => ({
        ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }),
        kid: 'small',
        alg: 'RS256',
      }),
      /key "small": RSA keys must be at least 2048 bits/,
    ],
    ['an empty kid', () => ({ ...edJwk(), kid: '' }), /"kid" must be a non-empty string/],
    ['a key that is not an object', () => 'ed25519', /expected a JWK object/],
  ]
  it.each(refused)('refuses %s, naming the key', (_name, jwk, message) => {
    const error = refusal(jwk())
    expect(error.option).toBe('jwks.keys[0]')
    expect(error.message).toMatch(message)
  })

  it('refuses a duplicate kid, an empty set and a document that is not a JWKS', () => {
    const duplicate = thrown(() => importJwks({ keys: [edJwk(), edJwk()] }))
    expect([duplicate.option, duplicate.message]).toEqual([
      'jwks.keys[1]',
      'jwks.keys[1]: duplicate kid "current"',
    ])
    expect(() => importJwks({ keys: [] })).toThrow(expect.objectContaining({ option: 'jwks.keys' }))
    for (const document of [null, [], 'jwks', { keys: {} }]) {
      expect(() => importJwks(document)).toThrow(ConfigurationError)
    }
  })

  it('honours an algorithms allow-list and refuses a list naming an HMAC algorithm', () => {
    const outside = thrown(() => importJwks(published, { algorithms: ['EdDSA'] }))
    expect(outside.option).toBe('jwks.keys[1]')
    expect(outside.message).toMatch(/key "previous": algorithm "ES256" is not allowed/)
    expect(() => importJwks(published, { algorithms: ['HS256'] })).toThrow(
      expect.objectContaining({ option: 'algorithms' }),
    )
  })

  it('never echoes key material in a refusal', () => {
    const jwk = { ...rsaJwk(), d: privateJwk.d }
    expect(refusal(jwk).message).not.toContain(String(privateJwk.d).slice(0, 16))
  })
})

describe('a verify-only engine', () => {
  const resource = createTessera({
    keys: importJwks(published),
    issuer: 'https://auth.example.com',
    audience: 'orders-api',
  })

  it("verifies the issuer's tokens, from every published key", async () => {
    const token = await issuer.createAccessToken('alice', { claims: { roles: ['admin'] } })
    const { identity, claims } = await resource.verify(token)
    expect([identity, claims.roles]).toEqual(['alice', ['admin']])
    const older = createTessera({
      keys: createKeyRing(
        issuer.keys.entries().map((e) => e.key),
        { active: 'previous' },
      ),
    })
    const byPrevious = await older.createAccessToken('bob', {
      audience: 'orders-api',
      issuer: 'https://auth.example.com',
    })
    expect((await resource.verify(byPrevious)).identity).toBe('bob')
    expect(resource.verifyInline(token)).not.toBeInstanceOf(Promise)
  })

  it('still pins issuer and audience', async () => {
    const other = await issuer.createAccessToken('alice', { audience: 'billing-api' })
    await expect(resource.verify(other)).rejects.toMatchObject({ code: 'token_wrong_audience' })
  })

  it('is built from public keys alone, and refuses to sign at the call that tries', async () => {
    await expect(resource.createAccessToken('alice')).rejects.toMatchObject({
      code: 'configuration_error',
      option: 'keys',
    })
    await expect(resource.createAccessToken('alice')).rejects.toThrow(/only verifies/)
    await expect(resource.createRefreshToken('alice')).rejects.toBeInstanceOf(ConfigurationError)
    const pem = createTessera({ keys: { alg: 'EdDSA', publicKey: generateKeyPairSync('ed25519').publicKey } })
    await expect(pem.createAccessToken('alice')).rejects.toMatchObject({ option: 'keys' })
  })

  it('still refuses a ring whose first key is public while another could sign', async () => {
    const signer = await generateKey('EdDSA')
    const error = thrown(() => createTessera({ keys: [importJwks(published)[0]!, signer] }))
    expect(error.option).toBe('keys')
    expect(error.message).toMatch(/cannot sign/)
  })
})
