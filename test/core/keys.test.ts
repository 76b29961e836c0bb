// importKey / generateKey / exportKey / thumbprint: every accepted key format, every configuration error
// (typed, naming the option, never echoing key material), and no secret leaking through serialisation.
import { execFileSync, spawnSync } from 'node:child_process'
import {
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  sign as cryptoSign,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inspect } from 'node:util'
import { calculateJwkThumbprint, type JWK } from 'jose'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import {
  ConfigurationError,
  exportKey,
  generateKey,
  importKey,
  isTesseraKey,
  SUPPORTED_ALGORITHMS,
  thumbprint,
  type Algorithm,
  type KeyInput,
  type TesseraKey,
} from '../../packages/tessera/src/index.js'

const INPUT = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9'
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'] as const

type Pair = { privateKey: KeyObject; publicKey: KeyObject }
const pairs = {
  rsa: (): Pair => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  p256: (): Pair => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }),
  p384: (): Pair => generateKeyPairSync('ec', { namedCurve: 'secp384r1' }),
  p521: (): Pair => generateKeyPairSync('ec', { namedCurve: 'secp521r1' }),
  ed25519: (): Pair => generateKeyPairSync('ed25519'),
}
const PAIR_FOR: Record<Exclude<Algorithm, `HS${string}`>, keyof typeof pairs> = {
  RS256: 'rsa',
  RS384: 'rsa',
  RS512: 'rsa',
  PS256: 'rsa',
  PS384: 'rsa',
  PS512: 'rsa',
  ES256: 'p256',
  ES384: 'p384',
  ES512: 'p521',
  EdDSA: 'ed25519',
}
const ASYMMETRIC = Object.keys(PAIR_FOR) as (keyof typeof PAIR_FOR)[]
const HMAC = [
  ['HS256', 32],
  ['HS384', 48],
  ['HS512', 64],
] as const

const pem = (key: KeyObject, type: 'pkcs8' | 'spki' | 'pkcs1' | 'sec1'): string =>
  key.export({ format: 'pem', type }).toString()
const jwkOf = (key: KeyObject): JsonWebKey => key.export({ format: 'jwk' })

/** The base64 lines of a PEM document: none of them may ever appear in an error message. */
const pemLines = (text: string): string[] =>
  text.split('\n').filter((line) => line.length >= 16 && !line.startsWith('-----'))

/** Runs `fn`, expecting a ConfigurationError naming `option` whose message and inspection carry none of `secrets`. */
function expectConfigurationError(
  fn: () => unknown,
  option: string,
  secrets: readonly string[] = [],
): ConfigurationError {
  let caught: unknown
  try {
    fn()
  } catch (error) {
    caught = error
  }
  expect(caught).toBeInstanceOf(ConfigurationError)
  const error = caught as ConfigurationError
  expect(error.code).toBe('configuration_error')
  expect(error.status).toBe(500)
  expect(error.option).toBe(option)
  const shown = `${error.message}\n${String(error)}\n${inspect(error, { depth: 5 })}`
  for (const secret of secrets) expect(shown).not.toContain(secret)
  return error
}

function expectRoundTrip(signer: TesseraKey, verifier: TesseraKey = signer): void {
  const signature = signer.sign(INPUT)
  expect(verifier.verify(INPUT, signature)).toBe(true)
  expect(verifier.verify(`${INPUT}x`, signature)).toBe(false)
}

const opensslAvailable = spawnSync('openssl', ['version']).status === 0

