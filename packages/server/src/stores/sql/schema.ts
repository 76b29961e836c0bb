/**
 * The SQL schema as Kysely sees it: one interface per table, column names as in the database.
 *
 * Times are Unix seconds in `bigint` columns. PostgreSQL returns `int8` as a string (it may exceed
 * 2^53), SQLite as a number, so every time column is read through {@link seconds} in the repositories.
 */
import type { ColumnType, Generated } from 'kysely'
import type { BigIntColumn, NullableBigIntColumn, RevocationsTable } from 'tessera/sql'

export { optionalSeconds, seconds } from 'tessera/sql'
export type { BigIntColumn, NullableBigIntColumn, RevocationsTable } from 'tessera/sql'

/**
 * The largest id a row of `users` can have (and so `audit_events.user_id` / `actor_id`): its identity
 * column is `integer` on PostgreSQL (2^31 − 1; SQLite's are wider, but count from 1 and never get
 * there). A larger id names no user, and PostgreSQL refuses it as a parameter compared with those
 * columns ("out of range for type integer"), so the service answers it before asking the database.
 * Not `audit_events.id`: that is `bigint` on PostgreSQL (migration 0006) and does go past it.
 */
export const MAX_ROW_ID = 2_147_483_647

/** `users`: one row per account. `username_normalized` is UNIQUE and decides duplicates. */
export interface UsersTable {
  id: Generated<number>
  /** As entered (trimmed), for display. */
  username: string
  /** NFKC + lower case + trim: the identity that must be unique. */
  username_normalized: string
  /** argon2id PHC string. */
  password_hash: string
  /** JSON array of role names. */
  roles: string
  /** 0 or 1: integers because SQLite has no boolean and better-sqlite3 cannot bind one. */
  disabled: ColumnType<number, number | undefined, number>
  created_at: BigIntColumn
  updated_at: BigIntColumn
  password_changed_at: BigIntColumn
}

/** `sessions`: one row per refresh-token family (a login). `id` is the tokens' `sid`. */
export interface SessionsTable {
  id: string
  user_id: number
  created_at: BigIntColumn
  last_used_at: BigIntColumn
  /** Expiry of the family's current refresh token. */
  expires_at: BigIntColumn
  user_agent: string | null
  ip: string | null
  /** `jti` of the only refresh token that may rotate the family. */
  current_jti: string
  /** `jti` spent by the last rotation, honoured during the grace window. */
  previous_jti: string | null
  generation: ColumnType<number, number | undefined, number>
  rotated_at: NullableBigIntColumn
  revoked_at: NullableBigIntColumn
  revoked_reason: string | null
}

/** `signing_keys`: the key ring, private material included. */
export interface SigningKeysTable {
  kid: string
  alg: string
  /** The private (or secret) JWK as JSON text. */
  private_jwk: string
  created_at: BigIntColumn
  /** When the key starts (or started) signing; in the future for a pending key. */
  activated_at: NullableBigIntColumn
  /** When the key stops (or stopped) signing; in the future while a successor is pending. */
  retired_at: NullableBigIntColumn
  /** When the key was revoked (compromise): out of the JWKS and every ring, material erased. */
  revoked_at: NullableBigIntColumn
}

/** `audit_events`: an append-only log. No foreign key: events outlive the users they mention. */
export interface AuditEventsTable {
  id: Generated<number>
  at: BigIntColumn
  event: string
  /** The subject: the user the event is about. */
  user_id: number | null
  /** JSON object, or null. */
  detail: string | null
  /** Who made the change when not the subject's own request (an admin); null for the CLI or the system. */
  actor_id: ColumnType<number | null, number | null | undefined, number | null>
  ip: ColumnType<string | null, string | null | undefined, string | null>
  user_agent: ColumnType<string | null, string | null | undefined, string | null>
}

/** `legacy_identities`: the old system's identity (its tokens' `sub`) of each imported user. */
export interface LegacyIdentitiesTable {
  identity: string
  user_id: number
  imported_at: BigIntColumn
}

/** `legacy_exchanges`: legacy refresh tokens already exchanged for a session (once each). */
export interface LegacyExchangesTable {
  jti: string
  user_id: number
  session_id: string
  exchanged_at: BigIntColumn
  expires_at: BigIntColumn
}

/** Values the instances keep between runs, by name (`trusted_time`: see clock-guard.ts). */
export interface ServerStateTable {
  name: string
  value: BigIntColumn
}

/** Every table Tessera owns. */
export interface TesseraDatabase {
  users: UsersTable
  sessions: SessionsTable
  revocations: RevocationsTable
  signing_keys: SigningKeysTable
  audit_events: AuditEventsTable
  legacy_identities: LegacyIdentitiesTable
  legacy_exchanges: LegacyExchangesTable
  server_state: ServerStateTable
}
