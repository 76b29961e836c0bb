/**
 * The user repository. The UNIQUE constraint on `username_normalized` decides duplicates
 * (`INSERT … ON CONFLICT DO NOTHING`), so concurrent registrations of one name yield exactly one user
 * on every connection and every dialect, without catching driver-specific error codes.
 */
import { sql, type Kysely, type Selectable } from 'kysely'
import { nowSeconds } from '../../time.js'
import { dialectOf } from './dialect.js'
import { seconds, type TesseraDatabase, type UsersTable } from './schema.js'

/** A user as stored, password hash included: for login only. Send {@link PublicUser} to clients. */
export interface UserRecord {
  id: number
  /** As entered (trimmed). */
  username: string
  /** The unique identity: see `normalizeUsername` in `tessera/server`. */
  usernameNormalized: string
  passwordHash: string
  roles: string[]
  disabled: boolean
  createdAt: number
  updatedAt: number
  passwordChangedAt: number
}

/** A user without its password hash. */
export type PublicUser = Omit<UserRecord, 'passwordHash'>

/** What {@link UserStore.create} needs. The caller normalises and hashes. */
export interface NewUser {
  username: string
  usernameNormalized: string
  passwordHash: string
  /** @default [] */
  roles?: readonly string[]
  /** @default false */
  disabled?: boolean
}

/** The changes {@link UserStore.update} applies, all in one statement. */
export interface UserPatch {
  roles?: readonly string[]
  disabled?: boolean
  /** Also sets `passwordChangedAt`. */
  passwordHash?: string
}

/** Result of {@link UserStore.create}. */
export type CreateUserResult = { ok: true; user: UserRecord } | { ok: false; reason: 'username_taken' }

/**
 * What {@link UserStore.list} reads: `limit` users in id order, from the start (or `offset` users in)
 * or after the user id `after` (keyset paging: the cost of a page does not grow with its position).
 */
export interface UserListQuery {
  /** At most this many users, and at most 500. @default 50 */
  limit?: number
  /** Skips this many users (read and thrown away: linear in the offset). Not with `after`. @default 0 */
  offset?: number
  /** Only users whose id is greater: the `next` of the page before. Not with `offset`. */
  after?: number
  /**
   * Counts every user for `total`: one scan of the primary key's index, linear in the table (about 5 ms
   * at 100,000 users on PostgreSQL). A walk over every page needs it once, not on each page.
   * @default true
   */
  count?: boolean
}

/** One page of {@link UserStore.list}. */
export interface UserPage {
  users: PublicUser[]
  /** Number of users in the whole table; `null` when the query said `count: false`. */
  total: number | null
  /** The `after` of the next page (this page's last id); `null` when no user follows this page. */
  next: number | null
}

/** The user repository returned by {@link userStore}. Every time is Unix seconds. */
export interface UserStore {
  /** Creates a user, or reports that the normalised name is taken. */
  create(user: NewUser, now?: number): Promise<CreateUserResult>
  get(id: number): Promise<UserRecord | undefined>
  /**
   * Reads the user inside a transaction that is about to act on what it read (a login opening a
   * session): on PostgreSQL with a share lock held until the transaction ends, so a concurrent change
   * of the user (a demotion, a disabling, a deletion) waits for it, or it waits for that change and
   * reads its result. SQLite runs one writing transaction at a time: a plain read.
   */
  getLocked(id: number): Promise<UserRecord | undefined>
  /**
   * Takes the user's row for a change until the transaction ends, changing nothing (a no-op update:
   * PostgreSQL's row lock, SQLite's write lock): a transaction that read the user under
   * {@link UserStore.getLocked} finishes first, or waits for this one.
   */
  lockForChange(id: number): Promise<void>
  /** Looks a user up by the normalised name. */
  getByUsername(usernameNormalized: string): Promise<UserRecord | undefined>
  /**
   * A page ordered by id, without password hashes. Ids are never reused, so a walk with `after` from
   * `next` to `next` returns every user that exists throughout it exactly once, whatever is created or
   * deleted meanwhile. Throws a `RangeError` for a bad or out-of-range number, and for `offset` with
   * `after`.
   */
  list(query?: UserListQuery): Promise<UserPage>
  /** Applies `patch`; returns the updated user, or `undefined` when there is no such user. */
  update(id: number, patch: UserPatch, now?: number): Promise<UserRecord | undefined>
  /** Deletes the user (its sessions go with it); false when there was none. */
  delete(id: number): Promise<boolean>
  /**
   * How many enabled users hold the `admin` role, read under the lock every such count takes until its
   * transaction ends (PostgreSQL: a transaction-level advisory lock; SQLite: its one write lock, which
   * the change before it took), so two transactions each removing one of two admins cannot both see the
   * other one left.
   */
  countAdminsLocked(): Promise<number>
}

/** The advisory lock of {@link UserStore.countAdminsLocked} on PostgreSQL (an arbitrary constant). */
const ADMINS_LOCK = 0x7e55e7a

/** Largest page {@link UserStore.list} returns. */
const MAX_PAGE_SIZE = 500

/**
 * The user repository over `db` (a Kysely instance or a transaction).
 *
 * @example const created = await userStore(db).create({ username, usernameNormalized, passwordHash })
 */