describe('importKey', () => {
  describe.each(ASYMMETRIC)('%s', (alg) => {
    const pair = pairs[PAIR_FOR[alg]]()

    it('imports a PKCS#8 PEM private key that signs and verifies', () => {
      const key = importKey({ alg, privateKey: pem(pair.privateKey, 'pkcs8') })
      expect(key.alg).toBe(alg)
      expect(key.canSign).toBe(true)
      expectRoundTrip(key)
    })

    it('imports an SPKI PEM public key that verifies but cannot sign', () => {
      const signer = importKey({ alg, privateKey: pair.privateKey })
      const verifier = importKey({ alg, publicKey: pem(pair.publicKey, 'spki') })
      expect(verifier.canSign).toBe(false)
      expect(verifier.kid).toBe(signer.kid)
      expectRoundTrip(signer, verifier)
      const error = expectConfigurationError(() => verifier.sign(INPUT), 'key')
      expect(error.code).toBe('configuration_error')
    })

    it('imports private and public JWKs', () => {
      const signer = importKey({ alg, privateKey: jwkOf(pair.privateKey) })
      const verifier = importKey({ alg, publicKey: jwkOf(pair.publicKey) })
      expect(verifier.publicJwk).toEqual(signer.publicJwk)
      expectRoundTrip(signer, verifier)
    })

    it('imports private and public KeyObjects, and a private KeyObject given as the public key', () => {
      const signer = importKey({ alg, privateKey: pair.privateKey })
      expectRoundTrip(signer, importKey({ alg, publicKey: pair.publicKey }))
      const fromPrivate = importKey({ alg, publicKey: pair.privateKey })
      expect(fromPrivate.canSign).toBe(false)
      expectRoundTrip(signer, fromPrivate)
    })

    it('accepts a matching public key next to the private key', () => {
      const key = importKey({ alg, privateKey: pair.privateKey, publicKey: pem(pair.publicKey, 'spki') })
      expectRoundTrip(key)
    })

    it('uses the RFC 7638 thumbprint of the public key as the default kid, and an explicit kid when given', () => {
      const key = importKey({ alg, privateKey: pair.privateKey })
      const jwk = jwkOf(pair.publicKey)
      expect(key.kid).toBe(thumbprint(jwk))
      expect(importKey({ alg, privateKey: pair.privateKey, kid: 'chosen' }).kid).toBe('chosen')
      expect(importKey({ alg, publicKey: { ...jwk, kid: 'from-jwk' } }).kid).toBe('from-jwk')
    })

    it('computes the same thumbprint as jose', async () => {
      const key = importKey({ alg, publicKey: pair.publicKey })
      expect(key.kid).toBe(await calculateJwkThumbprint(jwkOf(pair.publicKey) as JWK, 'sha256'))
    })

    it('exposes a public JWK with only public members', () => {
      const key = importKey({ alg, privateKey: pair.privateKey })
      const published = key.publicJwk as unknown as Record<string, unknown>
      for (const member of PRIVATE_MEMBERS) expect(published).not.toHaveProperty(member)
      expect(published).toMatchObject({ kid: key.kid, alg, use: 'sig' })
      expect(Object.isFrozen(key)).toBe(true)
      expect(Object.isFrozen(key.publicJwk)).toBe(true)
    })
  })

  it('imports PKCS#1 RSA and SEC1 EC private keys in PEM', () => {
    const rsa = pairs.rsa()
    expectRoundTrip(importKey({ alg: 'RS256', privateKey: pem(rsa.privateKey, 'pkcs1') }))
    const ec = pairs.p256()
    expectRoundTrip(importKey({ alg: 'ES256', privateKey: pem(ec.privateKey, 'sec1') }))
  })

  it.skipIf(!opensslAvailable)('imports the public key of an X.509 certificate made with openssl', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-x509-'))
    try {
      const keyPath = join(dir, 'key.pem')
      const certPath = join(dir, 'cert.pem')
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          keyPath,
          '-out',
          certPath,
          '-days',
          '1',
          '-subj',
          '/CN=tessera-test',
        ],
        { stdio: 'ignore' },
      )
      const certificate = readFileSync(certPath, 'utf8')
      expect(certificate).toContain('-----BEGIN CERTIFICATE-----')
      const signer = importKey({ alg: 'ES256', privateKey: readFileSync(keyPath, 'utf8') })
      const verifier = importKey({ alg: 'ES256', publicKey: certificate })
      expect(verifier.canSign).toBe(false)
      expect(verifier.kid).toBe(signer.kid)
      expectRoundTrip(signer, verifier)
      expect(
        importKey({ alg: 'ES256', privateKey: readFileSync(keyPath, 'utf8'), publicKey: certificate }).kid,
      ).toBe(signer.kid)
      // One file with the key and its certificate (HAProxy's and many tools' format), in either order:
      // a private key as before, not "this is a public key".
      const key = readFileSync(keyPath, 'utf8')
      for (const bundle of [key + certificate, certificate + key])
        expect(importKey({ alg: 'ES256', privateKey: bundle }).kid).toBe(signer.kid)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it.each(HMAC)('imports an %s secret given as a string, bytes or a secret KeyObject', (alg, size) => {
    const text = 'x'.repeat(size)
    const fromString = importKey({ alg, secret: text })
    const fromBytes = importKey({ alg, secret: Buffer.from(text) })
    const fromKeyObject = importKey({ alg, secret: createSecretKey(Buffer.from(text)) })
    const fromUint8Array = importKey({ alg, secret: new Uint8Array(Buffer.from(text)) })
    expect(fromString.canSign).toBe(true)
    expect(fromString.publicJwk).toBeUndefined()
    expect(fromBytes.kid).toBe(fromString.kid)
    expect(fromKeyObject.kid).toBe(fromString.kid)
    expect(fromUint8Array.kid).toBe(fromString.kid)
    expect(fromString.kid).toBe(thumbprint({ kty: 'oct', k: Buffer.from(text).toString('base64url') }))
    expectRoundTrip(fromString, fromKeyObject)
  })

  it('measures string secrets in UTF-8 bytes', () => {
    // 16 two-byte characters: 32 bytes, enough for HS256.
    expect(importKey({ alg: 'HS256', secret: 'é'.repeat(16) }).canSign).toBe(true)
    expectConfigurationError(() => importKey({ alg: 'HS256', secret: 'é'.repeat(15) + 'a' }), 'key.secret')
  })
})

