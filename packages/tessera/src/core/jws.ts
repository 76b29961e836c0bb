/**
 * Compact JWS (RFC 7515 §7.1) parsing and signature verification: split, parse the header, pick the
 * key by `kid`, check the algorithm against the key, verify, parse the payload. Nothing in the payload
 * is read before the signature holds.
 */
import { ALGORITHMS } from './algorithms.js'
import {
  TokenAlgorithmRejectedError,
  TokenHeaderRejectedError,
  TokenInvalidSignatureError,
  TokenMalformedError,
  TokenUnknownKeyError,
  TokenError,
} from './errors.js'
import type { KeyRing } from './key-ring.js'
import type { TesseraKey } from './keys.js'
import type { JwtHeader } from './types.js'

// Three base64url segments; the signature may be empty only to be refused as a bad signature below.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/
// Header parameters that would let a token bring or point to its own key (RFC 8725 §3.1, §3.10).
const KEY_BEARING_PARAMETERS = ['jwk', 'jku', 'x5u', 'x5c'] as const
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })
const INVALID_SIGNATURE = 'The token signature is invalid'

/** A token whose signature has been verified; the payload is parsed JSON, not yet checked as claims. */
export interface VerifiedJws {
  header: JwtHeader
  payload: Record<string, unknown>
  key: TesseraKey
}

interface HeaderEntry {
  header: JwtHeader
  key: TesseraKey
}

/** Upper bound of distinct header segments remembered; tokens of one key share one header segment. */
const HEADER_CACHE_LIMIT = 256

/** Upper bound of refused tokens remembered (at most this many × 2048 characters). */
const REFUSED_CACHE_LIMIT = 1024

/**
 * Longest token the verified-token cache remembers. Tessera's tokens are 300–600 characters; a bound
 * keeps the cache's memory predictable (at most `cacheSize` × ~2 × this many characters).
 */
export const CACHEABLE_TOKEN_LENGTH = 2048

/** Options of {@link createJwsVerifier}. */
export interface JwsVerifierOptions {
  /** Longer tokens are refused before any parsing. */
  maxTokenLength: number
  /** Verified tokens remembered (0: none); see `verifyCache` in docs/options.md. */
  cacheSize: number
}

/**
 * Creates the verifier for a key ring. It remembers parsed headers (keyed by their exact text, so the
 * result is a pure function of it) and, when `cacheSize` > 0, the tokens whose signature it verified,
 * keyed by the whole token string: a later call with the very same string skips the signature
 * computation. Both forget everything whenever the ring changes (a key added, removed or rotated).
 *
 * The cache only ever saves the cryptography. Everything that depends on time or state (exp, nbf,
 * iat, type, audience, issuer, freshness, revocation) is checked by the caller on every call, hit or
 * miss. The one failure remembered is a bad signature, which depends on nothing but the token and
 * the keys: the same forged or corrupted token presented again (a client retrying in a loop, a
 * replayed forgery) is refused without the cryptography — an EdDSA verification costs tens of µs —
 * from a second, smaller table ({@link REFUSED_CACHE_LIMIT} tokens, same admission and same
 * clearing). It only ever refuses sooner: nothing in it can make a token pass. Entries are found by the signature segment (short, so cheap
 * to hash) and then compared with the whole token string, so a hit is the very same token: no
 * collisions. The bound evicts the oldest entry first.
 *
 * A token enters the cache the second time it verifies, not the first (a small "doorkeeper" table of
 * signature fingerprints remembers the first time): when more distinct tokens are in use than the
 * cache holds, caching every token would only churn it — each entry copied, kept and evicted before
 * any reuse, which costs more than the verification it was meant to save. A token presented many
 * times is verified twice, then answered from the cache.
 *
 * Payloads are returned deeply frozen (hit or miss, cache or not): one object may serve many requests.
 *
 * A refusal is returned, never thrown: refusing a token is expected control flow, and a thrown
 * exception costs a refused request several µs (V8 records where it was thrown and unwinds frame by
 * frame). The caller decides whether to throw it (`verifyInline`) or answer it (the adapters).
 */
