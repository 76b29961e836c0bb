// Faults with real processes: a Redis of our own stopped under two instances, a PostgreSQL of our own
// stopped under one, and SIGTERM to a served process. Each test starts what it breaks; loops are bounded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../packages/server/src/stores/sql/database.js'
import { expectUnauthorized, sleep, type ApiResponse, type E2EClient } from '../helpers/server-harness.js'
import { createTestDatabase, postgresReachable } from '../helpers/postgres.js'
import {
  canRunPostgres,
  freePort,
  commandExists,
  throwawayPostgres,
  throwawayRedis,
  type ThrowawayServer,
} from '../helpers/processes.js'
import { REDIS_URL, clearRedisPrefix, redisReachable } from '../helpers/redis.js'
import { serviceAvailable } from '../helpers/services.js'
import { eventually, startCluster, type Cluster } from './cluster.js'
import { bundleCli } from '../helpers/bundled-cli.js'
import { serve, type ServedProcess } from './served.js'

const postgres = serviceAvailable('PostgreSQL', await postgresReachable())
const redisServer = serviceAvailable('redis-server', commandExists('redis-server'), 'not installed')
const postgresServer = serviceAvailable(
  'PostgreSQL binaries',
  canRunPostgres(),
  'initdb/pg_ctl not installed',
)
const redis = serviceAvailable('Redis', await redisReachable())

const secret = (client: E2EClient, token: string): Promise<ApiResponse> =>
  client.api('GET', '/secret', { token })

describe.skipIf(!(postgres && redisServer))('Redis down', { timeout: 90_000 }, () => {
  let throwaway: ThrowawayServer
  let cluster: Cluster
  let a: E2EClient
  let b: E2EClient

  beforeAll(async () => {
    throwaway = await throwawayRedis()
    cluster = await startCluster(2, {}, { redisUrl: throwaway.url })
    ;[a, b] = cluster.instances.map((i) => i.client) as [E2EClient, E2EClient]
  }, 60_000)
  afterAll(async () => {
    await cluster.dispose()
    await throwaway.dispose()
  })

  it('keeps serving from memory, degrades /readyz, and shares the outage’s revocations once Redis is back', async () => {
    await a.register('redis-down')
    const [before, during, kept] = [
      await a.login('redis-down'),
      await a.login('redis-down'),
      await b.login('redis-down'),
    ]
    expect((await a.api('POST', '/auth/logout', { token: before.access })).status).toBe(204)
    expect(await eventually(async () => (await secret(b, before.access)).status === 401, 2_000, 10)).toBe(
      true,
    )

    await throwaway.stop()
    expect(
      await eventually(async () => (await a.api('GET', '/readyz')).body.status === 'degraded', 5_000),
    ).toBe(true)
    const ready = await b.api('GET', '/readyz')
    expect(ready.status).toBe(200)
    expect(ready.body).toMatchObject({ status: 'degraded', checks: { database: 'ok', redis: 'down' } })

    // Protected routes answer from memory: the valid token works, the one revoked before stays refused.
    for (const client of [a, b]) {
      expect((await secret(client, kept.access)).status).toBe(200)
      expectUnauthorized(await secret(client, before.access), 'token_revoked')
    }
    // Stateful routes still work (rate limits fall back to this instance's counters).
    expect((await b.login('redis-down')).userId).toBe(before.userId)
    // A revocation during the outage holds here at once (and is in the database).
    expect((await a.api('POST', '/auth/logout', { token: during.access })).status).toBe(204)
    expectUnauthorized(await secret(a, during.access), 'token_revoked')
    // B reads it from the database while Redis is down (every key refresh interval, 5 s): a logout or a
    // demotion on one instance no longer stays open on the others for the whole outage.
    expect(await eventually(async () => (await secret(b, during.access)).status === 401, 12_000, 100)).toBe(
      true,
    )
    expect((await b.api('GET', '/readyz')).body).toMatchObject({ checks: { redis: 'down' } })

    // Redis comes back empty (no persistence): both instances reconnect by themselves; A writes what it
    // queued, B re-syncs.
    await throwaway.start()
    for (const client of [a, b]) {
      expect(
        await eventually(async () => (await client.api('GET', '/readyz')).body.status === 'ready', 10_000),
      ).toBe(true)
    }
    expect(cluster.instances.every((i) => i.server.context.redis?.pending() === 0)).toBe(true)
    // Pub/sub works again: a new revocation on B reaches A at once.
    expect((await b.api('POST', '/auth/logout', { token: kept.access })).status).toBe(204)
    expect(await eventually(async () => (await secret(a, kept.access)).status === 401, 1_000, 5)).toBe(true)
    expectUnauthorized(await secret(a, before.access), 'token_revoked')
    expect([...a.problems, ...b.problems]).toEqual([])
  })

  it('starts an instance while Redis is down, degraded, and joins the fan-out once Redis returns', async () => {
    await a.register('redis-late')
    const [early, late] = [await a.login('redis-late'), await a.login('redis-late')]
    await throwaway.stop()
    const c = (await cluster.start()).client
    expect((await c.api('GET', '/readyz')).body).toMatchObject({ status: 'degraded' })
    expect((await secret(c, early.access)).status).toBe(200)
    expect((await a.api('POST', '/auth/logout', { token: early.access })).status).toBe(204)

    await throwaway.start()
    expect(await eventually(async () => (await secret(c, early.access)).status === 401, 10_000, 50)).toBe(
      true,
    )
    expect(
      await eventually(async () => (await c.api('GET', '/readyz')).body.status === 'ready', 10_000),
    ).toBe(true)
    // Its late subscription works: a logout on A reaches it at once.
    expect((await a.api('POST', '/auth/logout', { token: late.access })).status).toBe(204)
    expect(await eventually(async () => (await secret(c, late.access)).status === 401, 1_000, 5)).toBe(true)
    expect([...a.problems, ...c.problems]).toEqual([])
  })
})