describe('importKey configuration errors', () => {
  it('refuses an unknown algorithm, and "none"', () => {
    for (const alg of ['none', 'None', 'ES256K', 'HS1', 'RSA-OAEP', '', undefined]) {
      expectConfigurationError(
        () => importKey({ alg, secret: 'x'.repeat(64) } as unknown as KeyInput),
        'key.alg',
      )
    }
  })

  it('refuses a missing key', () => {
    expectConfigurationError(() => importKey({ alg: 'HS256' }), 'key.secret')
    for (const alg of ASYMMETRIC) expectConfigurationError(() => importKey({ alg }), 'key')
  })

  it('refuses a value that is not a key description with a ConfigurationError', () => {
    for (const value of ['HS256', 42, undefined]) {
      expectConfigurationError(() => importKey(value as unknown as KeyInput), 'key')
    }
  })

  it('refuses null with a ConfigurationError rather than a TypeError', () => {
    expectConfigurationError(() => importKey(null as unknown as KeyInput), 'key')
  })

  it.each(HMAC)('refuses an %s secret one byte shorter than the hash, without echoing it', (alg, size) => {
    const short = 'S3cr3t-'.padEnd(size - 1, 'q')
    expectConfigurationError(() => importKey({ alg, secret: short }), 'key.secret', [short])
    expectConfigurationError(() => importKey({ alg, secret: Buffer.alloc(size - 1, 7) }), 'key.secret')
    expectConfigurationError(() => importKey({ alg, secret: '' }), 'key.secret')
    expect(importKey({ alg, secret: 'S3cr3t-'.padEnd(size, 'q') }).canSign).toBe(true)
  })

  it('refuses an HMAC secret of the wrong type', () => {
    const { privateKey } = pairs.ed25519()
    expectConfigurationError(() => importKey({ alg: 'HS256', secret: privateKey }), 'key.secret')
    expectConfigurationError(
      () => importKey({ alg: 'HS256', secret: 42 } as unknown as KeyInput),
      'key.secret',
    )
  })

  it.each(HMAC)(
    'refuses a PEM or JWK document as an %s secret: a public key is no HMAC secret (CVE-2015-9235)',
    (alg) => {
      const { privateKey, publicKey } = pairs.rsa()
      const documents = [
        pem(publicKey, 'spki'),
        pem(privateKey, 'pkcs8'),
        pem(privateKey, 'pkcs1'),
        pem(pairs.p256().privateKey, 'sec1'),
        `\n  ${pem(publicKey, 'spki')}`,
        JSON.stringify(jwkOf(publicKey)),
        JSON.stringify({ ...jwkOf(pairs.ed25519().publicKey), kid: 'k1' }, null, 2),
      ]
      for (const document of documents) {
        for (const secret of [document, Buffer.from(document), createSecretKey(Buffer.from(document))]) {
          const error = expectConfigurationError(
            () => importKey({ alg, secret }),
            'key.secret',
            pemLines(document),
          )
          expect(error.message).toMatch(/not an HMAC secret: give it as keys: \{ alg: 'RS256'/)
        }
      }
      // An "oct" JWK's text is secret material (its k): not refused, nothing public can reproduce it.
      const oct = JSON.stringify({ kty: 'oct', k: randomBytes(64).toString('base64url') })
      expect(importKey({ alg, secret: oct }).alg).toBe(alg)
    },
  )

  it('refuses a private or public key for an HMAC algorithm', () => {
    const { privateKey, publicKey } = pairs.p256()
    expectConfigurationError(() => importKey({ alg: 'HS256', privateKey }), 'key')
    expectConfigurationError(() => importKey({ alg: 'HS256', publicKey }), 'key')
  })

  it('refuses a secret for an asymmetric algorithm, without echoing it', () => {
    const secret = 'an-hmac-secret-given-to-the-wrong-algorithm'
    expectConfigurationError(() => importKey({ alg: 'RS256', secret }), 'key.secret', [secret])
  })

  it('refuses an RSA key shorter than 2048 bits', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 })
    const privatePem = pem(small.privateKey, 'pkcs8')
    for (const alg of ['RS256', 'PS256', 'RS512'] as const) {
      expectConfigurationError(
        () => importKey({ alg, privateKey: privatePem }),
        'key.privateKey',
        pemLines(privatePem),
      )
      expectConfigurationError(() => importKey({ alg, publicKey: small.publicKey }), 'key.publicKey')
      expectConfigurationError(
        () => importKey({ alg, privateKey: jwkOf(small.privateKey) }),
        'key.privateKey',
        [jwkOf(small.privateKey).d!],
      )
    }
  })

  it('refuses an EC key on the wrong curve', () => {
    const p256 = pairs.p256()
    const jwk = jwkOf(p256.privateKey)
    expectConfigurationError(() => importKey({ alg: 'ES384', privateKey: jwk }), 'key.privateKey', [jwk.d!])
    expectConfigurationError(() => importKey({ alg: 'ES384', publicKey: p256.publicKey }), 'key.publicKey')
    expectConfigurationError(
      () => importKey({ alg: 'ES512', privateKey: pairs.p384().privateKey }),
      'key.privateKey',
    )
    expectConfigurationError(
      () => importKey({ alg: 'ES256', privateKey: pairs.p521().privateKey }),
      'key.privateKey',
    )
  })

  it('says a public key given as the private key is one (not OpenSSL’s "unsupported")', () => {
    const { publicKey } = pairs.rsa()
    for (const text of [pem(publicKey, 'spki'), pem(publicKey, 'pkcs1')]) {
      const error = expectConfigurationError(
        () => importKey({ alg: 'RS256', privateKey: text }),
        'key.privateKey',
        pemLines(text),
      )
      expect(error.message).toMatch(/this is a public key .*not the private key: give it as publicKey/)
    }
    // A file holding the private key beside its public key still gives the private key.
    const { privateKey } = pairs.rsa()
    const bundle = pem(privateKey, 'pkcs8') + pem(publicKey, 'spki')
    expect(importKey({ alg: 'RS256', privateKey: bundle }).canSign).toBe(true)
  })

  it('refuses a key of the wrong type for the algorithm', () => {
    const rsa = pairs.rsa()
    const rsaPem = pem(rsa.privateKey, 'pkcs8')
    expectConfigurationError(
      () => importKey({ alg: 'EdDSA', privateKey: rsaPem }),
      'key.privateKey',
      pemLines(rsaPem),
    )
    expectConfigurationError(() => importKey({ alg: 'EdDSA', publicKey: rsa.publicKey }), 'key.publicKey')
    expectConfigurationError(() => importKey({ alg: 'ES256', privateKey: rsa.privateKey }), 'key.privateKey')
    expectConfigurationError(
      () => importKey({ alg: 'RS256', privateKey: pairs.ed25519().privateKey }),
      'key.privateKey',
    )
    expectConfigurationError(
      () => importKey({ alg: 'PS256', publicKey: pairs.p256().publicKey }),
      'key.publicKey',
    )
    expectConfigurationError(
      () => importKey({ alg: 'EdDSA', privateKey: pairs.p256().privateKey }),
      'key.privateKey',
    )
  })

  it('refuses an RSASSA-PSS-only key for RS256 with a ConfigurationError', () => {
    // id-RSASSA-PSS keys cannot make PKCS#1 v1.5 signatures.
    const { privateKey, publicKey } = generateKeyPairSync('rsa-pss', { modulusLength: 2048 })
    expectConfigurationError(() => importKey({ alg: 'RS256', privateKey }), 'key.privateKey')
    expectConfigurationError(() => importKey({ alg: 'RS256', publicKey }), 'key.publicKey')
  })

  it('either supports an RSASSA-PSS-only key for PS256 or refuses it with a ConfigurationError', () => {
    const { privateKey } = generateKeyPairSync('rsa-pss', {
      modulusLength: 2048,
      hashAlgorithm: 'sha256',
      mgf1HashAlgorithm: 'sha256',
    })
    let key: TesseraKey | undefined
    try {
      key = importKey({ alg: 'PS256', privateKey })
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigurationError)
      expect((error as ConfigurationError).option).toBe('key.privateKey')
    }
    if (key !== undefined) expectRoundTrip(key)
  })

  it('refuses a public key that does not match the private key', () => {
    const a = pairs.p256()
    const b = pairs.p256()
    const privatePem = pem(a.privateKey, 'pkcs8')
    expectConfigurationError(
      () => importKey({ alg: 'ES256', privateKey: privatePem, publicKey: pem(b.publicKey, 'spki') }),
      'key.publicKey',
      pemLines(privatePem),
    )
    const rsaA = pairs.rsa()
    expectConfigurationError(
      () => importKey({ alg: 'RS256', privateKey: rsaA.privateKey, publicKey: jwkOf(pairs.rsa().publicKey) }),
      'key.publicKey',
    )
  })

  it('refuses a private JWK given as the public key, without echoing its private members', () => {
    for (const pair of [pairs.rsa(), pairs.p256(), pairs.ed25519()]) {
      const jwk = jwkOf(pair.privateKey)
      const alg = jwk.kty === 'RSA' ? 'RS256' : jwk.kty === 'EC' ? 'ES256' : 'EdDSA'
      expectConfigurationError(() => importKey({ alg, publicKey: jwk }), 'key.publicKey', [jwk.d!])
    }
    const secretJwk = { kty: 'oct', k: Buffer.alloc(32, 1).toString('base64url') }
    expectConfigurationError(() => importKey({ alg: 'ES256', publicKey: secretJwk }), 'key.publicKey', [
      secretJwk.k,
    ])
  })

  it('refuses a public JWK or a public KeyObject given as the private key', () => {
    const pair = pairs.p256()
    expectConfigurationError(
      () => importKey({ alg: 'ES256', privateKey: jwkOf(pair.publicKey) }),
      'key.privateKey',
    )
    expectConfigurationError(() => importKey({ alg: 'ES256', privateKey: pair.publicKey }), 'key.privateKey')
    expectConfigurationError(
      () => importKey({ alg: 'ES256', privateKey: pem(pair.publicKey, 'spki') }),
      'key.privateKey',
    )
  })

  it('refuses unreadable key material without echoing it', () => {
    const garbage =
      // Assembled so that no file in the repository looks like it holds a private key.
      [
        '-----BEGIN',
        'PRIVATE KEY-----\nTOP-SECRET-MATERIAL-0123456789abcdef\n-----END',
        'PRIVATE KEY-----\n',
      ].join(' ')
    expectConfigurationError(() => importKey({ alg: 'RS256', privateKey: garbage }), 'key.privateKey', [
      'TOP-SECRET-MATERIAL',
    ])
    expectConfigurationError(
      () => importKey({ alg: 'RS256', publicKey: 'TOP-SECRET-MATERIAL' }),
      'key.publicKey',
      ['TOP-SECRET-MATERIAL'],
    )
    const badJwk = { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA', d: 'TOP-SECRET-MATERIAL' }
    expectConfigurationError(() => importKey({ alg: 'ES256', privateKey: badJwk }), 'key.privateKey', [
      'TOP-SECRET-MATERIAL',
    ])
    expectConfigurationError(
      () => importKey({ alg: 'ES256', privateKey: 42 } as unknown as KeyInput),
      'key.privateKey',
    )
  })

  it('refuses an empty or non-string kid', () => {
    expectConfigurationError(() => importKey({ alg: 'HS256', secret: 'x'.repeat(32), kid: '' }), 'key.kid')
    expectConfigurationError(
      () => importKey({ alg: 'HS256', secret: 'x'.repeat(32), kid: 7 } as unknown as KeyInput),
      'key.kid',
    )
  })

  it('prefixes the option path it is given', () => {
    expectConfigurationError(() => importKey({ alg: 'HS256', secret: 'short' }, 'keys[2]'), 'keys[2].secret')
    expectConfigurationError(
      () => importKey({ alg: 'ES256', publicKey: pairs.p384().publicKey }, 'keys[0]'),
      'keys[0].publicKey',
    )
  })
})

