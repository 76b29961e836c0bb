/**
 * The exchange of a previous system's refresh token (legacy.ts verified it) for a Tessera session: the
 * exchange is recorded and its jti revoked in the transaction that creates the session, whose first
 * refresh token counts as rotated from the old one. Presenting the old token again is then that
 * session's business (refresh.ts): within the grace window the same successor (two tabs at the
 * cut-over, a retry after a lost answer), after it reuse, which ends the session.
 */
import type { LegacyToken } from '../legacy.js'
import { ServiceError } from '../errors.js'
import { legacySubject } from '../revocations.js'
import type { ClientInfo, IssuedTokens } from '../service.js'
import type { UnitOfWork } from '../unit-of-work.js'
import { nowSeconds } from '../../time.js'
import { audited, issue, userGone, type ServiceDeps } from './deps.js'

type Outcome =
  | { status: 'exchanged'; tokens: IssuedTokens }
  | { status: 'exchanged_before'; sessionId: string }
  | { status: 'revoked' | 'ended' | 'user_gone' }

/** A concurrent exchange of the same token committed first: this one is undone entirely. */
class Spent extends Error {}

/** What became of a legacy refresh token: exchanged now, or by an earlier presentation (its session). */
export type Exchange =
  { status: 'exchanged'; tokens: IssuedTokens } | { status: 'exchanged_before'; sessionId: string }

/**
 * Exchanges `legacy` for a session, or tells which session an earlier exchange of it opened; refuses a
 * revoked token (`token_revoked`) or a user gone.
 */
export async function exchangeLegacy(
  deps: ServiceDeps,
  legacy: LegacyToken,
  client: ClientInfo,
): Promise<Exchange> {
  const { metrics } = deps.ctx
  const count = (outcome: string): void => {
    metrics.legacyTokens.inc({ kind: 'exchange', outcome })
  }
  let outcome = await exchangeOnce(deps, legacy, client)
  // Two presentations at once: the one that lost the race finds the other's exchange on a second try.
  if (outcome === undefined) outcome = (await exchangeOnce(deps, legacy, client)) ?? spent()
  switch (outcome.status) {
    case 'exchanged':
      count('exchanged')
      return outcome
    case 'exchanged_before':
      return outcome
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

// Lost the race twice: not reachable with one exchange per jti, answered as reuse all the same.
function spent(): never {
  throw new ServiceError('refresh_token_reused')
}

/**
 * The exchange's unit of work: checks, the session, the record of the exchange; `undefined` when a
 * concurrent exchange of the same token committed first (nothing of this one is left).
 */
async function exchangeOnce(
  deps: ServiceDeps,
  legacy: LegacyToken,
  client: ClientInfo,
): Promise<Outcome | undefined> {
  try {
    return await deps.work.run(async (tx): Promise<Outcome> => {
      // The user under a lock first (as a login opening its session): a password change, which
      // updates the user, then either waits for this session and ends it, or commits first and its
      // end of the old tokens is seen below. A plain read let both run at once on PostgreSQL: the
      // change missed the uncommitted session and the checks missed the uncommitted end.
      const user = await tx.users.getLocked(legacy.userId)
      const refusal = await refusalOf(tx, legacy)
      if (refusal !== undefined) return refusal
      if (user === undefined || user.disabled) return { status: 'user_gone' }
      const tokens = await issue(deps, tx, user, client, false, legacy.jti)
      const recorded = await tx.db
        .insertInto('legacy_exchanges')
        .values({
          jti: legacy.jti,
          user_id: user.id,
          session_id: tokens.sessionId,
          exchanged_at: nowSeconds(),
          // Whole seconds: the old app's claims may carry fractions, the column does not.
          expires_at: Math.ceil(legacy.exp),
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
    return undefined
  }
}

/**
 * An earlier exchange of this jti, a revocation of it (the old app's logouts, or since), or an
 * end of all the user's legacy tokens (a logout everywhere, a password change: `endLegacyTokens`).
 */
async function refusalOf(tx: UnitOfWork, legacy: LegacyToken): Promise<Outcome | undefined> {
  // The revocation first: an exchange writes its jti's revocation and its record in one transaction,
  // so once the revocation is seen the record is too. In the other order, on PostgreSQL (READ
  // COMMITTED, each statement sees what committed before it began) a concurrent exchange committing
  // between the two reads showed its revocation without its record: `token_revoked`, not the grace.
  const revoked = await tx.db
    .selectFrom('revocations')
    .select('id')
    .where('kind', '=', 'token')
    .where('id', '=', legacy.jti)
    .executeTakeFirst()
  const previous = await tx.db
    .selectFrom('legacy_exchanges')
    .select('session_id')
    .where('jti', '=', legacy.jti)
    .executeTakeFirst()
  if (previous !== undefined) return { status: 'exchanged_before', sessionId: previous.session_id }
  if (revoked !== undefined) return { status: 'revoked' }
  const ended = await tx.db
    .selectFrom('revocations')
    .select('id')
    .where('kind', '=', 'user')
    .where('id', '=', legacySubject(legacy.userId))
    // `before` is whole seconds: compared with the whole second of `iat`, the same answer.
    .where('before', '>', Math.floor(legacy.iat ?? 0))
    .where('expires_at', '>=', nowSeconds())
    .executeTakeFirst()
  return ended === undefined ? undefined : { status: 'ended' }
}
