// Interoperability with jose, the oracle: tokens Tessera makes verify with jose, and tokens jose makes verify
// with Tessera, for every algorithm, with keys handed over the way deployments do (JWKS, PEM, JWK).
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  importJWK,
  importSPKI,
  jwtVerify,
  SignJWT,
  type CryptoKey,
  type JWK,
} from 'jose'
import { describe, expect, it } from 'vitest'
import {
  createKeyRing,
  createTessera,
  exportKey,
  generateKey,
  SUPPORTED_ALGORITHMS,
  type Algorithm,
  type TesseraKey,
} from '../../packages/tessera/src/index.js'

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth', 'r', 't'] as const
const PUBLIC_JWK_MEMBERS = new Set(['kty', 'kid', 'alg', 'use', 'n', 'e', 'crv', 'x', 'y'])

const isHmac = (alg: Algorithm): boolean => alg.startsWith('HS')

// Key generation (RSA especially) is the slow part: one key per algorithm, plus one stranger for the
// negative cases.
const keyCache = new Map<string, Promise<TesseraKey>>()
function keyFor(alg: Algorithm, role: 'main' | 'stranger' = 'main'): Promise<TesseraKey> {
  const cacheKey = `${alg}/${role}`
  let key = keyCache.get(cacheKey)
  if (key === undefined) {
    key = generateKey(alg)
    keyCache.set(cacheKey, key)
  }
  return key
}

/** The key jose signs with: the private (or secret) JWK exported by Tessera. */
async function joseSigningKey(key: TesseraKey): Promise<CryptoKey | Uint8Array> {
  return importJWK(exportKey(key, { includePrivate: true }).jwk as JWK, key.alg)
}

/** The key jose verifies with, exported the way a deployment would publish it. */
async function joseVerificationKeys(key: TesseraKey): Promise<(CryptoKey | Uint8Array)[]> {
  if (isHmac(key.alg)) return [await joseSigningKey(key)]
  const exported = exportKey(key)
  return [await importSPKI(exported.pem!, key.alg), await importJWK(exported.jwk as JWK, key.alg)]
}

function joseToken(key: TesseraKey, signWith: CryptoKey | Uint8Array, claims: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ type: 'access', fresh: false, ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
    .setSubject('alice')
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .setJti('jose-token-1')
    .sign(signWith)
}