describe('generateKey', () => {
  it.each(SUPPORTED_ALGORITHMS)('makes an %s key that round-trips sign and verify', async (alg) => {
    const key = await generateKey(alg)
    expect(isTesseraKey(key)).toBe(true)
    expect(key.alg).toBe(alg)
    expect(key.canSign).toBe(true)
    expectRoundTrip(key)
    const exported = exportKey(key, { includePrivate: true })
    if (alg.startsWith('HS')) {
      expect(key.publicJwk).toBeUndefined()
      expect(Buffer.from(exported.jwk.k!, 'base64url')).toHaveLength(Number(alg.slice(2)) / 8)
      expect(key.kid).toBe(thumbprint({ kty: 'oct', k: exported.jwk.k! }))
      expectRoundTrip(key, importKey({ alg, secret: Buffer.from(exported.jwk.k!, 'base64url') }))
    } else {
      expect(key.kid).toBe(thumbprint(key.publicJwk!))
      expectRoundTrip(key, importKey({ alg, publicKey: exportKey(key).pem! }))
      expectRoundTrip(key, importKey({ alg, publicKey: key.publicJwk }))
      expectRoundTrip(importKey({ alg, privateKey: exported.pem! }), key)
    }
  })

  it('makes keys of the expected size and curve', async () => {
    expect((await generateKey('RS256')).publicJwk!.n).toHaveLength(342) // 2048 bits
    expect((await generateKey('ES256')).publicJwk!.crv).toBe('P-256')
    expect((await generateKey('ES384')).publicJwk!.crv).toBe('P-384')
    expect((await generateKey('ES512')).publicJwk!.crv).toBe('P-521')
    expect((await generateKey('EdDSA')).publicJwk!.crv).toBe('Ed25519')
    expect((await generateKey()).alg).toBe('EdDSA')
  })

  it('makes a different key every time, and honours an explicit kid', async () => {
    const [a, b] = await Promise.all([generateKey('HS256'), generateKey('HS256')])
    expect(a.kid).not.toBe(b.kid)
    expect((await generateKey('ES256', { kid: '2026-11' })).kid).toBe('2026-11')
  })

  it('refuses an unknown algorithm', async () => {
    await expect(generateKey('none' as Algorithm)).rejects.toBeInstanceOf(ConfigurationError)
    await expect(generateKey('none' as Algorithm)).rejects.toMatchObject({
      code: 'configuration_error',
      option: 'alg',
    })
  })
})

