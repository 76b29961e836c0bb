/**
 * Everything a server instance holds: the database and its repositories, the key ring (loaded from the
 * database, or made and stored on first start), the token engine with its revocation replica, the rate
 * limiter and the metrics. Built once at start, closed once at stop.
 */
import { statSync } from 'node:fs'
import { sql, type Kysely } from 'kysely'
import {
  createKeyRing,
  createTessera,
  generateKey,
  memoryRevocationStore,
  replicatedRevocationStore,
  type KeyRing,
  type MemoryRevocationStore,
  type ReplicatedRevocationStore,
  revocationExpiry,
  type Tessera,
} from 'tessera'
import { migrateDatabase, migrateToLatest, openDatabase, parseDatabaseUrl } from '../stores/index.js'
import { pendingMigrations } from '../stores/sql/migrations/index.js'
import { trustedStart } from '../stores/sql/purge.js'
import type { TesseraDatabase } from '../stores/sql/schema.js'
import { sqlStores, type SqlStores } from '../stores/sql/stores.js'
import { signsWithConfiguredSecret, type ServerConfig } from './config.js'
import {
  keyRetentionSeconds,
  registerKeyLifecycle,
  rotateSigningKey,
  type KeyLifecycle,
} from './key-lifecycle.js'
import {
  createMaintenance,
  serverMaintenanceTasks,
  type Maintenance,
  type MaintenanceTask,
} from './maintenance.js'
import { clockNotice, createTrustedClock, type TrustedClock } from './clock-guard.js'
import { createMetrics, type ServerMetrics } from './metrics.js'
import { memoryRateLimiter, type RateLimiter } from './rate-limit.js'
import { openRedis, type RedisLink } from './redis.js'
import { keepLegacyEnds, legacyWindowOpen } from './legacy.js'

/**
 * The clock leeway of the server's engine, in seconds (the core's default, said out loud): revocation
 * expiries computed outside the engine (the CLI's) use it too.
 */
export const SERVER_LEEWAY = 0

/** The state of one running server instance. */
export interface ServerContext {
  readonly config: ServerConfig
  readonly db: Kysely<TesseraDatabase>
  readonly stores: SqlStores
  readonly auth: Tessera
  readonly keys: KeyRing
  /**
   * The key refresh (rotations, revocations and pruning made by the CLI or another instance), run by
   * `maintenance` every `keyRefreshInterval`.
   */
  readonly keyLifecycle: KeyLifecycle
  /** Revocations: answered from the in-memory replica, written through to the database. */
  readonly revocation: ReplicatedRevocationStore
  /** The in-memory replica itself, updated after a transaction that wrote revocations commits. */
  readonly replica: MemoryRevocationStore
  readonly limiter: RateLimiter
  /** The shared revocations, pub/sub and rate limits when `TESSERA_REDIS_URL` is set. */
  readonly redis: RedisLink | undefined
  readonly metrics: ServerMetrics
  /** Where the signing keys come from, for the start-up log line. */
  readonly keySource: string
  /** The one scheduler: purges, gauges and the key refresh (register more with `maintenance.register`). */
  readonly maintenance: Maintenance
  /** What `/readyz` reports besides the database and Redis. */
  readonly lifecycle: Lifecycle
  /**
   * SQLite: what is wrong with the database's files, if anything — deleted or replaced since the
   * server opened them (see {@link watchSqliteFiles}); always `undefined` on PostgreSQL.
   */
  readonly databaseFiles: () => string | undefined
  close(): Promise<void>
}

/** The instance's state as `/readyz` reports it. */
export interface Lifecycle {
  /** From SIGTERM on: `/readyz` answers 503 `draining` while requests are still served. */
  draining: boolean
  /**
   * The password threads: `starting` while the started server loads them (`/readyz` answers 503
   * `starting`, see `warmUpPasswordThreads`), `down` when that failed (200 `degraded`: each password
   * job tries to start a thread again), `ok` otherwise (a server built without `startServer` starts
   * them on first use, as the CLI does).
   */
  passwordThreads: 'ok' | 'starting' | 'down'
  /** Starts another warm-up in the background; `/readyz` calls it while `passwordThreads` is `down`. */
  rewarm?: () => void
}

