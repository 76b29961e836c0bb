/**
 * The unit of work: the one way the server changes state. A unit runs in one database transaction;
 * inside it, `tx.revoke(entry)` writes a revocation durably and `tx.audit(event)` writes an audit
 * event, both in the transaction of the change they belong to. Only after the commit are the
 * revocations handed to the publisher (the in-memory replica, and Redis through it) and the events to
 * the log: a rolled-back or retried attempt publishes nothing.
 *
 * @example
 * const ended = await work.run(async (tx) => {
 *   const session = await tx.sessions.revoke(sid, { reason: 'logout' })
 *   if (session !== undefined) await tx.revoke(entries.session(session))
 *   await tx.audit({ event: 'logout', userId, ip })
 *   return session
 * })
 */
import { applyRevocation, type MemoryRevocationStore, type RevocationEntry } from 'tessera'
import type { NewAuditEvent } from '../stores/sql/audit.js'
import type { SqlStores } from '../stores/sql/stores.js'
import { nowSeconds } from '../time.js'
import type { ServerMetrics } from './metrics.js'

/** The repositories of one transaction, and the two effects recorded with it. */
export interface UnitOfWork extends Omit<SqlStores, 'revocations' | 'audit' | 'transaction'> {
  /** Writes `entry` to the `revocations` table now; publishes it after the commit. */
  revoke(entry: RevocationEntry): Promise<void>
  /** Writes an audit event now; logs it after the commit. */
  audit(event: NewAuditEvent): Promise<void>
}

/** Runs units of work. */
export interface UnitOfWorkRunner {
  /**
   * Runs `fn` in one transaction (retried as a whole on a lock conflict, so `fn` must have no effect
   * outside the database), then publishes its revocations and logs its events; returns `fn`'s result.
   */
  run<T>(fn: (tx: UnitOfWork) => Promise<T>): Promise<T>
}

/** Options of {@link createUnitOfWork}. */
export interface UnitOfWorkOptions {
  stores: SqlStores
  /** Receives the revocations of each committed unit (not called when there are none). */
  publish?: (entries: readonly RevocationEntry[]) => void
  /** Receives each committed audit event (the structured log). */
  log?: (event: NewAuditEvent) => void
}

/** A runner over `stores`. */
export function createUnitOfWork(options: UnitOfWorkOptions): UnitOfWorkRunner {
  const { stores, publish, log } = options
  return {
    async run(fn) {
      let revoked: RevocationEntry[] = []
      let events: NewAuditEvent[] = []
      const result = await stores.transaction(async (trx) => {
        // A retried attempt starts over: only the committed attempt's effects are published.
        revoked = []
        events = []
        const tx: UnitOfWork = {
          db: trx.db,
          users: trx.users,
          sessions: trx.sessions,
          keys: trx.keys,
          async revoke(entry) {
            await applyRevocation(trx.revocations, entry)
            revoked.push(entry)
          },
          async audit(event) {
            const recorded = { ...event, at: event.at ?? nowSeconds() }
            await trx.audit.record(recorded)
            events.push(recorded)
          },
        }
        return fn(tx)
      })
      if (revoked.length > 0) publish?.(revoked)
      if (log !== undefined) for (const event of events) log(event)
      return result
    },
  }
}

/**
 * The publisher of a server instance: committed revocations go to its replica (which, with Redis,
 * also writes and announces them) and are counted.
 */
export function replicaPublisher(
  replica: MemoryRevocationStore,
  metrics: Pick<ServerMetrics, 'revocations'>,
): (entries: readonly RevocationEntry[]) => void {
  return (entries) => {
    for (const entry of entries) {
      void applyRevocation(replica, entry)
      metrics.revocations.inc({ grain: entry.kind })
    }
  }
}
