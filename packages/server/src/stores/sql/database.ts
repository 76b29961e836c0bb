/**
 * Opening the database from one URL: SQLite (better-sqlite3) for `file:` URLs, plain paths and
 * `:memory:`; PostgreSQL (node-postgres pool) for `postgres://` and `postgresql://`.
 *
 * Drivers are imported lazily so that importing the stores never loads a native module.
 */
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs'
import { userInfo } from 'node:os'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type BetterSqlite3 from 'better-sqlite3'
import {
  Kysely,
  PostgresDialect,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type SqliteDatabase,
  type SqliteDialectConfig,
} from 'kysely'
import type { TypeOverrides } from 'pg'
import { ConfigurationError } from 'tessera'
import type { TesseraDatabase } from './schema.js'

/** The embedded default: a SQLite file under `./data/`. */
const DEFAULT_DATABASE_URL = 'file:./data/tessera.db'

/** Where a database URL points. `path` is absolute, or `:memory:`. */
export type DatabaseLocation = { dialect: 'sqlite'; path: string } | { dialect: 'postgres'; url: string }

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /**
   * `file:./data/tessera.db`, `file:///abs/path.db`, a plain path, `:memory:`, or
   * `postgres://user@host/db`.
   * @default DEFAULT_DATABASE_URL
   */
  url?: string
  /**
   * SQLite: milliseconds a statement waits for a lock held by another connection. better-sqlite3 waits
   * synchronously, blocking its event loop, so in-process extra connections should use 0 and let
   * {@link inTransaction} retry instead.
   * @default 5000
   */
  busyTimeoutMs?: number
  /**
   * PostgreSQL: the most connections the pool opens.
   * @default 10
   */
  poolSize?: number
  /**
   * PostgreSQL: milliseconds any one wait may last — a statement on the server (`statement_timeout`,
   * `lock_timeout`), a query on the client (`query_timeout`: the server may be frozen and never
   * answer), a connection or a free pool slot (`connectionTimeoutMillis`), an idle transaction.
   * A wait that runs out fails with an error the server maps to 503.
   * @default 5000
   */
  timeoutMs?: number
  /**
   * PostgreSQL: a connection for migrations, whose statements run as long as they need (a migration
   * may rewrite a large table: `statement_timeout` and the client's `query_timeout` are off), while a
   * lock is still waited for at most `timeoutMs` (an `ALTER TABLE` waiting behind a long transaction
   * would hold every later query of that table behind it). @default false
   */
  forMigrations?: boolean
  /** Option name used in error messages. @default 'databaseUrl' */
  option?: string
}

const MEMORY = new Set([':memory:', 'file::memory:', 'sqlite::memory:'])

/**
 * Parses a database URL without opening anything. Error messages never echo the URL, which may carry
 * a password.
 *
 * @example parseDatabaseUrl('file:./data/tessera.db') // { dialect: 'sqlite', path: '/srv/app/data/tessera.db' }
 */
