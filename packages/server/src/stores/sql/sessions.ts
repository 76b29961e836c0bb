/**
 * The session repository: one row per refresh-token family, with the atomic refresh rotation.
 *
 * The jti stored here is not a bearer secret: a refresh token is a signed JWT, and knowing its `jti`
 * does not let anyone forge one.
 */
import type { Kysely, Selectable } from 'kysely'
import { rotateSession, type RotateInput, type RotateResult } from './rotation.js'
import { nowSeconds } from '../../time.js'
import { optionalSeconds, seconds, type SessionsTable, type TesseraDatabase } from './schema.js'

/** Why a session ended. Free text is allowed; these are the reasons Tessera itself writes. */
export type SessionRevokeReason =
  | 'logout'
  | 'logout_all'
  | 'password_change'
  | 'refresh_reuse'
  | 'user_revoked'
  | 'admin'
  | 'session_limit'
  | (string & {})

/** A session (refresh-token family) as stored. Times are Unix seconds. */
export interface SessionRecord {
  id: string
  userId: number
  createdAt: number
  lastUsedAt: number
  /** Expiry of the current refresh token. */
  expiresAt: number
  userAgent: string | null
  ip: string | null
  currentJti: string
  previousJti: string | null
  generation: number
  rotatedAt: number | null
  revokedAt: number | null
  revokedReason: string | null
}

/** What {@link SessionStore.create} needs: the login's first refresh token. */
export interface NewSession {
  /** The `sid` written into the family's tokens. */
  id: string
  userId: number
  /** `jti` of the first refresh token. */
  jti: string
  /** `exp` of the first refresh token. */
  expiresAt: number
  userAgent?: string | null
  ip?: string | null
  /**
   * The `jti` the first refresh token replaces, when the session was opened by exchanging another
   * token for it (a previous system's refresh token): the session counts as rotated from it now, so
   * presenting it again is a rotation's grace or reuse ({@link SessionStore.rotate}).
   */
  predecessorJti?: string | undefined
}

/** A session that was just revoked: revoke its tokens (`revokeSession(id, expiresAt)`) with these. */
export interface RevokedSession {
  id: string
  expiresAt: number
}

/** The session repository returned by {@link sessionStore}. */
export interface SessionStore {
  create(session: NewSession, now?: number): Promise<SessionRecord>
  get(id: string): Promise<SessionRecord | undefined>
  /** The user's live sessions (not revoked, not expired), most recently used first. */
  listForUser(userId: number, now?: number): Promise<SessionRecord[]>
  /** Records use of a live session; false when it is gone, revoked or expired. */
  touch(id: string, now?: number): Promise<boolean>
  /**
   * Revokes one live session, only if it belongs to `userId` when that is given (a user revoking one of
   * their own sessions). Returns it, or `undefined` when nothing live matched.
   */
  revoke(
    id: string,
    options: { reason: SessionRevokeReason; userId?: number; now?: number },
  ): Promise<RevokedSession | undefined>
  /** Revokes every live session of a user except `exceptId`, in one statement. */
  revokeAllForUser(
    userId: number,
    options: { reason: SessionRevokeReason; exceptId?: string; now?: number },
  ): Promise<RevokedSession[]>
  /**
   * Revokes the live sessions of a user, other than `exceptId`, beyond the `keep` most recently used
   * (at most 1,000 per call, so a user with very many pays a bounded amount per login), in one
   * statement.
   */
  revokeBeyond(
    userId: number,
    options: { keep: number; exceptId: string; reason: SessionRevokeReason; now?: number },
  ): Promise<RevokedSession[]>
  /** The atomic refresh rotation; see {@link RotateResult} for the outcomes. */
  rotate(input: RotateInput): Promise<RotateResult>
  /** Deletes sessions expired before `now` (revoked ones included); returns how many. */
  purgeExpired(now?: number): Promise<number>
}

/** Revokes the live sessions (neither revoked nor expired at `now`) the caller's conditions narrow to. */
function revokeLive(db: Kysely<TesseraDatabase>, reason: SessionRevokeReason, now: number) {
  return db
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
}