describe.each(SUPPORTED_ALGORITHMS)('%s', (alg) => {
  it('makes access tokens that jose verifies through the JWKS or the exported key', async () => {
    const key = await keyFor(alg)
    const auth = createTessera({ keys: key })
    const token = await auth.createAccessToken('alice', { claims: { roles: ['admin'] } })

    const verifiers: Parameters<typeof jwtVerify>[1][] = await joseVerificationKeys(key)
    if (!isHmac(alg)) verifiers.push(createLocalJWKSet(auth.jwks()))
    for (const verifier of verifiers) {
      const { payload, protectedHeader } = await jwtVerify(token, verifier, {
        algorithms: [alg],
        typ: 'at+jwt',
      })
      expect(protectedHeader).toEqual({ alg, kid: key.kid, typ: 'at+jwt' })
      expect(payload).toMatchObject({ sub: 'alice', type: 'access', fresh: false, roles: ['admin'] })
      expect(typeof payload.jti).toBe('string')
      expect(payload.exp! - payload.iat!).toBe(900)
    }
  })

  it('makes refresh tokens that jose verifies with typ refresh+jwt', async () => {
    const key = await keyFor(alg)
    const auth = createTessera({ keys: key })
    const token = await auth.createRefreshToken('alice')
    const [verifier] = await joseVerificationKeys(key)
    const { payload, protectedHeader } = await jwtVerify(token, verifier!, { algorithms: [alg] })
    expect(protectedHeader.typ).toBe('refresh+jwt')
    expect(payload).toMatchObject({ sub: 'alice', type: 'refresh' })
  })

  it('verifies access tokens that jose signed with the same key', async () => {
    const key = await keyFor(alg)
    const auth = createTessera({ keys: key })
    const token = await joseToken(key, await joseSigningKey(key), { roles: ['reader'] })
    expect(decodeProtectedHeader(token)).toEqual({ alg, kid: key.kid, typ: 'at+jwt' })

    const result = await auth.verify(token)
    expect(result.identity).toBe('alice')
    expect(result.header).toEqual({ alg, kid: key.kid, typ: 'at+jwt' })
    expect(result.claims).toMatchObject({ sub: 'alice', type: 'access', fresh: false, jti: 'jose-token-1' })
    expect(result.claims.roles).toEqual(['reader'])
    expect(auth.verifyInline(token)).toEqual(result)
  })

  it('refuses a jose-signed token whose signature comes from another key under the same kid', async () => {
    const key = await keyFor(alg)
    const stranger = await keyFor(alg, 'stranger')
    const auth = createTessera({ keys: key })
    const token = await joseToken(key, await joseSigningKey(stranger))
    await expect(auth.verify(token)).rejects.toMatchObject({ code: 'token_invalid_signature' })
  })

  it('refuses a Tessera token in jose once a single signature bit is flipped', async () => {
    const key = await keyFor(alg)
    const auth = createTessera({ keys: key })
    const token = await auth.createAccessToken('alice')
    const [input, signature] = [
      token.slice(0, token.lastIndexOf('.')),
      token.slice(token.lastIndexOf('.') + 1),
    ]
    const bytes = Buffer.from(signature, 'base64url')
    bytes[0] = bytes[0]! ^ 1
    const [verifier] = await joseVerificationKeys(key)
    await expect(jwtVerify(`${input}.${bytes.toString('base64url')}`, verifier!)).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    })
  })

  it('publishes a JWKS with no private member, and nothing at all for an HMAC secret', async () => {
    const key = await keyFor(alg)
    const auth = createTessera({ keys: key })
    const { keys } = auth.jwks()
    if (isHmac(alg)) {
      expect(keys).toEqual([])
      return
    }
    expect(keys).toHaveLength(1)
    const [jwk] = keys as unknown as Record<string, unknown>[]
    for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member)
    for (const member of Object.keys(jwk!)) expect(PUBLIC_JWK_MEMBERS).toContain(member)
    expect(jwk).toMatchObject({ kid: key.kid, alg, use: 'sig' })
    const secretValues = Object.entries(exportKey(key, { includePrivate: true }).jwk)
      .filter(([member]) => (PRIVATE_MEMBERS as readonly string[]).includes(member))
      .map(([, value]) => String(value))
    expect(secretValues.length).toBeGreaterThan(0)
    for (const value of secretValues) expect(JSON.stringify(auth.jwks())).not.toContain(value)
  })
})

describe('a key ring mixing algorithms', () => {
  it('publishes every asymmetric key and no HMAC key, and jose verifies tokens of each through it', async () => {
    const keys = await Promise.all((['EdDSA', 'HS256', 'RS256', 'ES384'] as const).map((alg) => keyFor(alg)))
    const ring = createKeyRing(keys)
    const auth = createTessera({ keys: ring })
    const published = auth.jwks().keys
    expect(published.map((jwk) => jwk.kid).sort()).toEqual(
      keys
        .filter((key) => !isHmac(key.alg))
        .map((key) => key.kid)
        .sort(),
    )
    for (const jwk of published) for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member)

    const jwks = createLocalJWKSet(auth.jwks())
    for (const key of keys.filter((k) => !isHmac(k.alg))) {
      await ring.rotate(key)
      const token = await auth.createAccessToken('alice')
      const { protectedHeader } = await jwtVerify(token, jwks, { typ: 'at+jwt' })
      expect(protectedHeader).toMatchObject({ alg: key.alg, kid: key.kid })
    }
  })
})
