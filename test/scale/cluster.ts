// A cluster of real Tessera server instances for the scale tests: N `startServer` instances on loopback
// ports sharing one PostgreSQL database (created for the cluster, dropped after) and one Redis (a key
// prefix of their own, deleted after).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startServer, type RunningServer } from '../../packages/server/src/server/app.js'
import type { ServerConfig } from '../../packages/server/src/server/config.js'
import { E2EClient, baseConfig } from '../helpers/server-harness.js'
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js'
import { REDIS_URL, deletePrefix, testRedisClient, uniquePrefix } from '../helpers/redis.js'

/** One running instance and a client of it. */
export interface Instance {
  server: RunningServer
  client: E2EClient
}

/** Instances over one database and one Redis. */
export interface Cluster {
  instances: Instance[]
  databaseUrl: string
  redisUrl: string
  redisPrefix: string
  /** The settings every instance got (start another one with them). */
  config: Partial<ServerConfig>
  /** Starts one more instance with the cluster's settings (and `overrides`). */
  start(overrides?: Partial<ServerConfig>): Promise<Instance>
  /** Stops every instance, drops the database, deletes the Redis keys. */
  dispose(): Promise<void>
}

/** Starts `count` instances one after the other (the first creates the schema and the signing key). */
export async function startCluster(
  count: number,
  overrides: Partial<ServerConfig> = {},
  options: { database?: TestDatabase; redisUrl?: string } = {},
): Promise<Cluster> {
  const database = options.database ?? (await createTestDatabase('cluster'))
  const dir = await mkdtemp(join(tmpdir(), 'tessera-cluster-'))
  const redisUrl = options.redisUrl ?? REDIS_URL
  const redisPrefix = uniquePrefix()
  const config: Partial<ServerConfig> = {
    ...baseConfig(dir),
    databaseUrl: database.url,
    redisUrl,
    redisPrefix,
    databasePoolSize: 4,
    ...overrides,
  }
  const instances: Instance[] = []
  const start = async (more: Partial<ServerConfig> = {}): Promise<Instance> => {
    const server = await startServer({ ...config, ...more })
    await server.ready
    const instance = { server, client: new E2EClient(server.url) }
    instances.push(instance)
    return instance
  }
  const dispose = async (): Promise<void> => {
    await Promise.allSettled(instances.map((i) => i.server.close()))
    await database.drop().catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
    const redis = testRedisClient(redisUrl)
    try {
      await redis.connect()
      await deletePrefix(redis, redisPrefix)
    } catch {
      // The fault tests stop their Redis: nothing left to clean.
    } finally {
      redis.disconnect()
    }
  }
  try {
    for (let i = 0; i < count; i++) await start()
  } catch (error) {
    await dispose()
    throw error
  }
  return { instances, databaseUrl: database.url, redisUrl, redisPrefix, config, start, dispose }
}

/** The value at quantile `q` (0..1) of a non-empty sample, nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank] ?? Number.NaN
}

/** Polls `check` every `everyMs` until it is true or `timeoutMs` passes; returns whether it became true. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  everyMs = 20,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