describe('exportKey', () => {
  it.each(SUPPORTED_ALGORITHMS.filter((alg) => !alg.startsWith('HS')))(
    'exports only the public part of an %s key unless includePrivate is set',
    async (alg) => {
      const key = await generateKey(alg)
      const exported = exportKey(key)
      expect(exported.alg).toBe(alg)
      expect(exported.kid).toBe(key.kid)
      expect(exported.pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/)
      for (const member of PRIVATE_MEMBERS) expect(exported.jwk).not.toHaveProperty(member)
      expect(exported.jwk).toMatchObject({ kid: key.kid, alg })

      const full = exportKey(key, { includePrivate: true })
      expect(full.pem).toMatch(/^-----BEGIN PRIVATE[ ]KEY-----\n/) // [ ]: no file should look like it holds a key
      expect(full.jwk.d).toEqual(expect.any(String))
      expect(JSON.stringify(exported)).not.toContain(full.jwk.d!)
      const reimported = importKey({ alg, privateKey: full.jwk })
      expect(reimported.kid).toBe(key.kid)
      expectRoundTrip(reimported, key)
    },
  )

  it('refuses to export an HMAC secret unless includePrivate is set', async () => {
    const key = await generateKey('HS384')
    expectConfigurationError(() => exportKey(key), 'key')
    const full = exportKey(key, { includePrivate: true })
    expect(full.pem).toBeUndefined()
    expect(full.jwk).toMatchObject({ kty: 'oct', kid: key.kid, alg: 'HS384' })
    expect(Buffer.from(full.jwk.k!, 'base64url')).toHaveLength(48)
  })

  it('refuses to export private material from a verification-only key', async () => {
    const key = importKey({ alg: 'ES256', publicKey: exportKey(await generateKey('ES256')).pem! })
    expectConfigurationError(() => exportKey(key, { includePrivate: true }), 'key')
    expect(exportKey(key).pem).toMatch(/^-----BEGIN PUBLIC KEY-----/)
  })

  it('refuses an object that only looks like a key', async () => {
    const key = await generateKey('HS256')
    expectConfigurationError(() => exportKey({ ...key }, { includePrivate: true }), 'key')
  })
})

