/**
 * The refresh rotation state machine, as one transaction:
 *
 * 1. Compare-and-swap: `UPDATE … SET current_jti = new WHERE id = sid AND current_jti = presented`
 *    on a live session. One row changed: rotated. Two concurrent rotations of one token cannot both
 *    match, so a family is never double-rotated.
 * 2. Otherwise lock the row and read its latest committed state in one portable statement (a no-op
 *    `UPDATE … RETURNING`; on SQLite it takes the write lock, on PostgreSQL the row lock), then
 *    classify: gone, revoked, expired, the grace window, or reuse (which revokes the family here).
 */
import type { Kysely } from 'kysely'
import { nowSeconds } from '../../time.js'
import { optionalSeconds, seconds, type TesseraDatabase } from './schema.js'
import { inTransaction } from './transaction.js'

/** Input of a refresh rotation. Times are Unix seconds. */
export interface RotateInput {
  /** The session (`sid`) named by the presented refresh token. */
  sid: string
  /** `jti` of the presented (verified) refresh token. */
  presentedJti: string
  /** `jti` of the refresh token the caller will issue if the rotation succeeds. */
  newJti: string
  /** `exp` of that new refresh token; becomes the session's expiry. */
  newExpiresAt: number
  /** @default the current time */
  now?: number
  /** How long after a rotation the spent token still yields the same successor (two tabs). */
  graceSeconds: number
}

/**
 * Outcome of a rotation:
 * - `rotated`: the presented token was current; issue `newJti`.
 * - `grace`: it was spent by a rotation less than `graceSeconds` ago; issue a token with the SAME
 *   `successorJti` and `expiresAt`, so the family stays one.
 * - `reuse`: a spent token outside the grace window (or of an older generation): theft. The session
 *   is now revoked; revoke its tokens until `expiresAt` and log the event.
 * - `revoked`, `expired`, `not_found`: refuse the refresh.
 */
export type RotateResult =
  | { status: 'rotated'; userId: number; generation: number }
  | { status: 'grace'; userId: number; generation: number; successorJti: string; expiresAt: number }
  | { status: 'reuse'; userId: number; expiresAt: number }
  | { status: 'revoked' }
  | { status: 'expired' }
  | { status: 'not_found' }

/** Runs the rotation state machine for one presented refresh token, atomically. */
export async function rotateSession(db: Kysely<TesseraDatabase>, input: RotateInput): Promise<RotateResult> {
  const { sid, presentedJti, newJti, newExpiresAt, graceSeconds } = input
  const now = input.now ?? nowSeconds()
  if (presentedJti === '' || newJti === '' || newJti === presentedJti) {
    throw new TypeError('rotate needs two distinct, non-empty jti values')
  }
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) {
    throw new RangeError('graceSeconds must be a non-negative number')
  }

  return inTransaction(db, async (trx) => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const rotated = await trx
        .updateTable('sessions')
        .set((eb) => ({
          current_jti: newJti,
          previous_jti: presentedJti,
          generation: eb('generation', '+', 1),
          rotated_at: now,
          last_used_at: now,
          expires_at: newExpiresAt,
        }))
        .where('id', '=', sid)
        .where('current_jti', '=', presentedJti)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .returning(['generation', 'user_id'])
        .executeTakeFirst()
      if (rotated !== undefined) {
        return { status: 'rotated', userId: rotated.user_id, generation: rotated.generation }
      }

      const row = await trx
        .updateTable('sessions')
        .set((eb) => ({ generation: eb.ref('generation') }))
        .where('id', '=', sid)
        .returningAll()
        .executeTakeFirst()
      if (row === undefined) return { status: 'not_found' }
      if (row.revoked_at !== null) return { status: 'revoked' }
      const userId = row.user_id
      const expiresAt = seconds(row.expires_at)
      if (expiresAt <= now) return { status: 'expired' }
      // Only possible if the row changed between the two statements: run the compare-and-swap again.
      if (row.current_jti === presentedJti) continue
      const rotatedAt = optionalSeconds(row.rotated_at)
      // Times are whole seconds: without the `> 0`, a grace of 0 would still forgive a replay made in the
      // same second as the rotation. 0 means no grace at all.
      if (
        graceSeconds > 0 &&
        row.previous_jti === presentedJti &&
        rotatedAt !== null &&
        now - rotatedAt <= graceSeconds
      ) {
        return {
          status: 'grace',
          userId,
          generation: row.generation,
          successorJti: row.current_jti,
          expiresAt,
        }
      }
      await trx
        .updateTable('sessions')
        .set({ revoked_at: now, revoked_reason: 'refresh_reuse' })
        .where('id', '=', sid)
        .where('revoked_at', 'is', null)
        .execute()
      return { status: 'reuse', userId, expiresAt }
    }
    throw new Error(`the rotation of session ${sid} did not settle`)
  })
}