/** What the context reports outside itself. */
export interface ContextHooks {
  /**
   * Told about failures no request sees (each also counted in the metrics where one exists): a
   * maintenance task (the key refresh included), Redis writes, loads and re-syncs.
   */
  onError?: (message: string, error: unknown) => void
  /**
   * Told what an operator should see in the log besides failures: migrations applied at start, the
   * link to Redis lost (`warn`, with the last error) and back (`info`).
   */
  onNotice?: (level: 'info' | 'warn', message: string, error?: unknown) => void
}

/** Opens the database, migrates it, loads or creates the keys, and builds the token engine. */
export async function openContext(config: ServerConfig, hooks: ContextHooks = {}): Promise<ServerContext> {
  const location = parseDatabaseUrl(config.databaseUrl, 'TESSERA_DATABASE_URL')
  const db = await openDatabase({
    url: config.databaseUrl,
    option: 'TESSERA_DATABASE_URL',
    poolSize: config.databasePoolSize,
    timeoutMs: config.databaseTimeoutMs,
    busyTimeoutMs: Math.min(config.databaseTimeoutMs, 5_000),
  })
  let redis: RedisLink | undefined
  try {
    // Said before and after: a migration may rewrite a large table (0006 on PostgreSQL) for minutes.
    const pending = await pendingMigrations(db)
    if (pending.length > 0) hooks.onNotice?.('info', `database: applying migrations ${pending.join(', ')}`)
    // PostgreSQL migrates over a connection of its own, without the statement time limit of requests.
    const { applied } =
      location.dialect === 'postgres'
        ? await migrateDatabase({
            url: config.databaseUrl,
            timeoutMs: config.databaseTimeoutMs,
            option: 'TESSERA_DATABASE_URL',
          })
        : await migrateToLatest(db)
    if (applied.length > 0) hooks.onNotice?.('info', `database: applied migrations ${applied.join(', ')}`)
    const stores = sqlStores(db)
    const { ring, source } = await loadKeys(config, stores)
    // Swept by the maintenance job, on the clock that ignores forward jumps (clock-guard.ts), not by a
    // timer of its own on the wall clock.
    const memory = memoryRevocationStore({ sweepIntervalSeconds: 0 })
    // A legacy window extended since the ends of users' old tokens were written: kept until its new end.
    if (config.legacyUntil !== undefined && legacyWindowOpen(config))
      await keepLegacyEnds(db, revocationExpiry(config.legacyUntil, SERVER_LEEWAY))
    // The time everything that drops data counts by (clock-guard.ts): created before the replica is
    // filled, which leaves out what has expired — by the wall clock, a clock set forward would leave out
    // every revocation, and the tokens they revoke would pass once the clock is put right.
    const clock = createTrustedClock({
      ...(await trustedStart(db)),
      onChange: (ahead, previous) => {
        hooks.onNotice?.(ahead === undefined || ahead.atStart ? 'info' : 'warn', clockNotice(ahead, previous))
      },
    })
    // Fill the in-memory replica from the database (at start; after a Redis outage, too).
    const syncFromDatabase = (): Promise<number> =>
      replicatedRevocationStore({ durable: stores.revocations, replica: memory }).sync(clock.now())
    await syncFromDatabase()
    // With Redis, writes to the replica are also written and announced there (queued while it is down).
    redis =
      config.redisUrl === undefined
        ? undefined
        : await openRedis({
            url: config.redisUrl,
            prefix: config.redisPrefix,
            memory,
            now: clock.now,
            resync: syncFromDatabase,
            onError: hooks.onError,
            onLinkChange: (up, error) => {
              if (up)
                hooks.onNotice?.(
                  'info',
                  'redis: connected again; revocations and rate limits are shared again',
                )
              else
                hooks.onNotice?.(
                  'warn',
                  'redis: unreachable; revocations are queued for it and rate limits count per instance until it is back',
                  error,
                )
            },
          })
    const replica = redis?.replica ?? memory
    const revocation = replicatedRevocationStore({ durable: stores.revocations, replica })
    const limiter = redis?.limiter ?? memoryRateLimiter()
    const link = redis
    const metrics = createMetrics({
      replicaSize: () => memory.size(),
      ...(link === undefined ? {} : { redisUp: () => link.status() === 'ok' }),
    })
    const { maintenance, keyLifecycle } = startMaintenance(
      config,
      { stores, ring, memory, metrics, clock },
      hooks,
    )
    const databaseFiles =
      location.dialect === 'sqlite' && location.path !== ':memory:'
        ? watchSqliteFiles(location.path)
        : () => undefined
    // Said in the log at every pass (as a failing task), not only to whoever probes /readyz.
    maintenance.register('database_files', () => {
      const problem = databaseFiles()
      return problem === undefined ? Promise.resolve(undefined) : Promise.reject(new Error(problem))
    })
    // Revocations written elsewhere arrive through Redis while it is up; without it, or while it is
    // down (another instance's logout reached only the database), from the database.
    const fromDatabase = externalRevocations(db, location.dialect, syncFromDatabase)
    maintenance.register(
      'revocation_sync',
      (now) => (link === undefined || link.status() !== 'ok' ? fromDatabase(now) : Promise.resolve(0)),
      { intervalMs: config.keyRefreshInterval * 1000 },
    )
    return {
      config,
      db,
      stores,
      auth: createEngine(config, ring, revocation),
      keys: ring,
      keyLifecycle,
      revocation,
      replica,
      limiter,
      redis,
      metrics,
      maintenance,
      lifecycle: { draining: false, passwordThreads: 'ok' },
      databaseFiles,
      keySource: source,
      async close() {
        await maintenance.stop()
        replica.close()
        await limiter.close?.()
        await redis?.close()
        await db.destroy()
      },
    }
  } catch (error) {
    await redis?.close()
    await db.destroy()
    throw error
  }
}

