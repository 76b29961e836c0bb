/**
 * Importing a JSON Web Key Set (RFC 7517 §5) as verification keys: what a resource server does with the
 * issuer's `/.well-known/jwks.json`. Every key is checked before node:crypto sees it, and refused with a
 * message naming it (by `kid`) when it is not a public signature key Tessera can pin an algorithm to.
 */
import { ALGORITHMS, isAlgorithm, type Algorithm } from './algorithms.js'
import { ConfigurationError } from './errors.js'
import { importKey, type TesseraKey } from './keys.js'

/** Options of {@link importJwks} (and of `remoteJwks`, which imports every answer the same way). */
export interface ImportJwksOptions {
  /**
   * Algorithms accepted. A key whose `alg` is not listed is refused.
   * @default every asymmetric algorithm: RS*, PS*, ES*, EdDSA
   */
  algorithms?: readonly Algorithm[] | undefined
}

/** Every algorithm a published key may carry: HMAC secrets are never published. */
export const ASYMMETRIC_ALGORITHMS: readonly Algorithm[] = Object.freeze(
  (Object.keys(ALGORITHMS) as Algorithm[]).filter((alg) => ALGORITHMS[alg].family !== 'hmac'),
)

// RFC 7518 §6.2.2, §6.3.2 and RFC 8037 §2: members that only a private (or secret) key has.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const
const CURVES: Record<string, Record<string, Algorithm | undefined>> = {
  EC: { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' },
  OKP: { Ed25519: 'EdDSA', Ed448: 'EdDSA' },
}
const PUBLIC_MEMBERS = ['kty', 'n', 'e', 'crv', 'x', 'y'] as const

/**
 * Turns a JWKS document into verification-only keys, for `createTessera({ keys: importJwks(jwks) })`.
 * Accepts Tessera's own `Jwks` (from `auth.jwks()`) or parsed JSON. Refuses, naming the key: private
 * members (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, or `k` of an `oct` secret), a `kty` other than RSA,
 * EC or OKP, an unknown curve, an `alg` outside `algorithms`, `use` other than `sig`, `key_ops` without
 * `verify`, an RSA key without `alg`, a duplicate `kid`, a key too weak for its algorithm.
 * An EC or OKP key without `alg` gets the only algorithm its curve allows.
 *
 * @example
 * const jwks = await (await fetch('https://auth.example.com/.well-known/jwks.json')).json()
 * const auth = createTessera({ keys: importJwks(jwks), issuer: 'https://auth.example.com' })
 */
export function importJwks(jwks: unknown, options: ImportJwksOptions = {}): TesseraKey[] {
  const allowed = allowedAlgorithms(options.algorithms, 'algorithms')
  const list = jwksKeys(jwks, 'jwks')
  if (list.length === 0) throw new ConfigurationError('jwks.keys', 'the key set has no keys')
  const keys: TesseraKey[] = []
  const seen = new Set<string>()
  list.forEach((jwk, index) => {
    const key = importPublicJwk(jwk, `jwks.keys[${index}]`, allowed)
    if (seen.has(key.kid)) {
      throw new ConfigurationError(`jwks.keys[${index}]`, `duplicate kid ${JSON.stringify(key.kid)}`)
    }
    seen.add(key.kid)
    keys.push(key)
  })
  return keys
}

/** The `keys` array of a JWKS document, or a {@link ConfigurationError} naming `option`. */
export function jwksKeys(jwks: unknown, option: string): readonly unknown[] {
  if (typeof jwks !== 'object' || jwks === null || Array.isArray(jwks)) {
    throw new ConfigurationError(option, 'expected a JWKS object: { "keys": [ … ] }')
  }
  const keys = (jwks as { keys?: unknown }).keys
  if (!Array.isArray(keys)) throw new ConfigurationError(`${option}.keys`, 'expected an array of JWKs')
  return keys as readonly unknown[]
}

/** Validates an `algorithms` allow-list (default: every asymmetric algorithm). */
export function allowedAlgorithms(value: unknown, option: string): ReadonlySet<Algorithm> {
  if (value === undefined) return new Set(ASYMMETRIC_ALGORITHMS)
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigurationError(option, 'expected a non-empty list of algorithms')
  }
  for (const alg of value as unknown[]) {
    if (!isAlgorithm(alg) || ALGORITHMS[alg].family === 'hmac') {
      throw new ConfigurationError(
        option,
        `${JSON.stringify(alg)} is not a public-key algorithm; use ${ASYMMETRIC_ALGORITHMS.join(', ')}`,
      )
    }
  }
  return new Set(value as Algorithm[])
}

/**
 * Imports one JWK of a key set as a verification-only key, or throws a {@link ConfigurationError}
 * whose option is `option` and whose message names the key.
 */
export function importPublicJwk(jwk: unknown, option: string, allowed: ReadonlySet<Algorithm>): TesseraKey {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
    throw new ConfigurationError(option, 'expected a JWK object')
  }
  const member = jwk as Record<string, unknown>
  const { kid, kty, crv, use } = member
  if (kid !== undefined && (typeof kid !== 'string' || kid === '')) {
    throw new ConfigurationError(option, '"kid" must be a non-empty string')
  }
  const name = kid === undefined ? 'key without kid' : `key ${JSON.stringify(kid)}`
  const refuse = (reason: string): ConfigurationError => new ConfigurationError(option, `${name}: ${reason}`)
  for (const secret of PRIVATE_MEMBERS) {
    if (secret in member) {
      throw refuse(
        kty === 'oct'
          ? 'is a symmetric secret (kty "oct"); secrets are never published in a JWKS'
          : `carries the private member "${secret}"; a JWKS publishes public keys only`,
      )
    }
  }
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') {
    throw refuse(`unsupported kty ${JSON.stringify(kty)}; expected RSA, EC or OKP`)
  }
  if (use !== undefined && use !== 'sig') {
    throw refuse(`"use" is ${JSON.stringify(use)}; only signature keys ("sig") verify tokens`)
  }
  const ops = member.key_ops
  if (ops !== undefined && (!Array.isArray(ops) || !ops.includes('verify'))) {
    throw refuse('"key_ops" does not include "verify"')
  }
  const curves = CURVES[kty]
  if (curves !== undefined && (typeof crv !== 'string' || !Object.hasOwn(curves, crv))) {
    throw refuse(
      `unsupported curve ${JSON.stringify(crv)} for kty ${kty}; expected ${Object.keys(curves).join(', ')}`,
    )
  }
  let alg = member.alg
  if (alg === undefined) {
    // The curve names the algorithm for EC and OKP; an RSA key could be RS* or PS* of any hash.
    alg = curves?.[crv as string]
    if (alg === undefined) throw refuse('has no "alg"; an RSA key must name its algorithm (RS256, PS256, …)')
  }
  if (!isAlgorithm(alg) || !allowed.has(alg)) {
    throw refuse(`algorithm ${JSON.stringify(alg)} is not allowed; accepted: ${[...allowed].join(', ')}`)
  }
  // Only the public members reach node:crypto, so nothing else in the document can change the key.
  const publicKey: Record<string, unknown> = {}
  for (const name of PUBLIC_MEMBERS) if (member[name] !== undefined) publicKey[name] = member[name]
  try {
    return importKey({ alg, publicKey, ...(kid === undefined ? {} : { kid }) }, option)
  } catch (error) {
    if (error instanceof ConfigurationError) {
      throw new ConfigurationError(option, `${name}: ${error.message.replace(/^[^:]*: /, '')}`, {
        cause: error,
      })
    }
    throw error
  }
}
