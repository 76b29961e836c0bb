/**
 * The durable revocation store in SQL (`tessera/sql`). Upserts keep the largest expiry (and, for
 * users, the largest "revoked before" time), so replays and out-of-order writes never shorten a
 * revocation.
 *
 * The driver is the caller's: pass a Kysely instance over SQLite or PostgreSQL. Only Kysely's types
 * are imported here, so this module loads no database driver.
 */
import type { ColumnType, Kysely } from 'kysely'
import type { RevocationSubject } from '../../core/revocation.js'
import { nowSeconds, wholeSecondsUp } from '../../core/time.js'
import type { DurableRevocationStore, RevocationEntry } from '../replicated-revocation.js'

/** A `bigint` column: written as a number, read as whatever the driver returns. */
export type BigIntColumn = ColumnType<number | string | bigint, number, number>
/** A nullable `bigint` column. */
export type NullableBigIntColumn = ColumnType<
  number | string | bigint | null,
  number | null | undefined,
  number | null
>

/** The three revocation grains of the core's `RevocationStore`. */
export type RevocationKind = 'token' | 'session' | 'user'

/** `revocations`: the durable copy of the revocation set, primary key (kind, id). */
export interface RevocationsTable {
  kind: RevocationKind
  /** A `jti`, a `sid` or a `sub`. */
  id: string
  /** Users only: tokens issued before this time are revoked. */
  before: NullableBigIntColumn
  /** When the entry can be forgotten (the longest token it can affect has expired). */
  expires_at: BigIntColumn
}

/** The one table this store needs; a database with more tables (the server's) fits too. */
export interface RevocationsDatabase {
  revocations: RevocationsTable
}

/** Normalises a `bigint` column value (number, numeric string or bigint) to a JS number of seconds. */
export function seconds(value: number | string | bigint): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n)) throw new RangeError(`not a safe integer time: ${String(value)}`)
  return n
}

/** {@link seconds} for nullable columns. */
export function optionalSeconds(value: number | string | bigint | null): number | null {
  return value === null ? null : seconds(value)
}

/**
 * Creates the `revocations` table and its expiry index when they do not exist (SQLite and
 * PostgreSQL), as the auth server's first migration does (which also checks `kind`); call this only
 * when you use `tessera/sql` without the server.
 *
 * @example await createRevocationsTable(db)
 */
export async function createRevocationsTable<DB extends RevocationsDatabase>(db: Kysely<DB>): Promise<void> {
  await db.schema
    .createTable('revocations')
    .ifNotExists()
    .addColumn('kind', 'text', (col) => col.notNull())
    .addColumn('id', 'text', (col) => col.notNull())
    .addColumn('before', 'bigint')
    .addColumn('expires_at', 'bigint', (col) => col.notNull())
    .addPrimaryKeyConstraint('revocations_pkey', ['kind', 'id'])
    .execute()
  await db.schema
    .createIndex('revocations_expires_at_idx')
    .ifNotExists()
    .on('revocations')
    .column('expires_at')
    .execute()
}

/** The store returned by {@link sqlRevocationStore}. */
export interface SqlRevocationStore extends DurableRevocationStore {
  /** Answers with a query: fine for tools, too slow for the verify path (use a replica there). */
  isRevoked(subject: RevocationSubject): Promise<boolean>
  revokeToken(jti: string, expiresAt: number): Promise<void>
  revokeSession(sid: string, expiresAt: number): Promise<void>
  revokeUser(sub: string, before: number, expiresAt: number): Promise<void>
  /** Deletes entries that expired before `now`; returns how many. */
  purgeExpired(now?: number): Promise<number>
}

/**
 * The core's `RevocationStore`, kept durably in the `revocations` table. The database stays the
 * caller's: this store never closes it.
 *
 * @example const durable = sqlRevocationStore(db); await durable.revokeSession(sid, exp)
 */
export function sqlRevocationStore<DB extends RevocationsDatabase>(database: Kysely<DB>): SqlRevocationStore {
  // Kysely's instance type is invariant in its schema; this store touches only `revocations`.
  const db = database as unknown as Kysely<RevocationsDatabase>
  const upsert = async (
    kind: RevocationKind,
    id: string,
    expiresAt: number,
    before: number | null,
  ): Promise<void> => {
    await db
      .insertInto('revocations')
      .values({
        kind,
        id,
        before: before === null ? null : wholeSecondsUp(before, 'before'),
        expires_at: wholeSecondsUp(expiresAt, 'expiresAt'),
      })
      .onConflict((oc) =>
        oc.columns(['kind', 'id']).doUpdateSet((eb) => ({
          // CASE rather than max()/GREATEST(): the same SQL on SQLite and PostgreSQL.
          expires_at: eb
            .case()
            .when('excluded.expires_at', '>', eb.ref('revocations.expires_at'))
            .then(eb.ref('excluded.expires_at'))
            .else(eb.ref('revocations.expires_at'))
            .end(),
          before: eb
            .case()
            .when('revocations.before', 'is', null)
            .then(eb.ref('excluded.before'))
            .when('excluded.before', '>', eb.ref('revocations.before'))
            .then(eb.ref('excluded.before'))
            .else(eb.ref('revocations.before'))
            .end(),
        })),
      )
      .execute()
  }

  return {
    async isRevoked({ jti, sid, sub, iat }) {
      if (jti === undefined && sid === undefined && sub === undefined) return false
      const row = await db
        .selectFrom('revocations')
        .select('kind')
        .where('expires_at', '>=', nowSeconds())
        .where((eb) => {
          const grains = []
          if (jti !== undefined) grains.push(eb.and([eb('kind', '=', 'token'), eb('id', '=', jti)]))
          if (sid !== undefined) grains.push(eb.and([eb('kind', '=', 'session'), eb('id', '=', sid)]))
          if (sub !== undefined) {
            grains.push(eb.and([eb('kind', '=', 'user'), eb('id', '=', sub), eb('before', '>', iat ?? 0)]))
          }
          return eb.or(grains)
        })
        .limit(1)
        .executeTakeFirst()
      return row !== undefined
    },
    revokeToken: (jti, expiresAt) => upsert('token', jti, expiresAt, null),
    revokeSession: (sid, expiresAt) => upsert('session', sid, expiresAt, null),
    revokeUser: (sub, before, expiresAt) => upsert('user', sub, expiresAt, before),
    async loadLive(now = nowSeconds()) {
      const rows = await db.selectFrom('revocations').selectAll().where('expires_at', '>=', now).execute()
      return rows.map((row): RevocationEntry => {
        const expiresAt = seconds(row.expires_at)
        return row.kind === 'user'
          ? { kind: 'user', id: row.id, before: optionalSeconds(row.before) ?? 0, expiresAt }
          : { kind: row.kind, id: row.id, expiresAt }
      })
    },
    async purgeExpired(now = nowSeconds()) {
      const result = await db.deleteFrom('revocations').where('expires_at', '<', now).executeTakeFirst()
      return Number(result.numDeletedRows)
    },
  } satisfies SqlRevocationStore
}