describe('key material stays hidden', () => {
  const secretsOf = (key: TesseraKey): string[] => {
    const full = exportKey(key, { includePrivate: true })
    const values = PRIVATE_MEMBERS.flatMap((member) =>
      full.jwk[member] === undefined ? [] : [full.jwk[member]],
    )
    return [...values, ...(full.pem === undefined ? [] : pemLines(full.pem))]
  }

  it.each(SUPPORTED_ALGORITHMS)(
    'shows no secret of an %s key in JSON.stringify or util.inspect',
    async (alg) => {
      const key = await generateKey(alg)
      const secrets = secretsOf(key)
      expect(secrets.length).toBeGreaterThan(0)
      const shown = [
        JSON.stringify(key),
        inspect(key, { depth: Infinity, showHidden: true, getters: true }),
        JSON.stringify({ ...key }),
      ].join('\n')
      for (const secret of secrets) expect(shown).not.toContain(secret)
    },
  )

  it('shows neither a string secret nor its encodings', () => {
    const secret = 'correct-horse-battery-staple-0123456789'
    const key = importKey({ alg: 'HS256', secret })
    const shown = `${JSON.stringify(key)}\n${inspect(key, { depth: Infinity, showHidden: true })}`
    for (const form of [
      secret,
      Buffer.from(secret).toString('base64url'),
      Buffer.from(secret).toString('hex'),
    ]) {
      expect(shown).not.toContain(form)
    }
  })
})