export function userStore(db: Kysely<TesseraDatabase>): UserStore {
  return {
    async create(user, now = nowSeconds()) {
      const row = await db
        .insertInto('users')
        .values({
          username: user.username,
          username_normalized: user.usernameNormalized,
          password_hash: user.passwordHash,
          roles: encodeRoles(user.roles ?? []),
          disabled: user.disabled === true ? 1 : 0,
          created_at: now,
          updated_at: now,
          password_changed_at: now,
        })
        .onConflict((oc) => oc.column('username_normalized').doNothing())
        .returningAll()
        .executeTakeFirst()
      return row === undefined ? { ok: false, reason: 'username_taken' } : { ok: true, user: toUser(row) }
    },

    async get(id) {
      const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
      return row === undefined ? undefined : toUser(row)
    },

    async getLocked(id) {
      const query = db.selectFrom('users').selectAll().where('id', '=', id)
      const row = await (dialectOf(db) === 'postgres' ? query.forShare() : query).executeTakeFirst()
      return row === undefined ? undefined : toUser(row)
    },

    async lockForChange(id) {
      if (!db.isTransaction)
        throw new TypeError('lockForChange holds its lock until a transaction ends: call it in one')
      await db
        .updateTable('users')
        .set((eb) => ({ id: eb.ref('id') }))
        .where('id', '=', id)
        .execute()
    },

    async countAdminsLocked() {
      if (!db.isTransaction)
        throw new TypeError('countAdminsLocked holds its lock until a transaction ends: call it in one')
      if (dialectOf(db) === 'postgres') await sql`select pg_advisory_xact_lock(${ADMINS_LOCK})`.execute(db)
      const row = await db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
        .where('disabled', '=', 0)
        // Roles are stored as a JSON array of strings: `"admin"` with its quotes is that member exactly.
        .where('roles', 'like', '%"admin"%')
        .executeTakeFirstOrThrow()
      return Number(row.n)
    },

    async getByUsername(usernameNormalized) {
      const row = await db
        .selectFrom('users')
        .selectAll()
        .where('username_normalized', '=', usernameNormalized)
        .executeTakeFirst()
      return row === undefined ? undefined : toUser(row)
    },

    async list({ limit = 50, offset, after, count = true } = {}) {
      if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer')
      if (offset !== undefined && (!Number.isSafeInteger(offset) || offset < 0))
        throw new RangeError('offset must be a non-negative integer')
      if (after !== undefined && (!Number.isSafeInteger(after) || after < 0))
        throw new RangeError('after must be a non-negative integer (a user id)')
      if (offset !== undefined && after !== undefined)
        throw new RangeError('offset and after cannot be combined: after continues from a user id')
      const size = Math.min(limit, MAX_PAGE_SIZE)
      const page = db
        .selectFrom('users')
        .select(PUBLIC_COLUMNS)
        .orderBy('id')
        // One more than the page: whether a next page exists, without a count.
        .limit(size + 1)
      const rows = await (
        after !== undefined
          ? // As bigint: PostgreSQL's `id` is an `integer`, and a larger `after` would fail as out of its
            // range rather than match no user (the primary key's index still serves `integer > bigint`).
            page.where('id', '>', sql<number>`cast(${after} as bigint)`)
          : page.offset(offset ?? 0)
      ).execute()
      const users = rows.slice(0, size).map((row) => toPublicUser(row))
      const last = users.at(-1)
      return {
        users,
        total: count ? await countUsers(db) : null,
        next: rows.length > size && last !== undefined ? last.id : null,
      }
    },

    async update(id, patch, now = nowSeconds()) {
      const row = await db
        .updateTable('users')
        .set({
          updated_at: now,
          ...(patch.roles === undefined ? {} : { roles: encodeRoles(patch.roles) }),
          ...(patch.disabled === undefined ? {} : { disabled: patch.disabled ? 1 : 0 }),
          ...(patch.passwordHash === undefined
            ? {}
            : { password_hash: patch.passwordHash, password_changed_at: now }),
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst()
      return row === undefined ? undefined : toUser(row)
    },

    async delete(id) {
      const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst()
      return result.numDeletedRows > 0n
    },
  } satisfies UserStore
}

/** Every column of `users` but the password hash. */
const PUBLIC_COLUMNS = [
  'id',
  'username',
  'username_normalized',
  'roles',
  'disabled',
  'created_at',
  'updated_at',
  'password_changed_at',
] as const

/** Every user: an index-only scan of the smallest index on either dialect, but still the whole table. */
async function countUsers(db: Kysely<TesseraDatabase>): Promise<number> {
  const { total } = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number | string | bigint>().as('total'))
    .executeTakeFirstOrThrow()
  return Number(total)
}

function encodeRoles(roles: readonly string[]): string {
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string' && r !== '')) {
    throw new TypeError('roles must be an array of non-empty strings')
  }
  return JSON.stringify([...new Set(roles)])
}

function decodeRoles(text: string): string[] {
  const parsed: unknown = JSON.parse(text)
  return Array.isArray(parsed) ? parsed.filter((r): r is string => typeof r === 'string') : []
}

type PublicRow = Omit<Selectable<UsersTable>, 'password_hash'>

function toPublicUser(row: PublicRow): PublicUser {
  return {
    id: row.id,
    username: row.username,
    usernameNormalized: row.username_normalized,
    roles: decodeRoles(row.roles),
    disabled: row.disabled !== 0,
    createdAt: seconds(row.created_at),
    updatedAt: seconds(row.updated_at),
    passwordChangedAt: seconds(row.password_changed_at),
  }
}

function toUser(row: Selectable<UsersTable>): UserRecord {
  return { ...toPublicUser(row), passwordHash: row.password_hash }
}
