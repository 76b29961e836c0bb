/**
 * The signing-key repository: keys with their private JWK (exported by the core's `exportKey`), one
 * of them active. Every instance builds its key ring from here, so a rotation reaches all of them.
 *
 * The private JWK is stored as plain JSON text: protect the database as you would the key files
 * (the SQLite file is created with mode 0600).
 */
import type { JsonWebKey } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
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
import { nowSeconds } from '../../time.js'
import { dialectOf } from './dialect.js'
import { optionalSeconds, seconds, type TesseraDatabase } from './schema.js'
import { inTransaction } from './transaction.js'

/**
 * Where a stored key is in its life, at a given time:
 * - `generated`: stored, published, verifying, never scheduled to sign;
 * - `pending`: published and verifying, signs from `activatedAt` on (a scheduled rotation);
 * - `active`: the one key that signs;
 * - `retired`: verifies the tokens it signed until pruned;
 * - `revoked`: out of the JWKS and every ring, its tokens refused; material erased.
 */
export type KeyState = 'generated' | 'pending' | 'active' | 'retired' | 'revoked'

/** A stored key's metadata (never its material). Times are Unix seconds. */
export interface StoredKeyInfo {
  kid: string
  alg: string
  state: KeyState
  createdAt: number
  /** When it starts (pending) or started signing. */
  activatedAt: number | null
  /** When it stops (a successor is pending) or stopped signing. */
  retiredAt: number | null
  revokedAt: number | null
  /** True for the one key that signs. */
  active: boolean
}

/** The keys loaded from the store, ready for `createKeyRing(keys, { active: activeKid })`. */
export interface LoadedKeys {
  /** Every key but the revoked ones: pending and retired keys verify and are published. */
  keys: TesseraKey[]
  /** The active key's kid, or `undefined` when no key was ever activated. */
  activeKid: string | undefined
}

/** What {@link KeyStore.revoke} did. */
export type RevokeResult = 'revoked' | 'already_revoked' | 'unknown' | 'active'

/** The key repository returned by {@link keyStore}. */
export interface KeyStore {
  /** Stores a key that can sign (its private material included); `activate` makes it the signer now. */
  save(key: TesseraKey, options?: { activate?: boolean; now?: number }): Promise<void>
  /**
   * Makes `kid` the signer from `at` on (default now; a later time schedules a rotation) and ends the
   * turn of every other key still signing or pending at `at`, in one transaction. False when the key
   * is unknown or revoked.
   */
  activate(kid: string, at?: number): Promise<boolean>
  /**
   * Revokes `kid`: every instance drops it from its ring and JWKS on its next refresh, and its private
   * material is erased. Refuses the active key (`'active'`: rotate with `--now` first). Revoking a
   * pending key cancels its rotation: the key it would have replaced keeps signing.
   */
  revoke(kid: string, now?: number): Promise<RevokeResult>
  /** Every stored key's metadata at `now`, the active one first, then newest first. */
  list(now?: number): Promise<StoredKeyInfo[]>
  /** Imports every key that is not revoked; the active one is the signer at `now`. */
  load(now?: number): Promise<LoadedKeys>
  /** A key ring of every usable key with the active one signing, or `undefined` when none is active. */
  loadRing(now?: number): Promise<KeyRing | undefined>
  /**
   * Brings a running ring up to date: adds stored keys it lacks, drops keys no longer stored (pruned or
   * revoked) and switches to the key active at `now`. Returns true when the ring changed.
   */
  syncRing(ring: KeyRing, now?: number): Promise<boolean>
  /**
   * Deletes keys retired (or revoked) more than `maxAgeSeconds` before `now`: use the refresh token
   * lifetime plus the leeway. Idempotent, safe from any number of instances at once. Returns their kids.
   */
  pruneRetired(maxAgeSeconds: number, now?: number): Promise<string[]>
  /**
   * Inside a transaction: waits for, then holds until it ends, the lock that every decision about which
   * key signs takes (a rotation, the first key of a database), so two instances, or an instance and the
   * CLI, deciding at once cannot both add a key. Held for milliseconds: reads go on meanwhile; writes
   * wait for it (on PostgreSQL those to `signing_keys`, a refresh's prune; on SQLite every write, and in
   * the process holding it, whose one connection runs the transaction, every statement).
   */
  lockForChange(): Promise<void>
}

interface KeyRow {
  kid: string
  activated_at: number | string | bigint | null
  retired_at: number | string | bigint | null
  revoked_at: number | string | bigint | null
}

/** The state of a stored key at `now`. */
function stateOf(row: KeyRow, now: number): KeyState {
  if (row.revoked_at !== null) return 'revoked'
  const activatedAt = optionalSeconds(row.activated_at)
  const retiredAt = optionalSeconds(row.retired_at)
  if (retiredAt !== null && retiredAt <= now) return 'retired'
  if (activatedAt === null) return 'generated'
  return activatedAt > now ? 'pending' : 'active'
}

