/**
 * Signing and verification keys: import from a secret, PEM, JWK or KeyObject; generate; export.
 *
 * Keys are parsed once, here, into node:crypto KeyObjects, and each key carries `sign`/`verify`
 * functions bound to its algorithm, so the verify hot path never re-imports a key or re-creates a
 * verifier. The algorithm belongs to the key: a token's header can never choose it.
 */
import {
  constants,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPair,
  KeyObject,
  randomBytes,
  sign as cryptoSign,
  timingSafeEqual,
  verify as cryptoVerify,
  type SignKeyObjectInput,
  type VerifyKeyObjectInput,
  type webcrypto,
} from 'node:crypto'
import { promisify } from 'node:util'
import { ALGORITHMS, isAlgorithm, MIN_RSA_BITS, type Algorithm, type AlgorithmSpec } from './algorithms.js'
import { ConfigurationError } from './errors.js'

const generateKeyPairAsync = promisify(generateKeyPair)

/**
 * A JSON Web Key as node:crypto reads and writes it. `webcrypto.JsonWebKey`, not node:crypto's own
 * `JsonWebKey` export: @types/node 26 dropped that one, and a published declaration naming it would not
 * compile for a user on @types/node 26 with `skipLibCheck: false` (TS2305).
 */
type JsonWebKey = webcrypto.JsonWebKey & { [member: string]: unknown }

/** A public JSON Web Key as published in a JWKS: never any private member. */
export interface PublicJwk {
  kty: 'RSA' | 'EC' | 'OKP'
  kid: string
  alg: Algorithm
  use: 'sig'
  n?: string | undefined
  e?: string | undefined
  crv?: string | undefined
  x?: string | undefined
  y?: string | undefined
}

/** Anything a key can be given as: PEM text, a JWK object, raw bytes (secrets) or a node KeyObject. */
export type KeyMaterial = string | Uint8Array | KeyObject | JsonWebKey

/** How to import one key. Give `secret` for HS*, `privateKey` to sign (and verify), `publicKey` to only verify. */
export interface KeyInput {
  /** The JWS algorithm this key is used with. It is pinned: tokens cannot choose another. */
  alg: Algorithm
  /** Key id written to every token's header. Default: the RFC 7638 JWK thumbprint. */
  kid?: string | undefined
  /** HS256/384/512 secret, at least as long as the hash (32/48/64 bytes). Strings are UTF-8. */
  secret?: string | Uint8Array | KeyObject | undefined
  /** PEM (PKCS#8 or PKCS#1/SEC1), a private JWK, or a private KeyObject. */
  privateKey?: string | KeyObject | JsonWebKey | undefined
  /** PEM (SPKI or an X.509 certificate), a public JWK (a JWKS entry) or KeyObject. Verification only. */
  publicKey?: string | KeyObject | JsonWebKey | PublicJwk | undefined
}

/**
 * One imported key. `sign` and `verify` are the low-level JWS primitives over the signing input
 * (`base64url(header) + '.' + base64url(payload)`) and the base64url signature.
 */
export interface TesseraKey {
  readonly kid: string
  readonly alg: Algorithm
  /** True when the key holds private (or secret) material and can sign. */
  readonly canSign: boolean
  /** The public JWK for asymmetric keys (what a JWKS publishes); `undefined` for HMAC secrets. */
  readonly publicJwk: PublicJwk | undefined
  /** Signs `signingInput`; throws a {@link ConfigurationError} when the key is verification-only. */
  readonly sign: (signingInput: string) => string
  /** Verifies a base64url signature over `signingInput` in constant time where it matters. Never throws. */
  readonly verify: (signingInput: string, signature: string) => boolean
}

interface PrivateParts {
  secret?: KeyObject | undefined
  privateKey?: KeyObject | undefined
  publicKey?: KeyObject | undefined
}

// Key material lives here, off the object, so logging or serialising a TesseraKey shows no secret.
const material = new WeakMap<TesseraKey, PrivateParts>()

const BASE64URL = /^[A-Za-z0-9_-]*$/

