/**
 * A change of one user by `tessera users set-roles|set-password|disable|enable|delete`: written in one
 * transaction with its audit event and its revocation, as the admin API writes it, announced to the
 * running servers through Redis, and reported.
 */
import type { RevocationEntry } from 'tessera'
import { redisRevocationStore } from 'tessera/redis'
import { MAX_ACCESS_TOKEN_TTL, type ServerConfig } from '../../server/config.js'
import { SERVER_LEEWAY } from '../../server/context.js'
import { legacyWindowOpen } from '../../server/legacy.js'
import { revocations } from '../../server/revocations.js'
import { endLegacyTokens, removesRole, revokeEverything } from '../../server/service/deps.js'
import { createUnitOfWork } from '../../server/unit-of-work.js'
import type { SqlStores } from '../../stores/sql/stores.js'
import type { UserRecord } from '../../stores/sql/users.js'
import type { SettingKey } from '../args.js'
import { CommandFailure } from '../exit-codes.js'

/**
 * What a change that revokes reads: the servers' Redis, and how long a revocation must last (their
 * longest access token, the legacy window): see changeUser.
 */
export const REVOCATION: readonly SettingKey[] = [
  'redisUrl',
  'redisPrefix',
  'accessTokenTtl',
  'allowLongLifetimes',
  'legacyHsSecret',
  'legacyUntil',
]

/** A change of one user made by the CLI. */
type UserChange =
  | { kind: 'update'; patch: { roles?: string[]; disabled?: boolean } }
  | { kind: 'password'; passwordHash: string }
  | { kind: 'delete' }

/** What a change did: sessions ended (undefined when it revoked nothing), admins left, Redis told. */
interface ChangeResult {
  ended: number | undefined
  adminsLeft: number
  announced: boolean | undefined
}

/**
 * Changes a user in one transaction, as the admin API does (service/admin.ts): removing a role,
 * disabling, a new password or the deletion ends every session of the user and revokes every token
 * issued before now (a token carries its roles; a new password must lock out whoever knew the old
 * one, the previous system's tokens too while a legacy window is open), with the audit event. Running
 * servers learn of it through Redis when `TESSERA_REDIS_URL` is set here (written and announced, as
 * the servers do), else by reading the table again every key refresh interval (context.ts).
 */
export async function changeUser(
  stores: SqlStores,
  config: ServerConfig,
  userId: number,
  change: UserChange,
): Promise<ChangeResult> {
  // The server's access tokens may live up to an hour (longer only with TESSERA_ALLOW_LONG_LIFETIMES):
  // the entries outlive the longest the server can have issued, whatever this process was given.
  const entries = revocations({
    accessTokenTtl: Math.max(config.accessTokenTtl, MAX_ACCESS_TOKEN_TTL),
    leeway: SERVER_LEEWAY,
    legacyUntil: legacyWindowOpen(config) ? config.legacyUntil : undefined,
  })
  let published: readonly RevocationEntry[] = []
  const work = createUnitOfWork({ stores, publish: (revoked) => (published = revoked) })
  const outcome = await work.run(async (tx) => {
    // The row first, as the API's changes: two changes of one user run one after the other.
    await tx.users.lockForChange(userId)
    const before = await tx.users.get(userId)
    if (before === undefined) throw new CommandFailure('the user was deleted meanwhile')
    const by = { by: 'cli' }
    let ended: number | undefined
    switch (change.kind) {
      case 'update': {
        // The rule of PATCH /users/:id (service/admin.ts): removing a role or disabling revokes.
        const after = (await tx.users.update(userId, change.patch)) ?? before
        const demoted = change.patch.roles !== undefined && removesRole(before.roles, change.patch.roles)
        const disabled = change.patch.disabled === true && !before.disabled
        if (demoted || disabled) ended = await revokeEverything({ entries }, tx, userId)
        const detail = { roles: after.roles, disabled: after.disabled, tokens_revoked: ended !== undefined }
        await tx.audit({ event: 'user_updated', userId, detail: { ...detail, ...by } })
        break
      }
      case 'password': {
        await tx.users.update(userId, { passwordHash: change.passwordHash })
        await endLegacyTokens({ entries }, tx, userId)
        ended = await revokeEverything({ entries }, tx, userId)
        await tx.audit({ event: 'password_changed', userId, detail: { sessions_revoked: ended, ...by } })
        break
      }
      case 'delete': {
        ended = await revokeEverything({ entries }, tx, userId)
        await tx.users.delete(userId)
        await tx.audit({ event: 'user_deleted', userId, detail: by })
        break
      }
    }
    return { ended, adminsLeft: await tx.users.countAdminsLocked() }
  })
  const announced =
    config.redisUrl === undefined ? undefined : published.length === 0 || (await announce(config, published))
  return { ...outcome, announced }
}

/** Writes and announces `entries` through Redis, for the running servers' replicas; false if it failed. */
async function announce(config: ServerConfig, entries: readonly RevocationEntry[]): Promise<boolean> {
  const { Redis } = await import('ioredis')
  const client = new Redis(config.redisUrl ?? '', {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 3_000,
    commandTimeout: 3_000,
  })
  client.on('error', () => undefined)
  try {
    await client.connect()
    const store = redisRevocationStore({ client, prefix: config.redisPrefix })
    for (const entry of entries) await store.write(entry)
    return true
  } catch (error) {
    process.stderr.write(`Redis: ${(error as Error).message}\n`)
    return false
  } finally {
    client.disconnect()
  }
}

/** What a change printed after its own line: the revocation's reach, the admins left. */
export function reportChange(result: ChangeResult): number {
  if (result.adminsLeft === 0)
    process.stdout.write(
      'warning: no enabled admin is left: the API cannot administer users until one is made ' +
        '(tessera users set-roles <username> admin)\n',
    )
  if (result.ended !== undefined && result.announced === undefined)
    process.stdout.write(
      'Running servers without Redis apply it within TESSERA_KEY_REFRESH_INTERVAL; servers that use ' +
        'Redis learn of it only through it: run this with their TESSERA_REDIS_URL.\n',
    )
  if (result.announced === false) {
    process.stderr.write(
      'error: the change and the revocation are saved, but Redis was not told: running servers ' +
        'apply it at their next Redis re-sync or start (restart them to apply it now)\n',
    )
    return 1
  }
  return 0
}

/**
 * The question asked before a change that locks `user` out (`what`: "Delete user alice"): it adds how
 * many sessions end, and says first when the user is the last enabled admin (the API cannot
 * administer users without one).
 */
export async function lockOutQuestion(stores: SqlStores, user: UserRecord, what: string): Promise<string> {
  const sessions = (await stores.sessions.listForUser(user.id)).length
  const lastAdmin =
    user.roles.includes('admin') &&
    !user.disabled &&
    (await stores.transaction((tx) => tx.users.countAdminsLocked())) === 1
  const warning = lastAdmin ? `${user.username} is the last enabled admin. ` : ''
  const ending = sessions === 0 ? '' : ` and end their ${plural(sessions, 'session')}`
  return `${warning}${what}${ending}?`
}

const plural = (n: number, noun: string): string => `${String(n)} ${noun}${n === 1 ? '' : 's'}`

/** How the report of a change that revoked says so. */
export const sessionsEnded = (ended: number | undefined): string =>
  `every token of the user is revoked (${String(ended ?? 0)} session(s) ended)`
