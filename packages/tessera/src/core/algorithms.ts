/**
 * The JWS algorithms Tessera signs and verifies (RFC 7518 §3, RFC 8037 for EdDSA), and what each
 * requires of its key. The cryptography itself is node:crypto's (OpenSSL); this table only maps JWS
 * names onto it.
 */

/** Every supported JWS `alg`. `none` is deliberately absent. */
export type Algorithm =
  | 'HS256'
  | 'HS384'
  | 'HS512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'EdDSA'

export type AlgorithmFamily = 'hmac' | 'rsa' | 'rsa-pss' | 'ec' | 'okp'

export interface AlgorithmSpec {
  readonly family: AlgorithmFamily
  /** Digest for node:crypto; `null` for EdDSA, whose hash is built into the scheme. */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null
  /** HMAC: minimum secret length in bytes (RFC 7518 §3.2: at least the hash size). */
  readonly minSecretBytes?: number | undefined
  /** ECDSA: the required curve (node:crypto name) and the IEEE P1363 signature length. */
  readonly curve?: 'prime256v1' | 'secp384r1' | 'secp521r1' | undefined
  readonly signatureBytes?: number | undefined
}

export const ALGORITHMS: Readonly<Record<Algorithm, AlgorithmSpec>> = {
  HS256: { family: 'hmac', hash: 'sha256', minSecretBytes: 32 },
  HS384: { family: 'hmac', hash: 'sha384', minSecretBytes: 48 },
  HS512: { family: 'hmac', hash: 'sha512', minSecretBytes: 64 },
  RS256: { family: 'rsa', hash: 'sha256' },
  RS384: { family: 'rsa', hash: 'sha384' },
  RS512: { family: 'rsa', hash: 'sha512' },
  PS256: { family: 'rsa-pss', hash: 'sha256' },
  PS384: { family: 'rsa-pss', hash: 'sha384' },
  PS512: { family: 'rsa-pss', hash: 'sha512' },
  ES256: { family: 'ec', hash: 'sha256', curve: 'prime256v1', signatureBytes: 64 },
  ES384: { family: 'ec', hash: 'sha384', curve: 'secp384r1', signatureBytes: 96 },
  ES512: { family: 'ec', hash: 'sha512', curve: 'secp521r1', signatureBytes: 132 },
  EdDSA: { family: 'okp', hash: null },
}

/** Every supported algorithm name, in a stable order. */
export const SUPPORTED_ALGORITHMS = Object.keys(ALGORITHMS) as readonly Algorithm[]

/** Narrowing check for an algorithm name taken from configuration or a token header. */
export function isAlgorithm(value: unknown): value is Algorithm {
  return typeof value === 'string' && Object.hasOwn(ALGORITHMS, value)
}

/** Smallest RSA modulus accepted (RFC 7518 §3.3, NIST SP 800-131A). */
export const MIN_RSA_BITS = 2048