/**
 * Without Redis (or while it is unreachable), revocations another process wrote — the CLI (`users
 * set-roles`), another instance on the same PostgreSQL — reach this instance's replica by reading the
 * live ones again, every key refresh interval. On SQLite only when another connection committed since
 * the last look (`PRAGMA data_version` changes only then; this server's own writes reach the replica
 * directly).
 */
function externalRevocations(
  db: Kysely<TesseraDatabase>,
  dialect: 'sqlite' | 'postgres',
  sync: () => Promise<number>,
): MaintenanceTask {
  let seen: number | undefined
  return async () => {
    if (dialect === 'postgres') return sync()
    const { rows } = await sql<{ data_version: number }>`pragma data_version`.execute(db)
    const version = rows[0]?.data_version
    if (version === seen) return 0
    const loaded = await sync()
    seen = version
    return loaded
  }
}

/** The server's token engine over its key ring and revocations. */
function createEngine(config: ServerConfig, ring: KeyRing, revocation: ReplicatedRevocationStore): Tessera {
  return createTessera({
    keys: ring,
    accessTokenTtl: config.accessTokenTtl,
    refreshTokenTtl: config.refreshTokenTtl,
    // Refuse authentic tokens longer-lived than this server issues (the default, said out loud).
    maxTokenAge: 'ttl',
    leeway: SERVER_LEEWAY,
    issuer: config.issuer,
    audience: config.audience,
    revocation,
  })
}

/**
 * Starts the one scheduler: the purges and gauges every maintenance interval, and the key refresh every
 * `keyRefreshInterval` (rotations and revocations made by the CLI or another instance, picked up without
 * a restart; keys whose tokens have all expired pruned). Failures are counted and reported.
 */
