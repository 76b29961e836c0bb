/**
 * Tessera: JWT authentication for TypeScript APIs. This is the framework-free core; the adapters live
 * at `tessera/fastify` and `tessera/express`.
 *
 * @packageDocumentation
 */
export { createTessera, refusingVerify, throwingVerify } from './core/tessera.js'
export type { CreateTokenOptions, Refusable, RefusingVerify, Tessera, VerifyOptions } from './core/tessera.js'
export type { ClaimsHookContext, ResolvedConfig, TesseraOptions } from './core/config.js'
export { ALGORITHMS, SUPPORTED_ALGORITHMS, isAlgorithm } from './core/algorithms.js'
export type { Algorithm, AlgorithmFamily, AlgorithmSpec } from './core/algorithms.js'
export { exportKey, generateKey, importKey, thumbprint } from './core/keys.js'
export type { ExportedKey, KeyInput, KeyMaterial, PublicJwk, TesseraKey } from './core/keys.js'
export { createKeyRing, isKeyRing, isTesseraKey } from './core/key-ring.js'
export type { Jwks, KeyRing, KeyRingEntry, KeyRingInput } from './core/key-ring.js'
// Resource servers: verify with the issuer's public keys alone, given or fetched.
export { ASYMMETRIC_ALGORITHMS, importJwks } from './core/jwks.js'
export type { ImportJwksOptions } from './core/jwks.js'
export { isRemoteJwks, remoteJwks } from './core/remote-jwks.js'
export type { RemoteJwks, RemoteJwksOptions, RemoteJwksStatus } from './core/remote-jwks.js'
export { decodeUnverified } from './core/jws.js'
export { checkCsrfValue } from './core/http/csrf.js'
export { TOKEN_TYP } from './core/claims.js'
export { parseDuration } from './core/duration.js'
export { SAMPLE_SECRETS, SECRET_ADVICE, weakSecretReason } from './core/weak-secret.js'
export type { Duration } from './core/duration.js'
export { memoryRevocationStore, revocationExpiry } from './core/revocation.js'
export type {
  MemoryRevocationStore,
  MemoryRevocationStoreOptions,
  RevocationStore,
  RevocationSubject,
} from './core/revocation.js'
// Replication of revocations between instances. The durable stores behind it live at their own
// subpaths (`tessera/redis`, `tessera/sql`), so `import 'tessera'` loads and type-references no driver.
export { applyRevocation, replicatedRevocationStore } from './stores/replicated-revocation.js'
export type {
  DurableRevocationStore,
  ReplicatedRevocationStore,
  RevocationEntry,
  SyncRevocationStore,
} from './stores/replicated-revocation.js'
export {
  ConfigurationError,
  FreshTokenRequiredError,
  TesseraError,
  TokenAlgorithmRejectedError,
  TokenClaimInvalidError,
  TokenClaimMissingError,
  TokenError,
  TokenExpiredError,
  TokenLifetimeExceededError,
  TokenHeaderRejectedError,
  TokenInvalidSignatureError,
  TokenMalformedError,
  TokenMissingError,
  TokenNotYetValidError,
  TokenRevokedError,
  TokenUnknownKeyError,
  TokenWrongAudienceError,
  TokenWrongIssuerError,
  TokenWrongTypeError,
  VerifiedTokenError,
  errorStatus,
  isTesseraError,
  wwwAuthenticate,
} from './core/errors.js'
export type { AnyTesseraError, TesseraErrorCode } from './core/errors.js'
export type {
  AppClaims,
  AppUser,
  DeepReadonly,
  JwtClaims,
  JwtHeader,
  RegisteredClaims,
  TesseraTypes,
  TokenType,
  VerifiedToken,
} from './core/types.js'
export {
  ClaimsVerificationFailedError,
  CsrfMismatchError,
  CsrfMissingError,
  CsrfOriginRejectedError,
  ForbiddenError,
  JwksUnavailableError,
  UserNotFoundError,
} from './core/errors.js'
