/**
 * The auth service: every rule of the server (register, login, refresh, logout, sessions, password
 * change, the admin's user management and audit log), independent of HTTP. Methods take plain values
 * and return plain values or throw a `ServiceError` (errors.ts); the routes only translate.
 *
 * Every change runs as one unit of work (unit-of-work.ts): one database transaction that also records
 * its revocations (`tx.revoke`) and audit events (`tx.audit`); the revocations reach the in-memory
 * replica after the commit, so the very next request sees them. The rules live in `service/*.ts`, one
 * file per area; docs/architecture.md names where each one is.
 */
import type { JwtClaims } from 'tessera'
import type { AuditEvent } from '../stores/sql/audit.js'
import type { PublicUser } from '../stores/sql/users.js'
import type { ServerContext } from './context.js'
import { changePassword, login, register } from './service/accounts.js'
import { auditLog, deleteUser, getUser, listUsers, updateUser } from './service/admin.js'
import { serviceDeps } from './service/deps.js'
import { refresh } from './service/refresh.js'
import { listSessions, logout, logoutAll, revokeSession, whoAmI } from './service/sessions.js'

/** Who is asking: for rate limits, sessions and the audit log. */
export interface ClientInfo {
  ip: string
  userAgent: string | undefined
  /** The request's id (`reqId` on its access line): on the log lines of its audit events, never stored. */
  requestId?: string | undefined
}

/** A signed-in caller: the claims of the verified token the request came with, and its client. */
export interface Caller {
  token: JwtClaims
  client: ClientInfo
}

/** A username and a password, as sent. */
export interface Credentials {
  username: string
  password: string
}

/** A freshly issued token pair. */
export interface IssuedTokens {
  accessToken: string
  refreshToken: string
  sessionId: string
  /** Seconds. */
  expiresIn: number
  /** Seconds. */
  refreshExpiresIn: number
  user: PublicUser
}

/** Whom a token belongs to, from its claims. */
export interface TokenOwner {
  id: number
  username: string
  roles: string[]
  sessionId: string | null
}

/** One live session of a user. Times are Unix seconds. */
export interface SessionView {
  id: string
  createdAt: number
  lastUsedAt: number
  expiresAt: number
  userAgent: string | null
  ip: string | null
  /** The session of the token that asked. */
  current: boolean
}

/** Which page of users {@link AuthService.listUsers} reads: by page number, or after a user id. */
export interface UserListQuery {
  /** From 1; not with `after`. @default 1 */
  page?: number
  /** At most 200. @default 50 */
  perPage?: number
  /** Cursor: the `nextAfter` of the page before (users with a greater id). Not with `page`. */
  after?: number
}

/** One page of users, in id order. */
export interface UserList {
  users: PublicUser[]
  /** How many users there are; `null` on an `after` page (counted on the first page, not again). */
  total: number | null
  /** The page number; `null` on an `after` page. */
  page: number | null
  perPage: number
  /** Pass as `after` for the next page; `null` on the last page. */
  nextAfter: number | null
}

/** Filters of {@link AuthService.auditLog}. */
export interface AuditLogQuery {
  /** Events whose subject or actor is this user. */
  userId?: number
  /** Event type, e.g. `login_failed`. */
  event?: string
  /** ISO 8601 time or Unix seconds (as text): events at or after it. */
  since?: string
  /** Cursor: `nextBefore` of the previous page. */
  before?: number
  /** 1 to 500. @default 100 */
  limit?: number
}

/** One page of the audit log, newest first. */
export interface AuditPage {
  events: AuditEvent[]
  /** Pass as `before` for the next page; `null` on the last page. */
  nextBefore: number | null
}

/**
 * Audit events, also written as structured log lines once their transaction committed (the
 * `audit_events` row is written in it). Never a password or a whole token.
 */
export type AuditLog = (event: string, detail: Record<string, unknown>) => void

/**
 * The server's rules. Each method throws a `ServiceError` (errors.ts) with its code when it refuses.
 * The admin methods assume the caller's `admin` role was checked (the route guard does).
 */