/**
 * Imports a key, validating it against its algorithm: secret length (RFC 7518 §3.2), RSA modulus of at
 * least 2048 bits, the EC curve the algorithm requires, Ed25519/Ed448 for EdDSA.
 *
 * @example importKey({ alg: 'HS256', secret: process.env.JWT_SECRET })
 * @example importKey({ alg: 'EdDSA', privateKey: pemText, kid: '2026-11' })
 */
export function importKey(input: KeyInput, option = 'key'): TesseraKey {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- runtime guard for JavaScript callers
  if (typeof input !== 'object' || input === null) {
    throw new ConfigurationError(option, 'expected a key description object')
  }
  const { alg } = input
  if (!isAlgorithm(alg)) {
    throw new ConfigurationError(
      `${option}.alg`,
      `unsupported algorithm ${JSON.stringify(alg)}; use one of ${Object.keys(ALGORITHMS).join(', ')}`,
    )
  }
  const spec = ALGORITHMS[alg]
  if (input.kid !== undefined && (typeof input.kid !== 'string' || input.kid === '')) {
    throw new ConfigurationError(`${option}.kid`, 'must be a non-empty string')
  }
  if (spec.family === 'hmac') {
    if (input.privateKey !== undefined || input.publicKey !== undefined) {
      throw new ConfigurationError(option, `${alg} takes a "secret", not a private or public key`)
    }
    const secret = toSecret(input.secret, `${option}.secret`, alg, spec)
    return buildKey(alg, spec, { secret }, input.kid)
  }
  if (input.secret !== undefined) {
    throw new ConfigurationError(`${option}.secret`, `${alg} is asymmetric: give "privateKey" or "publicKey"`)
  }
  if (input.privateKey !== undefined) {
    const privateKey = toAsymmetric(input.privateKey, 'private', `${option}.privateKey`)
    checkKeyFitsAlgorithm(privateKey, alg, spec, `${option}.privateKey`)
    const publicKey = createPublicKey(privateKey)
    if (input.publicKey !== undefined) {
      const given = toAsymmetric(input.publicKey, 'public', `${option}.publicKey`)
      if (!given.equals(publicKey)) {
        throw new ConfigurationError(`${option}.publicKey`, 'does not match the private key')
      }
    }
    return buildKey(alg, spec, { privateKey, publicKey }, input.kid ?? jwkKid(input.privateKey))
  }
  if (input.publicKey !== undefined) {
    const publicKey = toAsymmetric(input.publicKey, 'public', `${option}.publicKey`)
    checkKeyFitsAlgorithm(publicKey, alg, spec, `${option}.publicKey`)
    return buildKey(alg, spec, { publicKey }, input.kid ?? jwkKid(input.publicKey))
  }
  throw new ConfigurationError(option, `${alg} needs a "privateKey" (to sign) or a "publicKey" (to verify)`)
}

/**
 * Generates a new key for `alg`: a random secret of the hash's length for HS*, a 2048-bit RSA pair for
 * RS and PS, the algorithm's curve for ES, Ed25519 for EdDSA. Runs off the event loop.
 *
 * @default alg 'EdDSA'
 */
export async function generateKey(
  alg: Algorithm = 'EdDSA',
  options: { kid?: string | undefined } = {},
): Promise<TesseraKey> {
  if (!isAlgorithm(alg)) throw new ConfigurationError('alg', `unsupported algorithm ${JSON.stringify(alg)}`)
  const spec = ALGORITHMS[alg]
  let pair: { privateKey: KeyObject }
  switch (spec.family) {
    case 'hmac':
      return importKey({ alg, secret: randomBytes(spec.minSecretBytes ?? 64), kid: options.kid })
    case 'rsa':
    case 'rsa-pss':
      pair = await generateKeyPairAsync('rsa', { modulusLength: MIN_RSA_BITS })
      break
    case 'ec':
      pair = await generateKeyPairAsync('ec', { namedCurve: spec.curve ?? 'prime256v1' })
      break
    case 'okp':
      pair = await generateKeyPairAsync('ed25519')
      break
  }
  return importKey({ alg, privateKey: pair.privateKey, kid: options.kid })
}