describe.skipIf(!(postgresServer && redis))('PostgreSQL down', { timeout: 90_000 }, () => {
  let throwaway: ThrowawayServer
  let cluster: Cluster
  let a: E2EClient

  beforeAll(async () => {
    throwaway = await throwawayPostgres()
    const database = await createTestDatabase('fault', throwaway.url)
    cluster = await startCluster(1, {}, { database })
    a = cluster.instances[0]!.client
  }, 60_000)
  afterAll(async () => {
    await cluster.dispose()
    await throwaway.dispose()
  })

  it('answers 503 with Retry-After on stateful routes, keeps protected routes, and recovers by itself', async () => {
    const tokens = await a.register('pg-down')
    await throwaway.stop()

    const expect503 = (res: ApiResponse): void => {
      expect({ status: res.status, error: res.body.error }, res.text).toEqual({
        status: 503,
        error: 'service_unavailable',
      })
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    }
    expect503(
      await a.api('POST', '/auth/register', {
        body: { username: 'pg-new', password: 'correct horse battery' },
      }),
    )
    expect503(
      await a.api('POST', '/auth/login', {
        body: { username: 'pg-down', password: 'correct horse battery staple' },
      }),
    )
    expect503(await a.refresh(tokens.refresh))
    expect503(await a.api('POST', '/auth/logout', { token: tokens.access }))
    expect((await a.api('GET', '/readyz')).status).toBe(503)
    // Verification needs neither the database nor the network.
    expect((await secret(a, tokens.access)).status).toBe(200)
    expect((await a.api('GET', '/protected', { token: tokens.access })).status).toBe(200)

    await throwaway.start()
    expect(
      await eventually(
        async () =>
          (
            await a.api('POST', '/auth/login', {
              body: { username: 'pg-down', password: 'correct horse battery staple' },
            })
          ).status === 200,
        15_000,
        200,
      ),
    ).toBe(true)
    expect((await a.refresh(tokens.refresh)).status).toBe(200)
    expect((await a.api('GET', '/readyz')).body.status).toBe('ready')
    // Every 5xx seen was one of the deliberate 503s.
    expect(a.problems.filter((p) => !p.includes('→ 503'))).toEqual([])
    a.problems.splice(0)
  })
})

describe.skipIf(!(postgres && redis))('SIGTERM', { timeout: 90_000 }, () => {
  it('stops accepting, finishes the requests in flight, closes the pools and exits 0', async () => {
    const cli = await bundleCli()
    const database = await createTestDatabase('sigterm')
    const port = await freePort()
    let served: ServedProcess | undefined
    try {
      served = await serve(cli, port, {
        TESSERA_DATABASE_URL: database.url,
        TESSERA_REDIS_URL: REDIS_URL,
        TESSERA_REDIS_PREFIX: `tessera-test:sigterm-${process.pid}:`,
        TESSERA_REGISTER_RATE_PER_IP: '1000',
        TESSERA_SHUTDOWN_DELAY: '200ms',
      })
      const { child, client, exit } = served
      // Registrations hash a password (tens of milliseconds each): several are in flight at SIGTERM.
      const inFlight = Array.from({ length: 6 }, (_, i) =>
        client.api('POST', '/auth/register', {
          body: { username: `sigterm-${i}`, password: 'correct horse battery staple' },
        }),
      )
      // The access log is buffered (flushed every second) and Fastify's per-request lines are off at
      // info, so no log line tells when the server has read them: give the connections a moment. A
      // request still in the listen queue at the signal must be served too (the shutdown delay keeps
      // serving), so the assertions below hold either way.
      await new Promise((resolve) => setTimeout(resolve, 150))
      child.kill('SIGTERM')
      const results = await Promise.all(inFlight)
      expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201, 201])
      expect(await Promise.race([exit, sleep(15_000).then(() => 'timeout')])).toBe(0)
      // Nothing listens any more.
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow()
      // The registrations were committed before the pools closed.
      const db = await openDatabase({ url: database.url, poolSize: 1 })
      const users = await db.selectFrom('users').select('username').execute()
      await db.destroy()
      expect(users.map((u) => u.username).sort()).toEqual(results.map((_, i) => `sigterm-${i}`).sort())
    } finally {
      if (served?.child.exitCode === null) served.child.kill('SIGKILL')
      await database.drop()
      await cli.remove()
      await clearRedisPrefix(`tessera-test:sigterm-${process.pid}:`)
    }
  })
})