describe('signature primitives', () => {
  it('refuses a DER-encoded ECDSA signature (JWS wants IEEE P1363 r||s)', () => {
    const pair = pairs.p256()
    const key = importKey({ alg: 'ES256', privateKey: pair.privateKey })
    const der = cryptoSign('sha256', Buffer.from(INPUT), { key: pair.privateKey, dsaEncoding: 'der' })
    expect(key.verify(INPUT, der.toString('base64url'))).toBe(false)
    const p1363 = cryptoSign('sha256', Buffer.from(INPUT), {
      key: pair.privateKey,
      dsaEncoding: 'ieee-p1363',
    })
    expect(key.verify(INPUT, p1363.toString('base64url'))).toBe(true)
  })

  it('never throws on nonsense signatures', async () => {
    for (const alg of SUPPORTED_ALGORITHMS) {
      const key = await generateKey(alg)
      for (const signature of [
        '',
        '=',
        '....',
        'not base64url!',
        'A'.repeat(10_000),
        '\u0000',
        '\u{1F600}',
      ]) {
        expect(key.verify(INPUT, signature)).toBe(false)
      }
    }
  })

  it('refuses an RS256 signature when verifying as PS256 with the same RSA key, and the reverse', () => {
    const { privateKey } = pairs.rsa()
    const rs = importKey({ alg: 'RS256', privateKey })
    const ps = importKey({ alg: 'PS256', privateKey })
    expect(ps.verify(INPUT, rs.sign(INPUT))).toBe(false)
    expect(rs.verify(INPUT, ps.sign(INPUT))).toBe(false)
  })

  it('uses a fresh PSS salt and ECDSA nonce for every signature', () => {
    const ps = importKey({ alg: 'PS384', privateKey: pairs.rsa().privateKey })
    const es = importKey({ alg: 'ES384', privateKey: pairs.p384().privateKey })
    for (const key of [ps, es]) {
      const first = key.sign(INPUT)
      const second = key.sign(INPUT)
      expect(first).not.toBe(second)
      expect(key.verify(INPUT, first) && key.verify(INPUT, second)).toBe(true)
    }
  })

  it('verifies a public key derived from the signing key', () => {
    const { privateKey } = pairs.ed25519()
    const signer = importKey({ alg: 'EdDSA', privateKey })
    expectRoundTrip(signer, importKey({ alg: 'EdDSA', publicKey: createPublicKey(privateKey) }))
  })
})