export function parseDatabaseUrl(url: string, option = 'databaseUrl'): DatabaseLocation {
  const text = url.trim()
  if (text === '') throw new ConfigurationError(option, 'is empty; use e.g. file:./data/tessera.db')
  if (MEMORY.has(text.toLowerCase())) return { dialect: 'sqlite', path: ':memory:' }
  if (/^postgres(ql)?:\/\//i.test(text)) return { dialect: 'postgres', url: text }
  if (/^file:\/\//i.test(text)) {
    if (text.includes('?')) throw new ConfigurationError(option, 'query parameters are not supported')
    try {
      return { dialect: 'sqlite', path: fileURLToPath(new URL(text)) }
    } catch {
      throw new ConfigurationError(
        option,
        'is not a valid file: URL; use file:./relative.db or file:///abs.db',
      )
    }
  }
  const prefixed = /^(file|sqlite):(?:\/\/)?/i.exec(text)
  if (prefixed !== null) {
    const path = text.slice(prefixed[0].length)
    if (path.includes('?')) throw new ConfigurationError(option, 'query parameters are not supported')
    if (path === '') throw new ConfigurationError(option, 'names no file')
    return { dialect: 'sqlite', path: resolve(path) }
  }
  const scheme = /^([a-z][a-z0-9+.-]+):\/\//i.exec(text)
  if (scheme !== null) {
    throw new ConfigurationError(
      option,
      `unsupported scheme "${scheme[1] ?? ''}:"; use file:… (SQLite) or postgres://… (PostgreSQL)`,
    )
  }
  return { dialect: 'sqlite', path: resolve(text) }
}

/**
 * Opens the database named by `url` and returns a Kysely instance (close it with `destroy()`).
 * Migrations are separate: call {@link migrateToLatest}.
 *
 * SQLite: the parent directory is created (mode 0700) and the file (mode 0600, inherited by its
 * `-wal` and `-shm` files) since it holds password hashes and private keys; WAL journal, foreign keys
 * on, a busy timeout. Use one instance per process: better-sqlite3 has one connection and Kysely
 * serialises queries on it.
 *
 * @example const db = await openDatabase({ url: 'file:./data/tessera.db' }); await migrateToLatest(db)
 */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<Kysely<TesseraDatabase>> {
  const option = options.option ?? 'databaseUrl'
  const location = parseDatabaseUrl(options.url ?? DEFAULT_DATABASE_URL, option)
  switch (location.dialect) {
    case 'sqlite':
      return openSqlite(location.path, options.busyTimeoutMs ?? 5000, option)
    case 'postgres':
      return openPostgres(
        location.url,
        options.poolSize ?? 10,
        options.timeoutMs ?? 5_000,
        options.forMigrations === true,
        option,
      )
  }
}

/** Refuses a count below `min` (0 or 1) or not whole, naming the option and the unit. */
function checkWhole(value: number, min: 0 | 1, option: string, unit: string): void {
  if (!Number.isInteger(value) || value < min) {
    const what = min === 0 ? 'a non-negative integer' : 'a positive whole number'
    throw new ConfigurationError(option, `must be ${what} of ${unit}`)
  }
}

async function openSqlite(
  path: string,
  busyTimeoutMs: number,
  option: string,
): Promise<Kysely<TesseraDatabase>> {
  checkWhole(busyTimeoutMs, 0, 'busyTimeoutMs', 'milliseconds')
  const { default: Database } = await import('better-sqlite3')
  let sqlite: InstanceType<typeof Database>
  try {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
      if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600))
    }
    sqlite = new Database(path, { timeout: busyTimeoutMs })
  } catch (error) {
    throw new ConfigurationError(
      option,
      `cannot open the SQLite database at ${path}: ${(error as Error).message}`,
      { cause: error },
    )
  }
  if (path !== ':memory:') sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('foreign_keys = ON')
  return new Kysely<TesseraDatabase>({
    dialect: new TransactionalDdlSqliteDialect({ database: reusingStatements(sqlite) }, sqlite),
  })
}

/**
 * SQLite's adapter, claiming what SQLite does: DDL inside a transaction (Kysely's says no, to be safe
 * across SQLite-like engines). Kysely's migrator then applies every pending migration in one
 * transaction, as on PostgreSQL: a migration that fails (0005 refusing usernames that would merge)
 * leaves the schema as it was, so the version before the upgrade still starts on it. One at a time,
 * the migrations before the failing one stayed applied and neither version could start.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true
  }
}

class TransactionalDdlSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig
  readonly #sqlite: BetterSqlite3.Database

  constructor(config: SqliteDialectConfig, sqlite: BetterSqlite3.Database) {
    super(config)
    this.#config = config
    this.#sqlite = sqlite
  }

  override createAdapter(): SqliteAdapter {
    return new TransactionalDdlSqliteAdapter()
  }

  override createDriver(): Driver {
    return new CauseKeepingSqliteDriver(this.#config, this.#sqlite)
  }
}

/**
 * SQLite's driver, rolling back only a transaction that is still open. On some errors SQLite rolls the
 * whole transaction back by itself (SQLITE_FULL — a full disk —, SQLITE_IOERR, SQLITE_NOMEM): Kysely's
 * `rollback` then fails with "cannot rollback - no transaction is active", and Kysely throws that
 * instead of the error that caused it. The server answered 500 and logged the rollback's message, the
 * CLI printed its stack: the cause, a full disk, was said nowhere.
 */
