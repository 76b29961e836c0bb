/**
 * Every SQL repository over one database, and a way to run several of them in one transaction
 * (logout, user delete, password change).
 */
import type { Kysely } from 'kysely'
import { auditStore, type AuditStore } from './audit.js'
import { sqlRevocationStore, type SqlRevocationStore } from 'tessera/sql'
import type { TesseraDatabase } from './schema.js'
import { sessionStore, type SessionStore } from './sessions.js'
import { keyStore, type KeyStore } from './signing-keys.js'
import { inTransaction } from './transaction.js'
import { userStore, type UserStore } from './users.js'

/** The repositories returned by {@link sqlStores}. */
export interface SqlStores {
  readonly db: Kysely<TesseraDatabase>
  readonly users: UserStore
  readonly sessions: SessionStore
  readonly revocations: SqlRevocationStore
  readonly keys: KeyStore
  readonly audit: AuditStore
  /**
   * Runs `fn` with repositories bound to one transaction (joined when already inside one). It may be
   * retried on a lock conflict, so keep effects outside the database (e.g. the in-memory revocation
   * replica) until it has returned.
   */
  transaction<T>(fn: (stores: SqlStores) => Promise<T>): Promise<T>
}

/**
 * Every repository over `db`.
 *
 * @example
 * const stores = sqlStores(db)
 * const ended = await stores.transaction(async (tx) => {
 *   const revoked = await tx.sessions.revokeAllForUser(userId, { reason: 'logout_all' })
 *   for (const s of revoked) await tx.revocations.revokeSession(s.id, s.expiresAt)
 *   return revoked
 * })
 */
export function sqlStores(db: Kysely<TesseraDatabase>): SqlStores {
  return {
    db,
    users: userStore(db),
    sessions: sessionStore(db),
    revocations: sqlRevocationStore(db),
    keys: keyStore(db),
    audit: auditStore(db),
    transaction: (fn) => inTransaction(db, (trx) => fn(sqlStores(trx))),
  }
}