describe('the published declarations', () => {
  // @types/node 26 dropped node:crypto's own `JsonWebKey` export (only `webcrypto.JsonWebKey` is left):
  // a declaration file importing it fails to compile there with skipLibCheck off (TS2305), for every
  // user on Node 26's types, though the repository's @types/node 20 still has it.
  const DROPPED_BY_TYPES_NODE_26 = ['JsonWebKey']

  it('import no node:crypto type that a supported @types/node no longer exports', () => {
    const src = fileURLToPath(new URL('../../packages/tessera/src/', import.meta.url))
    const imported: string[] = []
    for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts')) continue
      const source = ts.createSourceFile(file, readFileSync(join(src, file), 'utf8'), ts.ScriptTarget.Latest)
      for (const statement of source.statements) {
        if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue
        if (!['node:crypto', 'crypto'].includes(statement.moduleSpecifier.text)) continue
        const bindings = statement.importClause?.namedBindings
        if (bindings === undefined || !ts.isNamedImports(bindings)) continue
        for (const element of bindings.elements) {
          const name = (element.propertyName ?? element.name).text
          if (DROPPED_BY_TYPES_NODE_26.includes(name)) imported.push(`${file}: ${name}`)
        }
      }
    }
    expect(imported).toEqual([])
  })
})
