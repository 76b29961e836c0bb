/**
 * The exchange of a previous system's refresh token (legacy.ts verified it) for a Tessera session,
 * once: the exchange is recorded and its jti revoked in the transaction that creates the session. A
 * second presentation is reuse, and ends the session the first one made.
 */
import type { LegacyToken } from '../legacy.js'
import { ServiceError } from '../errors.js'
import type { ClientInfo, IssuedTokens } from '../service.js'
import { legacySubject } from '../revocations.js'
import type { UnitOfWork } from '../unit-of-work.js'
import { nowSeconds } from '../../time.js'
import { audited, issue, userGone, type ServiceDeps } from './deps.js'

type Outcome =
  | { status: 'exchanged'; tokens: IssuedTokens }
  | { status: 'reuse'; sessionId: string | undefined }
  | { status: 'revoked' | 'ended' | 'user_gone' }

/** A concurrent exchange of the same token committed first: this one is undone entirely. */
class Spent extends Error {}

/** Exchanges `legacy` for a session, or refuses (`refresh_token_reused`, `token_revoked`). */
export async function exchangeLegacy(
  deps: ServiceDeps,
  legacy: LegacyToken,
  client: ClientInfo,
): Promise<IssuedTokens> {
  const { metrics } = deps.ctx
  const count = (outcome: string): void => {
    metrics.legacyTokens.inc({ kind: 'exchange', outcome })
  }
  const outcome = await exchangeOnce(deps, legacy, client)
  switch (outcome.status) {
    case 'exchanged':
      count('exchanged')
      return outcome.tokens
    case 'reuse':
      await endReusedSession(deps, legacy, outcome.sessionId, client)
      count('reused')
      metrics.refreshReuse.inc()
      throw new ServiceError('refresh_token_reused')
    case 'revoked':
      count('revoked')
      throw new ServiceError('token_revoked', 'This refresh token was revoked by the previous system')
    case 'ended':
      count('revoked')
      throw new ServiceError(
        'token_revoked',
        'This refresh token was revoked (a logout everywhere or a password change since)',
      )
    case 'user_gone':
      count('refused')
      throw userGone()
  }
}

/** The exchange's unit of work: checks, the session, the record of the exchange. */
async function exchangeOnce(deps: ServiceDeps, legacy: LegacyToken, client: ClientInfo): Promise<Outcome> {
  try {
    return await deps.work.run(async (tx): Promise<Outcome> => {
      const refusal = await refusalOf(tx, legacy)
      if (refusal !== undefined) return refusal
      const user = await tx.users.get(legacy.userId)
      if (user === undefined || user.disabled) return { status: 'user_gone' }
      const tokens = await issue(deps, tx, user, client, false)
      const recorded = await tx.db
        .insertInto('legacy_exchanges')
        .values({
          jti: legacy.jti,
          user_id: user.id,
          session_id: tokens.sessionId,
          exchanged_at: nowSeconds(),
          expires_at: legacy.exp,
        })
        .onConflict((oc) => oc.column('jti').doNothing())
        .returning('jti')
        .executeTakeFirst()
      if (recorded === undefined) throw new Spent('legacy refresh token exchanged concurrently')
      // Until the old token's own exp: it is checked against this table, not against a session.
      await tx.revoke({ kind: 'token', id: legacy.jti, expiresAt: legacy.exp })
      await tx.audit(audited('legacy_exchange', user.id, client, { session_id: tokens.sessionId }))
      return { status: 'exchanged', tokens }
    })
  } catch (error) {
    if (!(error instanceof Spent)) throw error
    return { status: 'reuse', sessionId: undefined }
  }
}

/**
 * An earlier exchange of this jti (reuse), a revocation of it (the old app's logouts, or since), or an
 * end of all the user's legacy tokens (a logout everywhere, a password change: `endLegacyTokens`).
 */
async function refusalOf(tx: UnitOfWork, legacy: LegacyToken): Promise<Outcome | undefined> {
  const previous = await tx.db
    .selectFrom('legacy_exchanges')
    .select('session_id')
    .where('jti', '=', legacy.jti)
    .executeTakeFirst()
  if (previous !== undefined) return { status: 'reuse', sessionId: previous.session_id }
  const revoked = await tx.db
    .selectFrom('revocations')
    .select('id')
    .where('kind', '=', 'token')
    .where('id', '=', legacy.jti)
    .executeTakeFirst()
  if (revoked !== undefined) return { status: 'revoked' }
  const ended = await tx.db
    .selectFrom('revocations')
    .select('id')
    .where('kind', '=', 'user')
    .where('id', '=', legacySubject(legacy.userId))
    .where('before', '>', legacy.iat ?? 0)
    .where('expires_at', '>=', nowSeconds())
    .executeTakeFirst()
  return ended === undefined ? undefined : { status: 'ended' }
}

/** The session the first exchange created ends with its tokens, as for Tessera's own reuse. */
async function endReusedSession(
  deps: ServiceDeps,
  legacy: LegacyToken,
  sessionId: string | undefined,
  client: ClientInfo,
): Promise<void> {
  await deps.work.run(async (tx) => {
    const ended =
      sessionId === undefined
        ? undefined
        : await tx.sessions.revoke(sessionId, { reason: 'refresh_reuse', userId: legacy.userId })
    if (ended !== undefined) await tx.revoke(deps.entries.session(ended))
    await tx.audit(
      audited('refresh_reuse_detected', legacy.userId, client, {
        session_id: sessionId ?? null,
        legacy: true,
      }),
    )
  })
}
