/**
 * The audit log table: an append-only list of security events (register, login, refresh, reuse,
 * logout, revocation, password and role changes, key rotation), each with its subject (the user it is
 * about), its actor (who made the change, when not the subject), and the client's IP and user agent.
 * Details must never carry a password or a whole token; the server decides what goes in.
 */
import type { Kysely, Selectable } from 'kysely'
import { nowSeconds } from '../../time.js'
import { deleteBatch } from './purge.js'
import { seconds, type AuditEventsTable, type TesseraDatabase } from './schema.js'

/**
 * The routine audit events: a user's successful login and refresh, one row each (about 400 bytes with
 * their indexes' entries), most of the log by far, and kept `TESSERA_AUDIT_ROUTINE_RETENTION`, which
 * may be shorter than the `TESSERA_AUDIT_RETENTION` of every other event (refusals, reuse, logouts,
 * password, role and key changes, admin actions). An attacker's successful login with stolen
 * credentials is a routine event too: the shorter retention bounds how far back such a login can be
 * traced. The one list of them (docs/storage.md names the same).
 */
export const ROUTINE_AUDIT_EVENTS: readonly string[] = Object.freeze(['login', 'refresh'])

/** One event to record. */
export interface NewAuditEvent {
  /** The event type, e.g. `login`, `login_failed`, `logout`, `user_updated`. */
  event: string
  /** The subject: the user the event is about. */
  userId?: number | null
  /** Who made the change, when not the subject's own request (an admin). */
  actorId?: number | null
  ip?: string | null
  userAgent?: string | null
  detail?: Record<string, unknown>
  /** Unix seconds. @default now */
  at?: number
  /** The request it came from: written on the event's log line (`reqId`), not stored. */
  requestId?: string | undefined
}

/** One recorded event. */
export interface AuditEvent {
  id: number
  /** Unix seconds. */
  at: number
  event: string
  userId: number | null
  actorId: number | null
  ip: string | null
  userAgent: string | null
  detail: Record<string, unknown> | null
}

/** Filters of {@link AuditStore.list}. */
export interface AuditQuery {
  /** Events whose subject or actor is this user. */
  userId?: number
  event?: string
  /** Events at or after this time (Unix seconds). */
  since?: number
  /** Continues a listing: events with a smaller id. */
  beforeId?: number
  /** 1 to 1000. @default 100 */
  limit?: number
}

/** The audit repository returned by {@link auditStore}. */
export interface AuditStore {
  record(event: NewAuditEvent): Promise<void>
  /** Newest first; `beforeId` continues from the last page. */
  list(query?: AuditQuery): Promise<AuditEvent[]>
  /**
   * Deletes events older than `at`, at most `limit` of them when given, only those of the types in
   * `events` when given (the routine ones, {@link ROUTINE_AUDIT_EVENTS}); returns how many.
   */
  purgeBefore(at: number, limit?: number, options?: { events?: readonly string[] }): Promise<number>
  /** Rows in the table. */
  count(): Promise<number>
}

/**
 * The audit repository over `db` (a Kysely instance or a transaction: record an event in the
 * transaction of the change it describes).
 *
 * @example await auditStore(trx).record({ event: 'refresh_reuse_detected', userId, ip, detail: { session_id } })
 */
export function auditStore(db: Kysely<TesseraDatabase>): AuditStore {
  return {
    async record({
      event,
      userId = null,
      actorId = null,
      ip = null,
      userAgent = null,
      detail,
      at = nowSeconds(),
    }) {
      await db
        .insertInto('audit_events')
        .values({
          at,
          event,
          user_id: userId,
          actor_id: actorId,
          ip,
          user_agent: userAgent,
          detail: detail === undefined ? null : JSON.stringify(detail),
        })
        .execute()
    },
    async list({ userId, event, since, beforeId, limit = 100 } = {}) {
      let query = db
        .selectFrom('audit_events')
        .selectAll()
        .orderBy('id', 'desc')
        .limit(Math.max(1, Math.min(limit, 1000)))
      if (userId !== undefined)
        query = query.where((eb) => eb.or([eb('user_id', '=', userId), eb('actor_id', '=', userId)]))
      if (event !== undefined) query = query.where('event', '=', event)
      if (since !== undefined) query = query.where('at', '>=', since)
      if (beforeId !== undefined) query = query.where('id', '<', beforeId)
      return (await query.execute()).map(toAuditEvent)
    },
    async purgeBefore(at, limit, { events } = {}) {
      if (limit === undefined) {
        if (events?.length === 0) return 0
        let query = db.deleteFrom('audit_events').where('at', '<', at)
        if (events !== undefined) query = query.where('event', 'in', events)
        const result = await query.executeTakeFirst()
        return Number(result.numDeletedRows)
      }
      // A batch, the oldest first, so each call is short and repeatable: an index range of
      // `audit_events_at_idx`, or of `audit_events_event_at_idx` for given types (ordered by `id`,
      // SQLite's planner scanned the whole table by rowid and read to its end whenever fewer than
      // `limit` rows were due); see deleteBatch.
      return deleteBatch(
        db,
        'audit_events',
        { column: 'at', bound: at, ...(events === undefined ? {} : { events }) },
        limit,
      )
    },
    async count() {
      const row = await db
        .selectFrom('audit_events')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .executeTakeFirstOrThrow()
      return Number(row.n)
    },
  } satisfies AuditStore
}

function toAuditEvent(row: Selectable<AuditEventsTable>): AuditEvent {
  return {
    id: row.id,
    at: seconds(row.at),
    event: row.event,
    userId: row.user_id,
    actorId: row.actor_id,
    ip: row.ip,
    userAgent: row.user_agent,
    detail: row.detail === null ? null : (JSON.parse(row.detail) as Record<string, unknown>),
  }
}