/** What {@link exportKey} returns for each format. */
export interface ExportedKey {
  alg: Algorithm
  kid: string
  /** PEM (PKCS#8 private or SPKI public); absent for HMAC secrets. */
  pem?: string | undefined
  /** JWK including private members when `includePrivate` is set. */
  jwk: JsonWebKey
}

/**
 * Exports a key for storage. Private material is included only when asked for by name, so a JWKS or a
 * log line cannot carry it by accident.
 */
export function exportKey(key: TesseraKey, { includePrivate = false } = {}): ExportedKey {
  const parts = material.get(key)
  if (parts === undefined)
    throw new ConfigurationError('key', 'not a key created by importKey or generateKey')
  const base = { alg: key.alg, kid: key.kid }
  if (parts.secret !== undefined) {
    if (!includePrivate) throw new ConfigurationError('key', 'an HMAC secret has no public part to export')
    return { ...base, jwk: { ...parts.secret.export({ format: 'jwk' }), kid: key.kid, alg: key.alg } }
  }
  const source = includePrivate ? parts.privateKey : parts.publicKey
  if (source === undefined) throw new ConfigurationError('key', 'this key holds no private material')
  const pem = source.export(
    source.type === 'private' ? { format: 'pem', type: 'pkcs8' } : { format: 'pem', type: 'spki' },
  )
  return {
    ...base,
    pem: String(pem),
    jwk: { ...source.export({ format: 'jwk' }), kid: key.kid, alg: key.alg },
  }
}

function buildKey(
  alg: Algorithm,
  spec: AlgorithmSpec,
  parts: PrivateParts,
  kid: string | undefined,
): TesseraKey {
  const publicJwk =
    parts.publicKey === undefined
      ? undefined
      : toPublicJwk(parts.publicKey.export({ format: 'jwk' }), alg, '')
  const keyId = kid ?? thumbprint(publicJwk ?? (parts.secret as KeyObject).export({ format: 'jwk' }))
  if (publicJwk !== undefined) publicJwk.kid = keyId
  const canSign = parts.secret !== undefined || parts.privateKey !== undefined
  const key: TesseraKey = Object.freeze({
    kid: keyId,
    alg,
    canSign,
    publicJwk: publicJwk === undefined ? undefined : Object.freeze(publicJwk),
    sign: makeSigner(alg, spec, parts),
    verify: makeVerifier(spec, parts),
  })
  material.set(key, parts)
  return key
}

function makeSigner(alg: Algorithm, spec: AlgorithmSpec, parts: PrivateParts): (input: string) => string {
  const { secret, privateKey } = parts
  if (secret !== undefined) {
    return (input) =>
      createHmac(spec.hash as string, secret)
        .update(input)
        .digest('base64url')
  }
  if (privateKey === undefined) {
    return () => {
      throw new ConfigurationError('key', `key for ${alg} is verification-only (no private key was given)`)
    }
  }
  const keyInput = signatureOptions(spec, privateKey) as SignKeyObjectInput
  return (input) => cryptoSign(spec.hash, Buffer.from(input), keyInput).toString('base64url')
}

function makeVerifier(
  spec: AlgorithmSpec,
  parts: PrivateParts,
): (input: string, signature: string) => boolean {
  const { secret, publicKey } = parts
  if (secret !== undefined) {
    const hash = spec.hash as string
    return (input, signature) => {
      // Comparing the canonical base64url text also refuses non-canonical encodings of a valid MAC.
      const expected = createHmac(hash, secret).update(input).digest('base64url')
      // UTF-8, not latin1: latin1 would keep only the low byte of each character, so "Ł" would pass for
      // "A"; any non-ASCII character changes the UTF-8 length instead.
      const given = Buffer.from(signature)
      const wanted = Buffer.from(expected)
      return given.length === wanted.length && timingSafeEqual(given, wanted)
    }
  }
  const key = publicKey as KeyObject
  const keyInput = signatureOptions(spec, key) as VerifyKeyObjectInput
  const signatureBytes = expectedSignatureBytes(spec, key)
  const signatureChars = Math.ceil((signatureBytes * 4) / 3)
  return (input, signature) => {
    // Exact length and canonical base64url: a truncated, padded or re-encoded signature never reaches
    // OpenSSL, and ECDSA signatures must be IEEE P1363 r||s of the curve's size (RFC 7518 §3.4).
    if (signature.length !== signatureChars || !BASE64URL.test(signature)) return false
    const bytes = Buffer.from(signature, 'base64url')
    if (bytes.length !== signatureBytes || bytes.toString('base64url') !== signature) return false
    try {
      return cryptoVerify(spec.hash, Buffer.from(input), keyInput, bytes)
    } catch {
      return false
    }
  }
}