class CauseKeepingSqliteDriver extends SqliteDriver {
  readonly #sqlite: BetterSqlite3.Database

  constructor(config: SqliteDialectConfig, sqlite: BetterSqlite3.Database) {
    super(config)
    this.#sqlite = sqlite
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.#sqlite.inTransaction) await super.rollbackTransaction(connection)
  }
}

/** How many prepared statements {@link reusingStatements} keeps: the server runs a few dozen distinct ones. */
const STATEMENTS_KEPT = 256
/**
 * Longer SQL texts are prepared for their one query and not kept: they are the import's batches (`in`
 * lists and multi-row inserts of thousands of values, a text per batch size), each of whose statements
 * would hold a large program and a slot per parameter.
 */
const LONGEST_KEPT = 2048
/**
 * PRAGMA statements are not kept: SQLite applies many of them (`busy_timeout`, `synchronous`) when it
 * prepares the statement, so a kept one would set, or report, the value of that moment.
 */
const PRAGMA = /^\s*pragma\b/i

/**
 * `sqlite` for Kysely, with its prepared statements kept by SQL text and reused. Kysely's SQLite driver
 * prepares every query afresh, so SQLite parses and plans the same few dozen statements again on every
 * request (7 % of the event loop's time in a login, bench/RESULTS.md section 12). A statement is
 * reusable: `all` and `run` bind their parameters anew each time and reset it, even when they throw, and
 * SQLite prepares it again by itself when the schema changed. A statement busy in an unfinished `iterate`
 * is not handed out twice: that query gets a statement of its own. The least recently used statement
 * goes first once `kept` are kept; PRAGMAs and texts longer than {@link LONGEST_KEPT} are never kept.
 */
export function reusingStatements(sqlite: BetterSqlite3.Database, kept = STATEMENTS_KEPT): SqliteDatabase {
  if (!Number.isInteger(kept) || kept < 1) throw new RangeError('kept must be a positive whole number')
  const statements = new Map<string, BetterSqlite3.Statement>()
  return {
    prepare(sql) {
      const known = statements.get(sql)
      if (known !== undefined) {
        if (known.busy) return sqlite.prepare(sql)
        // Most recently used last: a Map iterates in insertion order.
        statements.delete(sql)
        statements.set(sql, known)
        return known
      }
      const statement = sqlite.prepare(sql)
      if (sql.length > LONGEST_KEPT || PRAGMA.test(sql)) return statement
      if (statements.size >= kept) statements.delete(statements.keys().next().value as string)
      statements.set(sql, statement)
      return statement
    },
    close() {
      statements.clear()
      sqlite.close()
    },
  }
}

/**
 * PostgreSQL through a node-postgres pool. `int8` columns (the times) come back as numbers: every
 * time fits a safe integer, and repositories still pass them through `seconds()`. The pool is lazy:
 * nothing connects until the first query, and a query while the server is down fails with the
 * driver's connection error (ECONNREFUSED…), which the server maps to 503.
 */