function startMaintenance(
  config: ServerConfig,
  deps: {
    stores: SqlStores
    ring: KeyRing
    memory: MemoryRevocationStore
    metrics: ServerMetrics
    /** The time purges, key pruning and rotation count by (clock-guard.ts). */
    clock: TrustedClock
  },
  hooks: ContextHooks,
): { maintenance: Maintenance; keyLifecycle: KeyLifecycle } {
  const { stores, ring, memory, metrics, clock } = deps
  const maintenance = createMaintenance({
    clock: clock.now,
    intervalMs: config.maintenanceIntervalMs,
    onError: (task, error) => {
      metrics.maintenanceFailures.inc({ task })
      hooks.onError?.(`maintenance task ${task} failed; retried at its next run`, error)
    },
    onPass: (report) => {
      metrics.maintenanceLastRun.set(report.at)
      const ahead = clock.ahead()
      metrics.clockAhead.set(ahead === undefined ? 0 : ahead.wall - ahead.trusted)
    },
  })
  serverMaintenanceTasks(
    maintenance,
    { stores, replica: memory, metrics, heldSince: () => clock.ahead()?.since },
    config,
  )
  // With the passes off, the replica is swept on a timer of its own, by the same clock.
  if (config.maintenanceIntervalMs <= 0)
    maintenance.register('replica_sweep', (now) => Promise.resolve(memory.sweep(now)), { intervalMs: 60_000 })
  // An HMAC secret from configuration is not stored.
  // What the ring's refresh changed, logged by each instance: a rotation made by the CLI or by another
  // instance shows in every instance's log when it takes effect there.
  let signer = ring.active.kid
  const keyLifecycle = registerKeyLifecycle(maintenance, {
    keys: stores.keys,
    ring,
    retentionSeconds: keyRetentionSeconds(config),
    intervalMs: config.keyRefreshInterval * 1000,
    clock: clock.now,
    onChange: ({ pruned }) => {
      const now = ring.active.kid
      const kids = ring.entries().map((e) => e.key.kid)
      const signing = now === signer ? `signing with ${now}` : `now signing with ${now} (was ${signer})`
      signer = now
      const prunedText = pruned.length > 0 ? `; pruned ${pruned.join(', ')}` : ''
      hooks.onNotice?.('info', `keys: ${signing}; verifying ${kids.join(', ')}${prunedText}`)
    },
  })
  // `TESSERA_SECRET` is the operator's to rotate; stored keys are the server's.
  if (!signsWithConfiguredSecret(config) && config.keyRotationInterval > 0) {
    maintenance.register('key_rotation', async (now) => {
      // Not while the clock is distrusted: a key's activation time is judged by the wall clock on every
      // instance, so a rotation planned on the trusted time (behind it) would sign at once, before
      // services have fetched the new key.
      if (clock.ahead() !== undefined) return undefined
      const rotation = await rotateSigningKey(stores, config, {
        maxKeyAge: config.keyRotationInterval,
        now,
        by: 'automatic',
      })
      if (rotation.status === 'scheduled')
        hooks.onNotice?.(
          'info',
          `keys: ${rotation.kid} published, signing from ${new Date(rotation.at * 1000).toISOString()} (TESSERA_KEY_ROTATION_INTERVAL)`,
        )
      return undefined
    })
  }
  maintenance.start()
  return { maintenance, keyLifecycle }
}

async function loadKeys(config: ServerConfig, stores: SqlStores): Promise<{ ring: KeyRing; source: string }> {
  // An HMAC secret is configuration, not data: it is never written to the database.
  if (signsWithConfiguredSecret(config) && config.secret !== undefined) {
    return { ring: createKeyRing({ alg: config.algorithm, secret: config.secret }), source: 'TESSERA_SECRET' }
  }
  const stored = await stores.keys.loadRing()
  if (stored?.active.alg === config.algorithm) return { ring: stored, source: 'the database' }
  // A new database, or the algorithm changed in configuration (start signing with a new key, keep the
  // old ones verifying): decided under the key store's lock, so instances starting at once add one key.
  // The key is made first: an RSA key takes a while, and the lock holds writes up meanwhile.
  const key = await generateKey(config.algorithm)
  return stores.transaction(async (tx) => {
    await tx.keys.lockForChange()
    const ring = await tx.keys.loadRing()
    if (ring?.active.alg === config.algorithm) return { ring, source: 'the database' }
    await tx.keys.save(key, { activate: true })
    if (ring === undefined)
      return { ring: createKeyRing(key), source: 'the database (generated on first start)' }
    ring.add(key, { activate: true })
    return { ring, source: 'the database' }
  })
}

/**
 * Watches the SQLite file and its `-wal` journal by identity (device and inode), as opened at start.
 * Deleted or replaced under a running server (a cleanup script, a restore over the live file, an `rm`
 * of the `-wal`), SQLite keeps writing to the files it holds open, which nobody opens again: every
 * acknowledged change since would be gone at the next start (a deleted database comes back empty, with
 * a new signing key), and each CLI command meanwhile sees another database, or a disk I/O error. The
 * returned check says so; the `-wal` stays put while the server holds the database open.
 */
function watchSqliteFiles(path: string): () => string | undefined {
  const identity = (file: string): string | undefined => {
    try {
      const { dev, ino } = statSync(file)
      return `${String(dev)}:${String(ino)}`
    } catch {
      return undefined
    }
  }
  const files = [path, `${path}-wal`].map((file) => ({ file, opened: identity(file) }))
  return () => {
    for (const { file, opened } of files) {
      if (opened === undefined) continue
      const now = identity(file)
      if (now !== opened)
        return `${file} was ${now === undefined ? 'deleted' : 'replaced'} while the server runs: it still writes to the file it opened, and all of it is lost when it stops; before stopping it, copy that file back from /proc/${String(process.pid)}/fd (Linux), then restart`
    }
    return undefined
  }
}
