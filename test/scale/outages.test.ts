// Operations over an outage, with real processes (a PostgreSQL and a redis-server of the test's own on
// spare loopback ports; only what a test started is ever stopped):
// - PostgreSQL frozen (SIGSTOP) under load: every stateful request answers within the bound
//   (TESSERA_DATABASE_TIMEOUT), protected routes keep answering 200, and all recovers after SIGCONT;
// - PostgreSQL down while Redis comes back: a revocation made during the Redis outage by an instance
//   that then died reaches every live instance once PostgreSQL returns, without restarts;
// - SIGTERM under load, ten times: no request sent before the signal is reset.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, type ApiResponse, type E2EClient } from '../helpers/server-harness.js'
import { createTestDatabase } from '../helpers/postgres.js'
import {
  canRunPostgres,
  commandExists,
  freePort,
  throwawayPostgres,
  throwawayRedis,
  type FreezableServer,
  type ThrowawayServer,
} from '../helpers/processes.js'
import { redisReachable } from '../helpers/redis.js'
import { serviceAvailable } from '../helpers/services.js'
import { eventually, startCluster, type Cluster } from './cluster.js'
import { bundleCli, type BundledCli } from '../helpers/bundled-cli.js'
import { serve, type ServedProcess } from './served.js'

const postgresServer = serviceAvailable(
  'PostgreSQL binaries',
  canRunPostgres(),
  'initdb/pg_ctl not installed',
)
const redisServer = serviceAvailable('redis-server', commandExists('redis-server'), 'not installed')
const redis = serviceAvailable('Redis', await redisReachable())

const BOUND_MS = 3_000
// The bound is the server's; the client adds its own latency on a loaded 2-core machine.
const SLACK_MS = 1_500

/** One request's outcome, timed from the moment it was sent. */
interface Outcome {
  label: string
  status: number | 'error'
  ms: number
  retryAfter: string | null
}

async function timed(label: string, send: () => Promise<ApiResponse>): Promise<Outcome> {
  const started = performance.now()
  try {
    const res = await send()
    return {
      label,
      status: res.status,
      ms: performance.now() - started,
      retryAfter: res.headers.get('retry-after'),
    }
  } catch {
    return { label, status: 'error', ms: performance.now() - started, retryAfter: null }
  }
}

