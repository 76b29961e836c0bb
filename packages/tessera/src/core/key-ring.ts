/**
 * The key ring: one active signing key and older keys kept for verification, each found by `kid`.
 * Rotation makes a new key active while the old one keeps verifying the tokens it signed, so nobody is
 * logged out; {@link KeyRing.prune} drops retired keys once every token they signed has expired.
 */
import { ConfigurationError } from './errors.js'
import { generateKey, importKey, type KeyInput, type PublicJwk, type TesseraKey } from './keys.js'
import { nowSeconds } from './time.js'

/** A JSON Web Key Set of public keys, as served at `/.well-known/jwks.json`. */
export interface Jwks {
  keys: PublicJwk[]
}

/** Metadata the ring keeps beside each key. */
export interface KeyRingEntry {
  key: TesseraKey
  /** Unix seconds when the key was added to the ring. */
  addedAt: number
  /** Unix seconds when the key stopped signing, or `undefined` while it is (or never was) active. */
  retiredAt: number | undefined
}

/** A mutable set of keys with one active signer. Changes bump `version` and notify listeners. */
export interface KeyRing {
  /**
   * The key that signs new tokens, and verifies tokens without a `kid`. In a ring of public keys only
   * (a resource server's), the first key: it verifies and cannot sign.
   */
  readonly active: TesseraKey
  /** Increases on every change; caches keyed on the ring compare it. */
  readonly version: number
  /** The key with this `kid`, or `undefined`. */
  get(kid: string): TesseraKey | undefined
  /** Every key with its metadata, the active one first. */
  entries(): KeyRingEntry[]
  /** Adds a verification key (or a signer to activate later). Refuses a duplicate `kid`. */
  add(key: TesseraKey | KeyInput, options?: { activate?: boolean | undefined }): TesseraKey
  /**
   * Makes `next` (or a newly generated key of the active key's algorithm) the signer. The previous key
   * stays for verification until pruned.
   */
  rotate(next?: TesseraKey | KeyInput): Promise<TesseraKey>
  /** Removes a key. The active key cannot be removed. */
  remove(kid: string): boolean
  /** Removes keys retired more than `maxAgeSeconds` ago (use the refresh token lifetime). Returns their kids. */
  prune(maxAgeSeconds: number, now?: number): string[]
  /** The public keys as a JWKS. HMAC secrets are never published. */
  jwks(): Jwks
  /** Calls `listener` after each change; returns a function that unsubscribes. */
  onChange(listener: () => void): () => void
}

/** What a ring can be built from. */
export type KeyRingInput = TesseraKey | KeyInput | readonly (TesseraKey | KeyInput)[]

/**
 * Builds a key ring. The first key (or the one named by `active`) signs; every key verifies. A ring of
 * public keys only verifies: an engine built on it refuses to create tokens.
 *
 * @example createKeyRing([{ alg: 'EdDSA', privateKey: current }, { alg: 'EdDSA', publicKey: previous }])
 */
export function createKeyRing(input: KeyRingInput, options: { active?: string | undefined } = {}): KeyRing {
  const list = Array.isArray(input)
    ? (input as readonly (TesseraKey | KeyInput)[])
    : [input as TesseraKey | KeyInput]
  if (list.length === 0) throw new ConfigurationError('keys', 'at least one key is required')
  const byKid = new Map<string, KeyRingEntry>()
  const listeners = new Set<() => void>()
  let version = 0

  const toKey = (value: TesseraKey | KeyInput, option: string): TesseraKey =>
    isTesseraKey(value) ? value : importKey(value, option)

  const insert = (key: TesseraKey, option: string): void => {
    if (byKid.has(key.kid)) throw new ConfigurationError(option, `duplicate kid ${JSON.stringify(key.kid)}`)
    byKid.set(key.kid, { key, addedAt: nowSeconds(), retiredAt: undefined })
  }

  list.forEach((value, index) => {
    insert(toKey(value, `keys[${index}]`), `keys[${index}]`)
  })
  const first = byKid.values().next().value as KeyRingEntry
  let active = first.key
  if (options.active !== undefined) {
    const chosen = byKid.get(options.active)
    if (chosen === undefined)
      throw new ConfigurationError('active', `no key has kid ${JSON.stringify(options.active)}`)
    active = chosen.key
  }
  // Public keys only make a verify-only ring (a resource server's); a signer that is not the active key
  // is a mistake in the order of the list, refused here.
  if (!active.canSign && [...byKid.values()].some((e) => e.key.canSign)) {
    throw new ConfigurationError(
      'keys',
      `the active key ${JSON.stringify(active.kid)} cannot sign (no private key)`,
    )
  }

  const changed = (): void => {
    version++
    for (const listener of listeners) listener()
  }

  const activate = (key: TesseraKey): void => {
    if (!key.canSign) throw new ConfigurationError('key', `key ${JSON.stringify(key.kid)} cannot sign`)
    const previous = byKid.get(active.kid)
    if (previous !== undefined && previous.key !== key) previous.retiredAt = nowSeconds()
    const entry = byKid.get(key.kid)
    if (entry !== undefined) entry.retiredAt = undefined
    active = key
  }

  const ring: KeyRing = {
    get active() {
      return active
    },
    get version() {
      return version
    },
    get: (kid) => byKid.get(kid)?.key,
    entries: () => {
      const all = [...byKid.values()]
      return [...all.filter((e) => e.key === active), ...all.filter((e) => e.key !== active)]
    },
    add(value, { activate: makeActive = false } = {}) {
      const key = toKey(value, 'key')
      // Refuse before inserting, so a failed add leaves the ring untouched.
      if (makeActive && !key.canSign)
        throw new ConfigurationError('key', `key ${JSON.stringify(key.kid)} cannot sign`)
      insert(key, 'key')
      if (makeActive) activate(key)
      changed()
      return key
    },
    async rotate(next) {
      const key = next === undefined ? await generateKey(active.alg) : toKey(next, 'key')
      if (!key.canSign) throw new ConfigurationError('key', 'the new signing key has no private material')
      if (byKid.get(key.kid)?.key !== key) insert(key, 'key')
      activate(key)
      changed()
      return key
    },
    remove(kid) {
      if (kid === active.kid)
        throw new ConfigurationError('kid', 'the active signing key cannot be removed; rotate first')
      const removed = byKid.delete(kid)
      if (removed) changed()
      return removed
    },
    prune(maxAgeSeconds, at = nowSeconds()) {
      const dropped: string[] = []
      for (const [kid, entry] of byKid) {
        if (entry.key !== active && entry.retiredAt !== undefined && at - entry.retiredAt > maxAgeSeconds) {
          byKid.delete(kid)
          dropped.push(kid)
        }
      }
      if (dropped.length > 0) changed()
      return dropped
    },
    jwks: () => ({
      keys: [...byKid.values()].flatMap((e) =>
        e.key.publicJwk === undefined ? [] : [{ ...e.key.publicJwk }],
      ),
    }),
    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
  return ring
}

/** True for a key made by {@link importKey} or {@link generateKey}. */
export function isTesseraKey(value: unknown): value is TesseraKey {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as TesseraKey).verify === 'function' &&
    typeof (value as TesseraKey).kid === 'string'
  )
}

/** True for a value built by {@link createKeyRing}. */
export function isKeyRing(value: unknown): value is KeyRing {
  return typeof value === 'object' && value !== null && typeof (value as KeyRing).jwks === 'function'
}