async function openPostgres(
  url: string,
  poolSize: number,
  timeoutMs: number,
  forMigrations: boolean,
  option: string,
): Promise<Kysely<TesseraDatabase>> {
  checkWhole(poolSize, 1, 'poolSize', 'connections')
  checkWhole(timeoutMs, 1, 'timeoutMs', 'milliseconds')
  const { default: pg } = await import('pg')
  let pool: InstanceType<typeof pg.Pool>
  try {
    pool = new pg.Pool({
      connectionString: withDefaultUser(url),
      max: poolSize,
      connectionTimeoutMillis: timeoutMs,
      idleTimeoutMillis: 30_000,
      // The server-side limits end a slow statement cleanly; the client-side one also ends a wait on a
      // server that does not answer at all (frozen, or a network partition without a reset).
      // 0: no limit (PostgreSQL's own default); pg sets no query_timeout when it is undefined.
      statement_timeout: forMigrations ? 0 : timeoutMs,
      lock_timeout: timeoutMs,
      idle_in_transaction_session_timeout: Math.max(timeoutMs * 2, 10_000),
      query_timeout: forMigrations ? undefined : timeoutMs + 250,
      keepAlive: true,
      types: int8AsNumber(new pg.TypeOverrides()),
    })
  } catch (error) {
    // pg's parse errors may quote the URL; keep only that it is invalid.
    throw new ConfigurationError(option, 'is not a valid postgres:// URL', { cause: error })
  }
  // An idle client losing its connection (server restart) emits 'error' on the pool: without a
  // listener that would crash the process. The next query simply opens a new connection.
  pool.on('error', () => undefined)
  pool.on('connect', dropOnQueryTimeout)
  return new Kysely<TesseraDatabase>({ dialect: new PostgresDialect({ pool }) })
}

/**
 * A URL without a user name connects as the OS user, as psql (libpq) does. node-postgres would only
 * look at $PGUSER and $USER, which services, containers and CI jobs often do not set, and then fail
 * with "no PostgreSQL user name specified in startup packet".
 */
export function withDefaultUser(url: string, env: NodeJS.ProcessEnv = process.env): string {
  if ((env.PGUSER ?? '') !== '' || (env.USER ?? '') !== '') return url
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return url // pg reports an invalid URL itself
  }
  if (parsed.username !== '' || parsed.hostname === '') return url
  try {
    parsed.username = encodeURIComponent(userInfo().username)
  } catch {
    return url // no passwd entry for this uid: nothing better to offer
  }
  return parsed.toString()
}

/**
 * Makes a node-postgres client drop its connection when a query times out on the client side. pg would
 * keep the connection, with the late query still pending on it: once the server answers, a `BEGIN`
 * given up for lost would open a transaction that the next user of the connection writes into. A
 * destroyed connection fails at once (the query and anything queued behind it), the pool discards it,
 * and the server rolls back whatever it held.
 */
function dropOnQueryTimeout(client: {
  query: unknown
  on(event: 'error', listener: () => void): unknown
  /** node-postgres's connection (a `pg.Client` member that `PoolClient`'s type leaves out). */
  connection?: { stream: { destroy(): void } }
}): void {
  // The destroyed connection reports an error on the client, which may be checked out (no pool
  // listener then): the query has already failed with it, so nothing more to do.
  client.on('error', () => undefined)
  const query = (client.query as (...args: unknown[]) => unknown).bind(client)
  client.query = (...args: unknown[]): unknown => {
    const result = query(...args)
    if (result instanceof Promise) {
      result.catch((error: unknown) => {
        if ((error as Error | undefined)?.message === 'Query read timeout') {
          client.connection?.stream.destroy()
        }
      })
    }
    return result
  }
}

const INT8_OID = 20

// node-postgres returns int8 as a string (it may exceed 2^53); Tessera's int8 columns are Unix seconds.
function parseInt8(value: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n)) throw new RangeError('an int8 column holds a value beyond 2^53')
  return n
}

function int8AsNumber(overrides: TypeOverrides): TypeOverrides {
  overrides.setTypeParser(INT8_OID, 'text', parseInt8)
  return overrides
}