export function createJwsVerifier(
  ring: KeyRing,
  { maxTokenLength, cacheSize }: JwsVerifierOptions,
): (token: unknown) => VerifiedJws | TokenError {
  const headers = new Map<string, HeaderEntry>()
  // Verified tokens (payload parsed and deeply frozen, shared by every caller), and refused ones.
  const verified = cacheSize > 0 ? new TokenTable<VerifiedJws>(cacheSize) : undefined
  const refused = cacheSize > 0 ? new TokenTable<true>(Math.min(cacheSize, REFUSED_CACHE_LIMIT)) : undefined
  let cachedVersion = ring.version

  // A refused header is not remembered: it is parsed again next time.
  const headerFor = (segment: string): HeaderEntry | TokenError => {
    let entry = headers.get(segment)
    if (entry === undefined) {
      const parsed = parseSegment(segment, 'header')
      const checked = parsed instanceof TokenMalformedError ? parsed : checkHeader(parsed, ring)
      if (checked instanceof TokenError) return checked
      entry = checked
      if (headers.size >= HEADER_CACHE_LIMIT) headers.clear()
      headers.set(detached(segment), entry)
    }
    return entry
  }

  return (token) => {
    if (typeof token !== 'string' || token === '')
      return new TokenMalformedError('The token is empty or not a string')
    // Bounded before any parsing, so a huge token costs nothing (RFC 8725 §3.2 spirit; DoS).
    if (token.length > maxTokenLength) {
      return new TokenMalformedError(`The token is longer than ${maxTokenLength} characters`)
    }
    if (cachedVersion !== ring.version) {
      headers.clear()
      verified?.clear()
      refused?.clear()
      cachedVersion = ring.version
    }
    const lastDot = token.lastIndexOf('.')
    const signature = token.slice(lastDot + 1)
    const hit = verified?.get(signature, token)
    if (hit !== undefined) return hit
    if (refused?.get(signature, token) === true) return new TokenInvalidSignatureError(INVALID_SIGNATURE)
    if (!COMPACT_JWS.test(token)) {
      return new TokenMalformedError(
        'The token is not a compact JWS: three base64url segments joined by dots',
      )
    }
    const firstDot = token.indexOf('.')
    const entry = headerFor(token.slice(0, firstDot))
    if (entry instanceof TokenError) return entry
    const { header, key } = entry
    if (!key.verify(token.slice(0, lastDot), signature)) {
      refused?.offer(token, signature, true)
      return new TokenInvalidSignatureError(INVALID_SIGNATURE)
    }
    const payload = parseSegment(token.slice(firstDot + 1, lastDot), 'payload')
    if (payload instanceof TokenMalformedError) return payload
    const result: VerifiedJws = { header, key, payload: deepFreeze(payload) }
    verified?.offer(token, signature, result)
    return result
  }
}

/**
 * Tokens remembered by their signature segment (short, so cheap to hash) with a value: a lookup
 * matches only the very same whole token. A token is kept the second time it is offered (the
 * {@link Doorkeeper} remembers the first), only up to {@link CACHEABLE_TOKEN_LENGTH} characters, and
 * the oldest leaves first once `limit` are held.
 */