function signatureOptions(spec: AlgorithmSpec, key: KeyObject): KeyObject | SignKeyObjectInput {
  switch (spec.family) {
    case 'rsa-pss':
      // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
      return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
    case 'ec':
      return { key, dsaEncoding: 'ieee-p1363' }
    default:
      return key
  }
}

function expectedSignatureBytes(spec: AlgorithmSpec, key: KeyObject): number {
  if (spec.signatureBytes !== undefined) return spec.signatureBytes
  const details = key.asymmetricKeyDetails
  if (key.asymmetricKeyType === 'ed448') return 114
  if (key.asymmetricKeyType === 'ed25519') return 64
  return Math.ceil((details?.modulusLength ?? 0) / 8)
}

function toSecret(value: unknown, option: string, alg: Algorithm, spec: AlgorithmSpec): KeyObject {
  let secret: KeyObject
  if (value instanceof KeyObject) {
    if (value.type !== 'secret') throw new ConfigurationError(option, 'expected a secret KeyObject')
    secret = value
  } else if (typeof value === 'string') {
    secret = createSecretKey(Buffer.from(value, 'utf8'))
  } else if (value instanceof Uint8Array) {
    secret = createSecretKey(Buffer.from(value))
  } else {
    throw new ConfigurationError(option, `${alg} needs a secret (a string, bytes or a secret KeyObject)`)
  }
  const keyLike = keyDocumentKind(secret.export())
  if (keyLike !== undefined) {
    // CVE-2015-9235's confusion, made by the configuration: text that anyone holding the public key can
    // reproduce would become the HMAC key. jsonwebtoken and fast-jwt refuse it too.
    throw new ConfigurationError(
      option,
      `the secret is ${keyLike}, not an HMAC secret: give it as keys: { alg: 'RS256' (or ES256, EdDSA, …), privateKey } (or publicKey to verify only)`,
    )
  }
  const min = spec.minSecretBytes ?? 32
  const size = secret.symmetricKeySize ?? 0
  if (size < min) {
    throw new ConfigurationError(
      option,
      `an ${alg} secret must be at least ${min} bytes (got ${size}); generate one with \`openssl rand -base64 ${min}\``,
    )
  }
  return secret
}

/** What an HMAC secret is when it is really a key document (PEM or JWK text), else `undefined`. */
function keyDocumentKind(bytes: Buffer): string | undefined {
  const text = bytes.toString('latin1')
  if (/-----BEGIN [A-Z0-9 ]*KEY-----/.test(text) || text.includes('-----BEGIN CERTIFICATE-----'))
    return 'a PEM key or certificate'
  // An asymmetric JWK (its public members are public); an "oct" one is secret material, left alone.
  if (/^\s*\{[^]*"kty"\s*:\s*"(?:RSA|EC|OKP)"/.test(text)) return 'a JWK of an asymmetric key'
  return undefined
}

function toAsymmetric(value: unknown, kind: 'private' | 'public', option: string): KeyObject {
  try {
    if (value instanceof KeyObject) {
      if (kind === 'public' && value.type === 'private') return createPublicKey(value)
      if (value.type !== kind) throw new Error(`expected a ${kind} KeyObject, got a ${value.type} one`)
      return value
    }
    if (typeof value === 'string') {
      // A public key where the private one belongs: said so, rather than OpenSSL's "unsupported". A
      // file with the private key beside its certificate (or public key) is one, as OpenSSL reads it.
      if (
        kind === 'private' &&
        /-----BEGIN (RSA )?PUBLIC KEY-----|-----BEGIN CERTIFICATE-----/.test(value) &&
        !/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(value)
      ) {
        throw new ConfigurationError(
          option,
          'this is a public key (or a certificate), not the private key: give it as publicKey to verify only, and the private key to sign',
        )
      }
      return kind === 'private' ? createPrivateKey(value) : createPublicKey(value)
    }
    if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array)) {
      const jwk = value as JsonWebKey
      if (kind === 'private' && jwk.d === undefined) throw new Error('the JWK has no private member "d"')
      if (kind === 'public' && (jwk.d !== undefined || jwk.k !== undefined)) {
        throw new Error('a public JWK must not carry private members')
      }
      return kind === 'private'
        ? createPrivateKey({ key: jwk, format: 'jwk' })
        : createPublicKey({ key: jwk, format: 'jwk' })
    }
  } catch (error) {
    if (error instanceof ConfigurationError) throw error
    // OpenSSL messages describe the encoding problem and never echo the key.
    throw new ConfigurationError(option, `cannot import the ${kind} key: ${(error as Error).message}`, {
      cause: error,
    })
  }
  throw new ConfigurationError(option, `expected PEM text, a JWK object or a ${kind} KeyObject`)
}

