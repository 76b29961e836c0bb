/**
 * The admin's rules: user list, lookup, role and disabled changes (a demotion or disabling revokes the
 * user's tokens), deletion, and the audit log query. The caller's `admin` role is the route's guard.
 */
import { MAX_ROW_ID } from '../../stores/sql/schema.js'
import type { PublicUser, UserRecord } from '../../stores/sql/users.js'
import { notFound, ServiceError, validation } from '../errors.js'
import type { AuditLogQuery, AuditPage, Caller, UserList, UserListQuery } from '../service.js'
import type { UnitOfWork } from '../unit-of-work.js'
import { audited, publicUser, removesRole, revokeEverything, userIdOf, type ServiceDeps } from './deps.js'

const USERS_PER_PAGE = 50
const MAX_USERS_PER_PAGE = 200
const AUDIT_EVENTS_PER_PAGE = 100
const MAX_AUDIT_EVENTS_PER_PAGE = 500

/** One page of users (see {@link AuthService.listUsers}). */
export async function listUsers(deps: ServiceDeps, query: UserListQuery): Promise<UserList> {
  const perPage = Math.min(query.perPage ?? USERS_PER_PAGE, MAX_USERS_PER_PAGE)
  const { users } = deps.ctx.stores
  if (query.after !== undefined) {
    if (query.page !== undefined)
      throw validation(
        'page and after cannot be combined: after continues from a user id (the next_after of the page before), page counts from the first',
      )
    // Keyset: as fast at the millionth user as at the first. The count, linear in the table, is the
    // first page's: a walk over every page pays it once.
    const result = await users.list({ limit: perPage, after: query.after, count: false })
    return { users: result.users, total: null, page: null, perPage, nextAfter: result.next }
  }
  const page = query.page ?? 1
  const result = await users.list({ limit: perPage, offset: (page - 1) * perPage })
  return { users: result.users, total: result.total, page, perPage, nextAfter: result.next }
}

/** One user (see {@link AuthService.getUser}). */
export async function getUser(deps: ServiceDeps, userId: number): Promise<PublicUser> {
  if (userId > MAX_ROW_ID) throw notFound('User')
  const user = await deps.ctx.stores.users.get(userId)
  if (user === undefined) throw notFound('User')
  return publicUser(user)
}

/** Runs `change` on an existing user in one unit of work; refuses `not_found` when there is none. */
async function withUser<T>(
  deps: ServiceDeps,
  userId: number,
  change: (tx: UnitOfWork, user: UserRecord) => Promise<T>,
): Promise<T> {
  if (userId > MAX_ROW_ID) throw notFound('User')
  return deps.work.run(async (tx) => {
    // The row first: two changes of one user run one after the other, each reading what the other
    // left (the last-admin guard below judges by what it read).
    await tx.users.lockForChange(userId)
    const user = await tx.users.get(userId)
    if (user === undefined) throw notFound('User')
    return change(tx, user)
  })
}

const isEnabledAdmin = (user: UserRecord): boolean => !user.disabled && user.roles.includes('admin')

/**
 * Refuses a change that leaves no enabled admin (`last_admin`): the API could then never administer
 * again, and only the CLI could mend it. Called in the change's unit of work, after the change.
 */
async function keepAnAdmin(tx: UnitOfWork): Promise<void> {
  if ((await tx.users.countAdminsLocked()) === 0) throw new ServiceError('last_admin')
}

/**
 * An admin's change of roles or the disabled flag. Removing a role or disabling revokes every token
 * of the user (least privilege: the change must not live on in unexpired tokens).
 */
export async function updateUser(
  deps: ServiceDeps,
  { token, client }: Caller,
  userId: number,
  patch: { roles?: string[]; disabled?: boolean },
): Promise<PublicUser> {
  return withUser(deps, userId, async (tx, before) => {
    const after = await tx.users.update(userId, patch)
    if (after === undefined) throw notFound('User')
    if (isEnabledAdmin(before) && !isEnabledAdmin(after)) await keepAnAdmin(tx)
    const demoted = patch.roles !== undefined && removesRole(before.roles, patch.roles)
    const disabled = patch.disabled === true && !before.disabled
    if (demoted || disabled) await revokeEverything(deps, tx, userId)
    const detail = { roles: after.roles, disabled: after.disabled, tokens_revoked: demoted || disabled }
    await tx.audit(audited('user_updated', userId, client, detail, userIdOf(token)))
    return publicUser(after)
  })
}

/** Deletes a user and revokes every token of theirs (see {@link AuthService.deleteUser}). */
export async function deleteUser(
  deps: ServiceDeps,
  { token, client }: Caller,
  userId: number,
): Promise<void> {
  await withUser(deps, userId, async (tx, user) => {
    await revokeEverything(deps, tx, userId)
    await tx.users.delete(userId)
    if (isEnabledAdmin(user)) await keepAnAdmin(tx)
    await tx.audit(audited('user_deleted', userId, client, undefined, userIdOf(token)))
  })
}

/** The audit log, newest first (see {@link AuthService.auditLog}). */
export async function auditLog(deps: ServiceDeps, query: AuditLogQuery): Promise<AuditPage> {
  const limit = Math.min(query.limit ?? AUDIT_EVENTS_PER_PAGE, MAX_AUDIT_EVENTS_PER_PAGE)
  // No user has an id past MAX_ROW_ID: no event is about such a user. `before` is an audit id, and those
  // are bigint on PostgreSQL (migration 0006) and go past it: compared as given, never dropped.
  // The query is checked first: a bad `since` is refused whatever the user id.
  const since = query.since === undefined ? undefined : parseSince(query.since)
  if (query.userId !== undefined && query.userId > MAX_ROW_ID) return { events: [], nextBefore: null }
  const events = await deps.ctx.stores.audit.list({
    userId: query.userId,
    event: query.event,
    since,
    beforeId: query.before,
    limit,
  })
  const last = events.at(-1)
  return { events, nextBefore: events.length === limit && last !== undefined ? last.id : null }
}

/** Unix seconds from an ISO 8601 time or a number of seconds; refuses `validation_error` otherwise. */
function parseSince(value: string): number {
  if (/^\d{1,12}$/.test(value)) return Number(value)
  const ms = Date.parse(value)
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms)) {
    throw validation('since: expected an ISO 8601 time (2026-01-31T12:00:00Z) or Unix seconds')
  }
  return Math.floor(ms / 1000)
}