/** The signer at `now`: of the keys whose turn it is, the one activated last (there is one at most). */
function activeRow<R extends KeyRow>(rows: readonly R[], now: number): R | undefined {
  let best: R | undefined
  for (const row of rows) {
    if (stateOf(row, now) !== 'active') continue
    if (
      best === undefined ||
      (optionalSeconds(row.activated_at) ?? 0) > (optionalSeconds(best.activated_at) ?? 0)
    )
      best = row
  }
  return best
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
  const activate = (kid: string, at = nowSeconds()): Promise<boolean> =>
    inTransaction(db, async (trx) => {
      const chosen = await trx
        .updateTable('signing_keys')
        .set({ activated_at: at, retired_at: null })
        .where('kid', '=', kid)
        .where('revoked_at', 'is', null)
        .executeTakeFirst()
      if (chosen.numUpdatedRows === 0n) return false
      // Every other key whose turn is not over by `at` ends it then: the current signer, and a pending
      // key scheduled later (an emergency rotation overtakes a scheduled one; it never signs).
      await trx
        .updateTable('signing_keys')
        .set({ retired_at: at })
        .where('kid', '!=', kid)
        .where('activated_at', 'is not', null)
        .where('revoked_at', 'is', null)
        .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', at)]))
        .execute()
      return true
    })

  const load = async (now = nowSeconds()): Promise<LoadedKeys> => {
    const rows = await db
      .selectFrom('signing_keys')
      .selectAll()
      .where('revoked_at', 'is', null)
      .orderBy('created_at')
      .orderBy('kid')
      .execute()
    const keys = rows.map((row) => toKey(row.kid, row.alg, row.private_jwk))
    return { keys, activeKid: activeRow(rows, now)?.kid }
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
    revoke: (kid, now = nowSeconds()) =>
      inTransaction(db, async (trx): Promise<RevokeResult> => {
        // Under the rotation lock: a rotation deciding meanwhile (another retirement time for the key
        // this one would have replaced) cannot interleave with the cancellation below.
        await keyStore(trx).lockForChange()
        const rows = await trx
          .selectFrom('signing_keys')
          .select(['kid', 'activated_at', 'retired_at', 'revoked_at'])
          .execute()
        const row = rows.find((r) => r.kid === kid)
        if (row === undefined) return 'unknown'
        if (row.revoked_at !== null) return 'already_revoked'
        if (activeRow(rows, now)?.kid === kid) return 'active'
        const activatedAt = optionalSeconds(row.activated_at)
        if (activatedAt !== null && stateOf(row, now) === 'pending') {
          // Cancel the rotation: the keys whose turn this one would have ended keep theirs until the
          // end of its own turn (a later scheduled key, or never).
          await trx
            .updateTable('signing_keys')
            .set({ retired_at: optionalSeconds(row.retired_at) })
            .where('kid', '!=', kid)
            .where('revoked_at', 'is', null)
            .where('retired_at', '=', activatedAt)
            .execute()
        }
        await trx
          .updateTable('signing_keys')
          .set({ revoked_at: now, private_jwk: '' })
          .where('kid', '=', kid)
          .execute()
        return 'revoked'
      }),
    async list(now = nowSeconds()) {
      const rows = await db
        .selectFrom('signing_keys')
        .select(['kid', 'alg', 'created_at', 'activated_at', 'retired_at', 'revoked_at'])
        .execute()
      const activeKid = activeRow(rows, now)?.kid
      return rows
        .map((row) => ({
          kid: row.kid,
          alg: row.alg,
          state:
            row.kid === activeKid ? 'active' : stateOf(row, now) === 'active' ? 'retired' : stateOf(row, now),
          createdAt: seconds(row.created_at),
          activatedAt: optionalSeconds(row.activated_at),
          retiredAt: optionalSeconds(row.retired_at),
          revokedAt: optionalSeconds(row.revoked_at),
          active: row.kid === activeKid,
        }))
        .sort((a, b) => Number(b.active) - Number(a.active) || b.createdAt - a.createdAt)
    },
    load,
    async loadRing(now) {
      const { keys, activeKid } = await load(now)
      return activeKid === undefined ? undefined : createKeyRing(keys, { active: activeKid })
    },
    async syncRing(ring, now) {
      const { keys, activeKid } = await load(now)
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
        .where((eb) =>
          eb.or([eb('retired_at', '<', now - maxAgeSeconds), eb('revoked_at', '<', now - maxAgeSeconds)]),
        )
        .returning('kid')
        .execute()
      return rows.map((row) => row.kid)
    },
    async lockForChange() {
      if (!db.isTransaction)
        throw new TypeError('lockForChange holds its lock until a transaction ends: call it in one')
      // PostgreSQL: a table lock that conflicts with itself and with writes, not with reads (READ
      // COMMITTED would let two deciders read the same state). SQLite: a write that changes nothing
      // takes the database's one write lock now, before anything is read.
      if (dialectOf(db) === 'postgres')
        await sql`lock table signing_keys in share row exclusive mode`.execute(db)
      else await sql`update signing_keys set kid = kid where 0 = 1`.execute(db)
    },
  } satisfies KeyStore
}

function toKey(kid: string, alg: string, text: string): TesseraKey {
  if (!isAlgorithm(alg)) throw new ConfigurationError(`signing_keys.${kid}`, `unsupported algorithm ${alg}`)
  let jwk: JsonWebKey
  try {
    jwk = JSON.parse(text) as JsonWebKey
  } catch {
    // A row edited by hand or damaged: say which key, not JSON.parse's "Unterminated string" alone.
    throw new ConfigurationError(
      `signing_keys.${kid}`,
      'private_jwk is not valid JSON (edited or damaged): restore the row from a backup, or, unless it is the signing key, "tessera keys revoke" it',
    )
  }
  if (ALGORITHMS[alg].family === 'hmac') {
    return importKey({ alg, kid, secret: Buffer.from(jwk.k ?? '', 'base64url') }, `signing_keys.${kid}`)
  }
  return importKey({ alg, kid, privateKey: jwk }, `signing_keys.${kid}`)
}
