/**
 * The audit log table: an append-only list of security events (register, login, refresh, reuse,
 * logout, revocation, password and role changes, key rotation). Details must never carry a password
 * or a whole token; the server decides what goes in.
 */
import type { Kysely } from 'kysely'
import { nowSeconds, seconds, type TesseraDatabase } from './schema.js'

/** One recorded event. */
export interface AuditEvent {
  id: number
  /** Unix seconds. */
  at: number
  event: string
  userId: number | null
  detail: Record<string, unknown> | null
}

/** The audit repository returned by {@link auditStore}. */
export interface AuditStore {
  record(event: {
    event: string
    userId?: number | null
    detail?: Record<string, unknown>
    at?: number
  }): Promise<void>
  /** Newest first; `beforeId` continues from the last page. */
  list(query?: { userId?: number; limit?: number; beforeId?: number }): Promise<AuditEvent[]>
  /** Deletes events older than `at`; returns how many. */
  purgeBefore(at: number): Promise<number>
}

/**
 * The audit repository over `db` (a Kysely instance or a transaction).
 *
 * @example await auditStore(db).record({ event: 'refresh_reuse', userId, detail: { sid } })
 */
export function auditStore(db: Kysely<TesseraDatabase>): AuditStore {
  return {
    async record({ event, userId = null, detail, at = nowSeconds() }) {
      await db
        .insertInto('audit_events')
        .values({ at, event, user_id: userId, detail: detail === undefined ? null : JSON.stringify(detail) })
        .execute()
    },
    async list({ userId, limit = 100, beforeId } = {}) {
      let query = db
        .selectFrom('audit_events')
        .selectAll()
        .orderBy('id', 'desc')
        .limit(Math.max(1, Math.min(limit, 1000)))
      if (userId !== undefined) query = query.where('user_id', '=', userId)
      if (beforeId !== undefined) query = query.where('id', '<', beforeId)
      const rows = await query.execute()
      return rows.map((row) => ({
        id: row.id,
        at: seconds(row.at),
        event: row.event,
        userId: row.user_id,
        detail: row.detail === null ? null : (JSON.parse(row.detail) as Record<string, unknown>),
      }))
    },
    async purgeBefore(at) {
      const result = await db.deleteFrom('audit_events').where('at', '<', at).executeTakeFirst()
      return Number(result.numDeletedRows)
    },
  } satisfies AuditStore
}
