/**
 * The signing-key repository: keys with their private JWK (exported by the core's `exportKey`), one
 * of them active. Every instance builds its key ring from here, so a rotation reaches all of them.
 *
 * The private JWK is stored as plain JSON text: protect the database as you would the key files
 * (the SQLite file is created with mode 0600).
 */
import type { JsonWebKey } from 'node:crypto'
import type { Kysely } from 'kysely'
import {
  ALGORITHMS,
  ConfigurationError,
  createKeyRing,
  exportKey,
  importKey,
  isAlgorithm,
  type KeyRing,
  type TesseraKey,
} from 'tessera'
import { nowSeconds, optionalSeconds, seconds, type TesseraDatabase } from './schema.js'
import { inTransaction } from './transaction.js'

/** A stored key's metadata (never its material). Times are Unix seconds. */
export interface StoredKeyInfo {
  kid: string
  alg: string
  createdAt: number
  activatedAt: number | null
  retiredAt: number | null
  /** True for the one key that signs. */
  active: boolean
}

/** The keys loaded from the store, ready for `createKeyRing(keys, { active: activeKid })`. */
export interface LoadedKeys {
  keys: TesseraKey[]
  /** The active key's kid, or `undefined` when no key was ever activated. */
  activeKid: string | undefined
}

/** The key repository returned by {@link keyStore}. */
export interface KeyStore {
  /** Stores a key that can sign (its private material included); `activate` makes it the signer. */
  save(key: TesseraKey, options?: { activate?: boolean; now?: number }): Promise<void>
  /** Makes `kid` the signer and retires the previous one, in one transaction; false when unknown. */
  activate(kid: string, now?: number): Promise<boolean>
  /** Every stored key's metadata, the active one first, then newest first. */
  list(): Promise<StoredKeyInfo[]>
  /** Imports every stored key. */
  load(): Promise<LoadedKeys>
  /** A key ring of every stored key with the active one signing, or `undefined` when none is active. */
  loadRing(): Promise<KeyRing | undefined>
  /**
   * Brings a running ring up to date: adds stored keys it lacks, drops keys no longer stored and
   * switches to the stored active key. Returns true when the ring changed.
   */
  syncRing(ring: KeyRing): Promise<boolean>
  /** Deletes keys retired more than `maxAgeSeconds` ago (use the refresh token lifetime); returns their kids. */
  pruneRetired(maxAgeSeconds: number, now?: number): Promise<string[]>
}

/**
 * The key repository over `db` (a Kysely instance or a transaction).
 *
 * @example
 * const keys = keyStore(db)
 * await keys.save(await generateKey('EdDSA'), { activate: true })
 * const ring = await keys.loadRing()
 */
export function keyStore(db: Kysely<TesseraDatabase>): KeyStore {
  const activate = (kid: string, now = nowSeconds()): Promise<boolean> =>
    inTransaction(db, async (trx) => {
      const chosen = await trx
        .updateTable('signing_keys')
        .set({ activated_at: now, retired_at: null })
        .where('kid', '=', kid)
        .executeTakeFirst()
      if (chosen.numUpdatedRows === 0n) return false
      await trx
        .updateTable('signing_keys')
        .set({ retired_at: now })
        .where('kid', '!=', kid)
        .where('activated_at', 'is not', null)
        .where('retired_at', 'is', null)
        .execute()
      return true
    })

  const load = async (): Promise<LoadedKeys> => {
    const rows = await db
      .selectFrom('signing_keys')
      .selectAll()
      .orderBy('created_at')
      .orderBy('kid')
      .execute()
    const keys = rows.map((row) => toKey(row.kid, row.alg, row.private_jwk))
    const active = rows.find((row) => row.activated_at !== null && row.retired_at === null)
    return { keys, activeKid: active?.kid }
  }

  return {
    async save(key, { activate: makeActive = false, now = nowSeconds() } = {}) {
      if (!key.canSign) throw new ConfigurationError('key', 'only keys with private material can be stored')
      const { jwk } = exportKey(key, { includePrivate: true })
      await inTransaction(db, async (trx) => {
        await trx
          .insertInto('signing_keys')
          .values({ kid: key.kid, alg: key.alg, private_jwk: JSON.stringify(jwk), created_at: now })
          .execute()
        if (makeActive) await keyStore(trx).activate(key.kid, now)
      })
    },
    activate,
    async list() {
      const rows = await db
        .selectFrom('signing_keys')
        .select(['kid', 'alg', 'created_at', 'activated_at', 'retired_at'])
        .execute()
      return rows
        .map((row) => ({
          kid: row.kid,
          alg: row.alg,
          createdAt: seconds(row.created_at),
          activatedAt: optionalSeconds(row.activated_at),
          retiredAt: optionalSeconds(row.retired_at),
          active: row.activated_at !== null && row.retired_at === null,
        }))
        .sort((a, b) => Number(b.active) - Number(a.active) || b.createdAt - a.createdAt)
    },
    load,
    async loadRing() {
      const { keys, activeKid } = await load()
      return activeKid === undefined ? undefined : createKeyRing(keys, { active: activeKid })
    },
    async syncRing(ring) {
      const { keys, activeKid } = await load()
      const before = ring.version
      for (const key of keys) if (ring.get(key.kid) === undefined) ring.add(key)
      const next = activeKid === undefined ? undefined : ring.get(activeKid)
      if (next !== undefined && ring.active.kid !== next.kid) await ring.rotate(next)
      const stored = new Set(keys.map((k) => k.kid))
      for (const entry of ring.entries()) {
        if (!stored.has(entry.key.kid) && entry.key !== ring.active) ring.remove(entry.key.kid)
      }
      return ring.version !== before
    },
    async pruneRetired(maxAgeSeconds, now = nowSeconds()) {
      const rows = await db
        .deleteFrom('signing_keys')
        .where('retired_at', 'is not', null)
        .where('retired_at', '<', now - maxAgeSeconds)
        .returning('kid')
        .execute()
      return rows.map((row) => row.kid)
    },
  } satisfies KeyStore
}

function toKey(kid: string, alg: string, text: string): TesseraKey {
  if (!isAlgorithm(alg)) throw new ConfigurationError(`signing_keys.${kid}`, `unsupported algorithm ${alg}`)
  const jwk = JSON.parse(text) as JsonWebKey
  if (ALGORITHMS[alg].family === 'hmac') {
    return importKey({ alg, kid, secret: Buffer.from(jwk.k ?? '', 'base64url') }, `signing_keys.${kid}`)
  }
  return importKey({ alg, kid, privateKey: jwk }, `signing_keys.${kid}`)
}