export interface AuthService {
  /**
   * Creates a user and logs them in (a fresh access token). Refuses `rate_limited` (per IP),
   * `validation_error` (username or password shape), `weak_password`, `username_taken`.
   */
  register(credentials: Credentials, client: ClientInfo): Promise<IssuedTokens>
  /**
   * Checks a password and opens a session (a fresh access token), rehashing an outdated hash.
   * Refuses `rate_limited` (per IP and per account), `invalid_credentials` (unknown user or wrong
   * password, in the same time), `account_disabled` (only after a correct password).
   */
  login(credentials: Credentials, client: ClientInfo): Promise<IssuedTokens>
  /**
   * Rotates a refresh token (`caller.token`, verified): the successor in the same session, or the same
   * successor within the grace window; a spent one after it ends the session (`refresh_token_reused`).
   * A previous system's refresh token is exchanged for a session, once. Refuses `token_revoked`.
   */
  refresh(caller: Caller): Promise<IssuedTokens>
  /** Ends the session of the caller's token (access or refresh) and revokes the token itself. */
  logout(caller: Caller): Promise<void>
  /** Ends every session of the caller and revokes the token itself; returns how many sessions ended. */
  logoutAll(caller: Caller): Promise<number>
  /**
   * Whom a verified access token belongs to, from its claims alone (no database read). Refuses
   * `token_revoked` when its subject is not a user id of this server.
   */
  whoAmI(token: JwtClaims): TokenOwner
  /** The live sessions of the token's user, the token's own marked `current`. */
  listSessions(token: JwtClaims): Promise<SessionView[]>
  /** Ends one of the caller's own sessions. Refuses `not_found` (unknown, or another user's). */
  revokeSession(caller: Caller, sessionId: string): Promise<void>
  /**
   * Changes the caller's password (the route asks for a fresh token) and ends every other session.
   * Refuses `invalid_credentials` (wrong current password), `validation_error`, `weak_password`.
   */
  changePassword(caller: Caller, change: { currentPassword: string; newPassword: string }): Promise<void>
  /**
   * One page of users in id order (default 50 a page, at most 200): by page number (from 1), counting
   * every user, or after a user id (`nextAfter` of the page before), without the count. Refuses
   * `validation_error` for both at once.
   */
  listUsers(query: UserListQuery): Promise<UserList>
  /** One user. Refuses `not_found`. */
  getUser(userId: number): Promise<PublicUser>
  /**
   * An admin's change of roles or the disabled flag. Removing a role or disabling revokes every token
   * of the user (least privilege). Refuses `not_found`.
   */
  updateUser(
    caller: Caller,
    userId: number,
    patch: { roles?: string[]; disabled?: boolean },
  ): Promise<PublicUser>
  /** Deletes a user and revokes every token of theirs. Refuses `not_found`. */
  deleteUser(caller: Caller, userId: number): Promise<void>
  /** The audit log, newest first, paginated. Refuses `validation_error` (a `since` it cannot read). */
  auditLog(query: AuditLogQuery): Promise<AuditPage>
}

/** Builds the service over a server context; `audit` receives each committed audit event. */
export function createAuthService(ctx: ServerContext, audit: AuditLog): AuthService {
  const deps = serviceDeps(ctx, audit)
  return {
    register: (credentials, client) => register(deps, credentials, client),
    login: (credentials, client) => login(deps, credentials, client),
    refresh: (caller) => refresh(deps, caller),
    logout: (caller) => logout(deps, caller),
    logoutAll: (caller) => logoutAll(deps, caller),
    whoAmI,
    listSessions: (token) => listSessions(deps, token),
    revokeSession: (caller, sessionId) => revokeSession(deps, caller, sessionId),
    changePassword: (caller, change) => changePassword(deps, caller, change),
    listUsers: (query) => listUsers(deps, query),
    getUser: (userId) => getUser(deps, userId),
    updateUser: (caller, userId, patch) => updateUser(deps, caller, userId, patch),
    deleteUser: (caller, userId) => deleteUser(deps, caller, userId),
    auditLog: (query) => auditLog(deps, query),
  }
}