class TokenTable<V> {
  readonly #entries = new Map<string, { token: string; value: V }>()
  readonly #doorkeeper: Doorkeeper
  readonly #limit: number
  constructor(limit: number) {
    this.#limit = limit
    this.#doorkeeper = new Doorkeeper(limit)
  }
  get(signature: string, token: string): V | undefined {
    const entry = this.#entries.get(signature)
    return entry?.token === token ? entry.value : undefined
  }
  offer(token: string, signature: string, value: V): void {
    if (token.length > CACHEABLE_TOKEN_LENGTH || !this.#doorkeeper.admit(signature)) return
    // The token is usually a slice of a whole Cookie header, URL or Authorization value, and a slice
    // keeps its parent string alive: store a copy of its own, so an entry costs the token, not the
    // request's headers.
    const own = detached(token)
    if (this.#entries.size >= this.#limit) this.#entries.delete(this.#entries.keys().next().value as string)
    this.#entries.set(own.slice(own.length - signature.length), { token: own, value })
  }
  clear(): void {
    this.#entries.clear()
    this.#doorkeeper.clear()
  }
}

function checkHeader(header: Record<string, unknown>, ring: KeyRing): HeaderEntry | TokenError {
  const { alg, kid, crit, typ } = header
  if (typeof alg !== 'string' || alg === '') return new TokenMalformedError('The token header has no "alg"')
  if (alg.toLowerCase() === 'none') {
    return new TokenAlgorithmRejectedError('Unsigned tokens (alg "none") are never accepted')
  }
  for (const parameter of KEY_BEARING_PARAMETERS) {
    if (parameter in header) {
      return new TokenHeaderRejectedError(
        `The token header carries "${parameter}"; keys never come from the token`,
      )
    }
  }
  // RFC 7515 §4.1.11: a recipient that does not understand a critical extension must reject the JWS.
  // Tessera understands none (this also refuses RFC 7797 "b64": false).
  if (crit !== undefined)
    return new TokenHeaderRejectedError('The token header lists critical extensions ("crit")')
  if ('b64' in header) return new TokenHeaderRejectedError('Unencoded payloads ("b64") are not accepted')
  if (typ !== undefined && typeof typ !== 'string')
    return new TokenMalformedError('The token header "typ" is not a string')
  let key: TesseraKey | undefined
  if (kid === undefined) {
    // A remote key set holds no key before its first fetch: refused as an unknown key, as a value, so
    // the engine waits for that fetch as it does for an unknown kid.
    try {
      key = ring.active
    } catch (error) {
      if (error instanceof TokenUnknownKeyError) return error
      throw error
    }
  } else if (typeof kid === 'string') {
    key = ring.get(kid)
  } else {
    return new TokenMalformedError('The token header "kid" is not a string')
  }
  if (key === undefined)
    return new TokenUnknownKeyError('The token was signed with a key this server does not know')
  // The algorithm is pinned by the key, never chosen by the token (RFC 8725 §3.1; alg confusion).
  if (alg !== key.alg) {
    return new TokenAlgorithmRejectedError(
      Object.hasOwn(ALGORITHMS, alg)
        ? `The token's algorithm ${alg} is not the key's algorithm`
        : `The token's algorithm is not supported`,
    )
  }
  // One header object is shared by every token with this header segment: frozen, so a caller that
  // modifies `request.jwt.header` cannot change what other requests see.
  return { header: deepFreeze(header) as JwtHeader, key }
}

function parseSegment(
  segment: string,
  part: 'header' | 'payload',
): Record<string, unknown> | TokenMalformedError {
  let value: unknown
  try {
    value = JSON.parse(utf8.decode(Buffer.from(segment, 'base64url')))
  } catch {
    return new TokenMalformedError(`The token ${part} is not base64url-encoded UTF-8 JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return new TokenMalformedError(`The token ${part} is not a JSON object`)
  }
  return value as Record<string, unknown>
}

/**
 * Fingerprints of signatures verified once, in a fixed table (a power of two at least as large as the
 * cache): {@link Doorkeeper.admit} is true when the same fingerprint is already there (the token was
 * verified before, and not long ago: later signatures overwrite the slot), and otherwise remembers it.
 * Only signatures that verified reach it, and a collision only admits a token one verification early.
 */
class Doorkeeper {
  readonly #slots: Int32Array
  readonly #mask: number
  readonly #bits: number
  constructor(size: number) {
    this.#bits = Math.max(4, Math.ceil(Math.log2(size)))
    this.#slots = new Int32Array(1 << this.#bits)
    this.#mask = (1 << this.#bits) - 1
  }
  admit(signature: string): boolean {
    // A verified signature is at least 43 base64url characters of MAC or signature bytes: its first
    // eight characters are as good as a hash of it.
    let hash = 0
    for (let i = 0; i < 8; i++) hash = (Math.imul(hash, 31) + signature.charCodeAt(i)) | 0
    const slot = hash & this.#mask
    const tag = (hash >>> this.#bits) | 1
    if (this.#slots[slot] === tag) {
      this.#slots[slot] = 0
      return true
    }
    this.#slots[slot] = tag
    return false
  }
  clear(): void {
    this.#slots.fill(0)
  }
}

/** A copy of `text` that shares no memory with the string it was sliced from (base64url is ASCII). */
function detached(text: string): string {
  return Buffer.from(text, 'latin1').toString('latin1')
}

// Iterative, not recursive: a header is frozen before its signature is checked, and a deeply nested
// one must not overflow the stack (a RangeError would surface as a 500 instead of a 401).
function deepFreeze<T>(value: T): T {
  const pending: unknown[] = [value]
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    if (typeof item === 'object' && item !== null && !Object.isFrozen(item)) {
      Object.freeze(item)
      for (const member of Object.values(item)) pending.push(member)
    }
  }
  return value
}

/**
 * Decodes a token's header and payload **without verifying anything**: no signature, no expiry, no
 * revocation. For tooling and debugging only; never use the result to authorise a request.
 */
export function decodeUnverified(token: string): { header: JwtHeader; payload: Record<string, unknown> } {
  if (typeof token !== 'string') throw new TokenMalformedError('The token is not a string')
  const parts = token.split('.')
  if (parts.length !== 3) throw new TokenMalformedError('The token is not three segments joined by dots')
  const header = parseSegment(parts[0] ?? '', 'header')
  if (header instanceof TokenMalformedError) throw header
  if (typeof header.alg !== 'string') throw new TokenMalformedError('The token header has no "alg"')
  const payload = parseSegment(parts[1] ?? '', 'payload')
  if (payload instanceof TokenMalformedError) throw payload
  return { header: header as JwtHeader, payload }
}