function checkKeyFitsAlgorithm(key: KeyObject, alg: Algorithm, spec: AlgorithmSpec, option: string): void {
  const type = key.asymmetricKeyType
  const details = key.asymmetricKeyDetails ?? {}
  switch (spec.family) {
    case 'rsa':
    case 'rsa-pss':
      // RSASSA-PSS-restricted keys (id-RSASSA-PSS) have no JWK form and cannot make PKCS#1 v1.5
      // signatures; a plain RSA key serves RS* and PS* alike.
      if (type !== 'rsa') throw mismatch(option, alg, 'a plain RSA key (rsaEncryption)', type)
      if ((details.modulusLength ?? 0) < MIN_RSA_BITS) {
        throw new ConfigurationError(
          option,
          `RSA keys must be at least ${MIN_RSA_BITS} bits (got ${details.modulusLength ?? 0})`,
        )
      }
      return
    case 'ec':
      if (type !== 'ec' || details.namedCurve !== spec.curve) {
        throw mismatch(
          option,
          alg,
          `an EC key on ${spec.curve ?? ''}`,
          `${type ?? '?'} ${details.namedCurve ?? ''}`,
        )
      }
      return
    case 'okp':
      if (type !== 'ed25519' && type !== 'ed448') throw mismatch(option, alg, 'an Ed25519 or Ed448 key', type)
      return
    case 'hmac':
      throw mismatch(option, alg, 'a secret', type)
  }
}

function mismatch(
  option: string,
  alg: Algorithm,
  wanted: string,
  got: string | undefined,
): ConfigurationError {
  return new ConfigurationError(option, `${alg} needs ${wanted}, got ${got ?? 'an unknown key type'}`)
}

function toPublicJwk(jwk: JsonWebKey, alg: Algorithm, kid: string): PublicJwk {
  // Copy only the public members, whatever the source carried.
  const out: PublicJwk = { kty: jwk.kty as PublicJwk['kty'], kid, alg, use: 'sig' }
  for (const member of ['n', 'e', 'crv', 'x', 'y'] as const) {
    const value = jwk[member]
    if (typeof value === 'string') out[member] = value
  }
  return out
}

function jwkKid(source: unknown): string | undefined {
  if (typeof source === 'object' && source !== null && !(source instanceof KeyObject)) {
    const kid = (source as { kid?: unknown }).kid
    if (typeof kid === 'string' && kid !== '') return kid
  }
  return undefined
}

// RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic order.
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['e', 'kty', 'n'],
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
  oct: ['k', 'kty'],
}

/** The RFC 7638 SHA-256 thumbprint of a JWK, base64url. */
export function thumbprint(jwk: JsonWebKey | PublicJwk): string {
  const members: Record<string, unknown> = { ...jwk }
  const required = THUMBPRINT_MEMBERS[String(members.kty)]
  if (required === undefined) {
    throw new ConfigurationError('key', `cannot take the thumbprint of kty ${String(members.kty)}`)
  }
  const canonical = `{${required.map((m) => `${JSON.stringify(m)}:${JSON.stringify(members[m])}`).join(',')}}`
  return createHash('sha256').update(canonical).digest('base64url')
}