/**
 * The session repository over `db` (a Kysely instance or a transaction).
 *
 * @example
 * await sessions.create({ id: sid, userId, jti, expiresAt: refreshExp, userAgent, ip })
 * const outcome = await sessions.rotate({ sid, presentedJti, newJti, newExpiresAt, graceSeconds: 10 })
 */
export function sessionStore(db: Kysely<TesseraDatabase>): SessionStore {
  return {
    async create(session, now = nowSeconds()) {
      const row = await db
        .insertInto('sessions')
        .values({
          id: session.id,
          user_id: session.userId,
          created_at: now,
          last_used_at: now,
          expires_at: session.expiresAt,
          user_agent: session.userAgent ?? null,
          ip: session.ip ?? null,
          current_jti: session.jti,
          previous_jti: session.predecessorJti ?? null,
          rotated_at: session.predecessorJti === undefined ? null : now,
          generation: 0,
        })
        .returningAll()
        .executeTakeFirstOrThrow()
      return toSession(row)
    },

    async get(id) {
      const row = await db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst()
      return row === undefined ? undefined : toSession(row)
    },

    async listForUser(userId, now = nowSeconds()) {
      const rows = await db
        .selectFrom('sessions')
        .selectAll()
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .orderBy('last_used_at', 'desc')
        .orderBy('id')
        .execute()
      return rows.map(toSession)
    },

    async touch(id, now = nowSeconds()) {
      const result = await db
        .updateTable('sessions')
        .set({ last_used_at: now })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    async revoke(id, { reason, userId, now = nowSeconds() }) {
      let query = revokeLive(db, reason, now).where('id', '=', id)
      if (userId !== undefined) query = query.where('user_id', '=', userId)
      const row = await query.returning(['id', 'expires_at']).executeTakeFirst()
      return row === undefined ? undefined : { id: row.id, expiresAt: seconds(row.expires_at) }
    },

    async revokeAllForUser(userId, { reason, exceptId, now = nowSeconds() }) {
      let query = revokeLive(db, reason, now).where('user_id', '=', userId)
      if (exceptId !== undefined) query = query.where('id', '!=', exceptId)
      const rows = await query.returning(['id', 'expires_at']).execute()
      return rows.map((row) => ({ id: row.id, expiresAt: seconds(row.expires_at) }))
    },

    async revokeBeyond(userId, { keep, exceptId, reason, now = nowSeconds() }) {
      const rows = await revokeLive(db, reason, now)
        .where('user_id', '=', userId)
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('sessions')
            .select('id')
            .where('user_id', '=', userId)
            .where('id', '!=', exceptId)
            .where('revoked_at', 'is', null)
            .where('expires_at', '>', now)
            .orderBy('last_used_at', 'desc')
            .orderBy('created_at', 'desc')
            .orderBy('id')
            .limit(1_000)
            .offset(keep),
        )
        .returning(['id', 'expires_at'])
        .execute()
      return rows.map((row) => ({ id: row.id, expiresAt: seconds(row.expires_at) }))
    },

    rotate: (input) => rotateSession(db, input),

    async purgeExpired(now = nowSeconds()) {
      const result = await db.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst()
      return Number(result.numDeletedRows)
    },
  } satisfies SessionStore
}

/** Maps a `sessions` row to a {@link SessionRecord}. */
function toSession(row: Selectable<SessionsTable>): SessionRecord {
  return {
    id: row.id,
    userId: row.user_id,
    createdAt: seconds(row.created_at),
    lastUsedAt: seconds(row.last_used_at),
    expiresAt: seconds(row.expires_at),
    userAgent: row.user_agent,
    ip: row.ip,
    currentJti: row.current_jti,
    previousJti: row.previous_jti,
    generation: row.generation,
    rotatedAt: optionalSeconds(row.rotated_at),
    revokedAt: optionalSeconds(row.revoked_at),
    revokedReason: row.revoked_reason,
  }
}