describe.skipIf(!(postgresServer && redis))(
  'PostgreSQL frozen (SIGSTOP) under load',
  { timeout: 120_000 },
  () => {
    let pg: FreezableServer
    let cluster: Cluster
    let a: E2EClient

    beforeAll(async () => {
      pg = await throwawayPostgres()
      const database = await createTestDatabase('frozen', pg.url)
      cluster = await startCluster(
        1,
        {
          databaseTimeoutMs: BOUND_MS,
          registerRatePerIp: 10_000,
          loginRatePerIp: 10_000,
          loginRatePerAccount: 10_000,
        },
        { database },
      )
      a = cluster.instances[0]!.client
    }, 60_000)
    afterAll(async () => {
      pg.thaw()
      await cluster.dispose()
      await pg.dispose()
    })

    it('answers every stateful request within the bound, keeps protected routes, and recovers after SIGCONT', async () => {
      const user = await a.register('frozen-user')
      const spare = await Promise.all([
        a.login('frozen-user'),
        a.login('frozen-user'),
        a.login('frozen-user'),
      ])
      pg.freeze()
      const outcomes: Outcome[] = []
      const until = Date.now() + 6_000
      let n = 0
      const stateful = async (): Promise<void> => {
        while (Date.now() < until) {
          const i = n++
          const token = spare[i % spare.length]!
          const requests: [string, () => Promise<ApiResponse>][] = [
            [
              'login',
              () => a.api('POST', '/auth/login', { body: { username: 'frozen-user', password: PASSWORD } }),
            ],
            ['refresh', () => a.refresh(token.refresh)],
            ['logout', () => a.api('POST', '/auth/logout', { token: token.access })],
            [
              'register',
              () =>
                a.api('POST', '/auth/register', { body: { username: `frozen-${i}`, password: PASSWORD } }),
            ],
            ['readyz', () => a.api('GET', '/readyz')],
            ['sessions', () => a.api('GET', '/auth/sessions', { token: user.access })],
          ]
          const [label, send] = requests[i % requests.length]!
          outcomes.push(await timed(label, send))
        }
      }
      const protectedLoop = async (): Promise<void> => {
        while (Date.now() < until) {
          outcomes.push(await timed('secret', () => a.api('GET', '/secret', { token: user.access })))
          outcomes.push(await timed('me', () => a.api('GET', '/auth/me', { token: user.access })))
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
      }
      // More concurrent stateful requests than the pool has connections (4).
      await Promise.all([...Array.from({ length: 6 }, stateful), protectedLoop()])
      pg.thaw()

      const statefulOutcomes = outcomes.filter((o) => o.label !== 'secret' && o.label !== 'me')
      const protectedOutcomes = outcomes.filter((o) => o.label === 'secret' || o.label === 'me')
      expect(statefulOutcomes.length).toBeGreaterThan(6)
      // Every stateful request answered, within the bound: 503 with Retry-After (or, for the sessions list
      // of an instance that had the rows cached… nothing is cached: 503 too).
      const late = statefulOutcomes.filter((o) => o.status === 'error' || o.ms > BOUND_MS + SLACK_MS)
      expect(late, JSON.stringify(late)).toEqual([])
      for (const o of statefulOutcomes) {
        expect(o.status, o.label).toBe(503)
        expect(Number(o.retryAfter), o.label).toBeGreaterThan(0)
      }
      expect(protectedOutcomes.length).toBeGreaterThan(10)
      expect(protectedOutcomes.filter((o) => o.status !== 200)).toEqual([])

      // After SIGCONT: everything works again on the same instance, without a restart.
      expect(
        await eventually(async () => (await a.api('GET', '/readyz')).body.status === 'ready', 20_000, 200),
      ).toBe(true)
      const fresh = await a.login('frozen-user')
      expect((await a.refresh(fresh.refresh)).status).toBe(200)
      expect((await a.api('POST', '/auth/logout', { token: fresh.access })).status).toBe(204)
      expect((await a.api('GET', '/secret', { token: fresh.access })).status).toBe(401)
      expect(a.problems.filter((p) => !p.includes('→ 503'))).toEqual([])
      a.problems.splice(0)
    })
  },
)

describe.skipIf(!(postgresServer && redisServer))(
  'PostgreSQL down while Redis comes back',
  { timeout: 180_000 },
  () => {
    let pg: ThrowawayServer
    let rd: ThrowawayServer
    let cluster: Cluster
    let cli: BundledCli
    let dead: ServedProcess | undefined

    beforeAll(async () => {
      ;[pg, rd, cli] = await Promise.all([throwawayPostgres(), throwawayRedis(), bundleCli()])
      const database = await createTestDatabase('resync', pg.url)
      // While Redis is down the instances also read revocations from the database every key refresh
      // interval: an hour here, so that the revocation reaches them only through the re-sync under test
      // (at the default 5 s a slow machine let them read it before PostgreSQL stopped).
      cluster = await startCluster(2, { keyRefreshInterval: 3600 }, { database, redisUrl: rd.url })
    }, 90_000)
    afterAll(async () => {
      if (dead?.child.exitCode === null) dead.child.kill('SIGKILL')
      await cluster.dispose()
      await Promise.all([pg.dispose(), rd.dispose(), cli.remove()])
    })

    it('enforces, on every live instance, a revocation made by an instance that died during the outage', async () => {
      const [b, c] = cluster.instances.map((i) => i.client) as [E2EClient, E2EClient]
      const port = await freePort()
      dead = await serve(cli, port, {
        TESSERA_DATABASE_URL: cluster.databaseUrl,
        TESSERA_REDIS_URL: rd.url,
        TESSERA_REDIS_PREFIX: cluster.redisPrefix,
      })
      const doomed = dead.client
      await b.register('resync-user')
      const revoked = await doomed.login('resync-user')
      const kept = await b.login('resync-user')

      // Redis goes away; the doomed instance revokes (committed in PostgreSQL, queued for Redis)…
      await rd.stop()
      expect((await doomed.api('POST', '/auth/logout', { token: revoked.access })).status).toBe(204)
      // …which the others cannot know yet,
      for (const live of [b, c])
        expect((await live.api('GET', '/secret', { token: revoked.access })).status).toBe(200)
      // …and dies before Redis returns: its queue is lost.
      dead.child.kill('SIGKILL')
      await dead.exit

      // PostgreSQL goes away too, then Redis returns (empty): the re-sync fails, and is retried.
      await pg.stop()
      await rd.start()
      const instances = cluster.instances.map((i) => i.server.context)
      expect(
        await eventually(() => instances.every((ctx) => ctx.redis?.status() === 'ok'), 15_000, 100),
      ).toBe(true)
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      expect(instances.every((ctx) => ctx.redis?.resyncing() === true)).toBe(true)
      for (const live of [b, c])
        expect((await live.api('GET', '/secret', { token: revoked.access })).status).toBe(200)

      // PostgreSQL returns: the retried re-sync reads the dead instance's revocation, everywhere.
      await pg.start()
      for (const live of [b, c]) {
        expect(
          await eventually(
            async () => (await live.api('GET', '/secret', { token: revoked.access })).status === 401,
            30_000,
            200,
          ),
        ).toBe(true)
        expect((await live.api('GET', '/secret', { token: kept.access })).status).toBe(200)
      }
      expect(instances.every((ctx) => ctx.redis?.resyncing() === false)).toBe(true)
      for (const live of [b, c]) live.problems.splice(0)
    })
  },
)

describe('SIGTERM under load', { timeout: 240_000 }, () => {
  let cli: BundledCli
  beforeAll(async () => {
    cli = await bundleCli()
  })
  afterAll(async () => {
    await cli.remove()
  })

  it('resets no request sent before the signal, over ten runs, and exits 0 each time', async () => {
    const summary: { sentBefore: number; failedBefore: number; sentAfter: number; code: number | null }[] = []
    for (let run = 0; run < 10; run++) {
      const dir = await mkdtemp(join(tmpdir(), 'tessera-sigterm-'))
      const port = await freePort()
      let served: ServedProcess | undefined
      try {
        served = await serve(cli, port, {
          TESSERA_DATABASE_URL: join(dir, 'db.sqlite'),
          TESSERA_SHUTDOWN_DELAY: '300ms',
          TESSERA_LOG_LEVEL: 'warn',
          TESSERA_REGISTER_RATE_PER_IP: '1000',
        })
        const { child, client, exit } = served
        const user = await client.register(`sigterm-${run}`)
        let signalAt = Number.POSITIVE_INFINITY
        let exited = false
        void exit.then(() => (exited = true))
        const requests: { sentAt: number; ok: boolean }[] = []
        const loop = async (i: number): Promise<void> => {
          while (!exited) {
            const sentAt = performance.now()
            const path = ['/secret', '/auth/me', '/readyz', '/healthz'][i % 4]!
            try {
              const res = await fetch(`http://127.0.0.1:${port}${path}`, {
                headers: { authorization: `Bearer ${user.access}` },
              })
              await res.arrayBuffer()
              requests.push({ sentAt, ok: true })
            } catch {
              requests.push({ sentAt, ok: false })
              if (sentAt > signalAt) await new Promise((resolve) => setTimeout(resolve, 20))
            }
          }
        }
        const loops = Array.from({ length: 8 }, (_, i) => loop(i))
        await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 300))
        signalAt = performance.now()
        child.kill('SIGTERM')
        const code = await exit
        await Promise.all(loops)
        const before = requests.filter((r) => r.sentAt < signalAt)
        summary.push({
          sentBefore: before.length,
          failedBefore: before.filter((r) => !r.ok).length,
          sentAfter: requests.length - before.length,
          code,
        })
        client.problems.splice(0)
      } finally {
        if (served?.child.exitCode === null) served.child.kill('SIGKILL')
        await rm(dir, { recursive: true, force: true })
      }
    }
    console.info('SIGTERM runs', JSON.stringify(summary))
    expect(summary.map((s) => s.failedBefore)).toEqual(Array(10).fill(0))
    expect(summary.map((s) => s.code)).toEqual(Array(10).fill(0))
    expect(summary.every((s) => s.sentBefore > 0)).toBe(true)
  })
})
