/**
 * One transaction runner for every multi-step change, retried when the database reports a conflict
 * that a fresh attempt resolves (SQLite busy/locked, PostgreSQL serialization failure or deadlock).
 */
import type { Kysely } from 'kysely'

/** Options of {@link inTransaction}. */
export interface TransactionOptions {
  /** Attempts before the conflict is rethrown. @default 40 */
  attempts?: number
}

// SQLite extended codes arrive as e.g. SQLITE_BUSY_SNAPSHOT; PostgreSQL SQLSTATE 40001 / 40P01.
const RETRYABLE = /^(SQLITE_BUSY|SQLITE_LOCKED)(_|$)|^40001$|^40P01$/

/** True when `error` is a transient lock or serialization conflict worth retrying. */
function isRetryableConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && RETRYABLE.test(code)
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms))

/**
 * Runs `fn` in one transaction and returns its result; rolls back on any error. Inside a transaction
 * already, `fn` simply joins it. On a retryable conflict the whole transaction is run again after a
 * short random pause (which lets another connection in this process finish), so `fn` must have no
 * effect outside the database.
 *
 * @example await inTransaction(db, async (trx) => { await users(trx).delete(id); await audit(trx).record(…) })
 */
export async function inTransaction<DB, T>(
  db: Kysely<DB>,
  fn: (trx: Kysely<DB>) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  if (db.isTransaction) return fn(db)
  const attempts = options.attempts ?? 40
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(fn)
    } catch (error) {
      // SQLite reports busy before any change and keeps the transaction open for Kysely's rollback: at
      // the first write of a transaction that starts with one, or (SQLITE_BUSY_SNAPSHOT) at the first
      // write of one that read first (a login) while another connection wrote since. The whole
      // transaction then runs again, reading afresh.
      if (attempt >= attempts || !isRetryableConflict(error)) throw error
      await sleep(Math.random() * Math.min(2 ** attempt, 50))
    }
  }
}
