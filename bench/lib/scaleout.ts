/**
 * The rows of issue 6 that need PostgreSQL and Redis (bench/run.ts sections 4 and 5):
 *
 * - {@link runPostgresScale}: the auth server on a PostgreSQL database of 1 M users vs a 1-user one
 *   (login and refresh latency, alternated in blocks), the EXPLAIN plans of the two user lookups.
 * - {@link runRedisSection}: revocation propagation across 3 auth-server processes sharing one
 *   PostgreSQL database and one Redis (logout on one, time until the two others answer 401), then the
 *   protected route's throughput with Redis enabled vs disabled, interleaved like section 1.
 *
 * Everything runs in scratch state: a database `tessera_bench_<pid>_<random>` created from the
 * maintenance database and dropped (WITH (FORCE)) afterwards, and a Redis key prefix of its own, deleted
 * afterwards. An unreachable service throws: the caller decides whether to skip.
 *
 * Services: TESSERA_BENCH_POSTGRES_URL (default postgres://127.0.0.1:5432/test, the maintenance
 * database) and TESSERA_BENCH_REDIS_URL (default redis://127.0.0.1:6379).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { Redis } from 'ioredis'
import pg from 'pg'
import { compareLoginRefresh, post, type Latencies } from './auth-client.js'
import { serverScript } from './build.js'
import {
  LOAD_CPU,
  SERVER_CPU,
  reqPerSec,
  runLoad,
  runTask,
  sleep,
  startServer,
  type LoadResult,
  type ServerProcess,
} from './procs.js'
import { median } from './stats.js'

/**
 * The maintenance database. Without a user name in the URL, the OS user's name is put in, as psql does
 * (node-postgres would read $USER, which a service or CI environment may not set).
 */
const POSTGRES_ADMIN_URL = withUser(
  process.env.TESSERA_BENCH_POSTGRES_URL ?? 'postgres://127.0.0.1:5432/test',
)
const REDIS_URL = process.env.TESSERA_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** The password of every seeded and registered user (bench/servers/state.ts seeds with it). */
const PASSWORD = 'correct horse battery staple'
const CONNECTIONS = 50

// --- shared types ------------------------------------------------------------------------------------

export type { Latencies } from './auth-client.js'

/** A row of the targets table. */
export interface TargetRow {
  target: string
  measured: string
  verdict: 'met' | 'NOT met'
}

export interface PostgresSeed {
  users: number
  /** `server_version` of the PostgreSQL server. */
  version: string
  tableBytes: number
  indexBytes: number
  /** The one argon2id hash every user shares. */
  hashMs: number
  /** The single INSERT … SELECT … FROM generate_series. */
  insertMs: number
  analyzeMs: number
  /** The statements (as Kysely compiles userStore's lookups) and their EXPLAIN (ANALYZE, BUFFERS). */
  plans: { loginSql: string; byIdSql: string; login: string; byId: string }
  lookups: number
  /** userStore.getByUsername / userStore.get, random users, sequential, µs. */
  byNameUs: { p50: number; p99: number }
  byIdUs: { p50: number; p99: number }
}

export interface PostgresScaleResult {
  smoke: boolean
  users: number
  seed: PostgresSeed
  /** Wall time of the seeding process: migrate, hash, insert, ANALYZE, plans, timed lookups. */
  seedMs: number
  blocks: number
  perBlock: { logins: number; refreshes: number }
  large: { login: Latencies; refresh: Latencies; idleRss: number }
  small: { login: Latencies; refresh: Latencies; idleRss: number }
}

export interface ThroughputCell {
  rps: number
  p50: number
  p99: number
  /** Server CPU time (user + system, all threads) per response, µs. */
  cpuUs: number
  /** Server CPU time over wall time (1 = its core saturated). */
  cpu: number
  statusOk: boolean
  statuses: string
}

export interface Quantiles {
  p50: number
  p99: number
  max: number
}

export interface RedisSectionResult {
  smoke: boolean
  postgresVersion: string
  redisVersion: string
  propagation: {
    instances: number
    revocations: number
    /** From the logout's 204 until both other instances answered 401, ms. */
    afterResponse: Quantiles
    /** The same from the moment the logout was sent, ms. */
    afterSend: Quantiles
    /** The logout request itself (sent → 204), ms. */
    logout: Quantiles
    /** Revocations not seen by both other instances within the deadline (counted as infinite). */
    timeouts: number
    deadlineMs: number
    /** GET /protected answered 200 before the 401 (both pollers), median per revocation. */
    pollsMedian: number
    /** Revocations where at least one poll after the 204 still got 200 (the others: the first poll got 401). */
    stale: number
    /** One GET /protected (200) on an instance, ms: the resolution of the polling. */
    roundTrip: Quantiles
  }
  throughput: {
    rounds: number
    seconds: number
    warmup: number
    connections: number
    /** Per round, in the order measured. */
    order: ('on' | 'off')[][]
    on: ThroughputCell[]
    off: ThroughputCell[]
  }
}

// --- services ------------------------------------------------------------------------------------------

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

async function adminQuery<T extends pg.QueryResultRow>(statement: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 3_000 })
  client.on('error', () => undefined)
  try {
    await client.connect()
  } catch (error) {
    throw new Error(`PostgreSQL unreachable at ${withoutPassword(POSTGRES_ADMIN_URL)}: ${errorText(error)}`, {
      cause: error,
    })
  }
  try {
    return (await client.query<T>(statement)).rows
  } finally {
    await client.end().catch(() => undefined)
  }
}

function withUser(url: string): string {
  const u = new URL(url)
  if (u.username === '') u.username = process.env.PGUSER ?? userInfo().username
  return u.toString()
}

function withoutPassword(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '(unparsable URL)'
  }
}

interface ScratchDatabase {
  name: string
  url: string
  drop(): Promise<void>
}

/** An empty database next to the maintenance one; `drop()` removes it (closing leftover connections). */
async function createScratchDatabase(tag: string): Promise<ScratchDatabase> {
  const name = `tessera_bench_${process.pid}_${tag}_${randomBytes(4).toString('hex')}`
  // CREATE DATABASE copies template1 and fails while another session is connected to it: retry.
  for (let attempt = 0; ; attempt++) {
    try {
      await adminQuery(`CREATE DATABASE ${name}`)
      break
    } catch (error) {
      if (attempt >= 20 || !/being accessed by other users/.test(errorText(error))) throw error
      await sleep(50 + Math.random() * 100)
    }
  }
  const url = new URL(POSTGRES_ADMIN_URL)
  url.pathname = `/${name}`
  return {
    name,
    url: url.toString(),
    drop: async () => {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    },
  }
}

function redisClient(): Redis {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: () => null,
  })
  client.on('error', () => undefined)
  return client
}

/** Redis's version; throws when it does not answer. */
async function redisVersion(): Promise<string> {
  const client = redisClient()
  try {
    await client.connect()
    const info = await client.info('server')
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'
  } catch (error) {
    throw new Error(`Redis unreachable at ${withoutPassword(REDIS_URL)}: ${errorText(error)}`, {
      cause: error,
    })
  } finally {
    client.disconnect()
  }
}

/** Deletes every key under `prefix` (best effort). */
async function deleteRedisPrefix(prefix: string): Promise<void> {
  const client = redisClient()
  try {
    await client.connect()
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await client.del(...keys)
    } while (cursor !== '0')
  } catch {
    // Nothing to clean when Redis went away.
  } finally {
    client.disconnect()
  }
}

// --- auth servers --------------------------------------------------------------------------------------

interface AuthOptions {
  databaseUrl: string
  redisUrl?: string
  redisPrefix?: string
  /** Smoke: unpinned (several servers booting on one core is most of a smoke run's time). */
  unpinned?: boolean
}

/**
 * bench/servers/auth.ts on PostgreSQL (and Redis), pinned to the server core. The environment is the
 * harness's minus every TESSERA_* variable, so a shell's TESSERA_REDIS_URL or TESSERA_DATABASE_URL
 * cannot change what is measured (startServer reads them under its options).
 */
async function startAuth(options: AuthOptions, dirs: string[]): Promise<ServerProcess> {
  const dataDir = mkdtempSync(`${tmpdir()}/tessera-bench-scaleout-`)
  dirs.push(dataDir)
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('TESSERA_') && !key.startsWith('BENCH_')) env[key] = value
  }
  env.BENCH_DATA_DIR = dataDir
  env.BENCH_DATABASE_URL = options.databaseUrl
  if (options.redisUrl !== undefined) env.BENCH_REDIS_URL = options.redisUrl
  if (options.redisPrefix !== undefined) env.BENCH_REDIS_PREFIX = options.redisPrefix
  const server = await startServer(serverScript('auth'), [], {
    env,
    cpu: options.unpinned === true ? undefined : SERVER_CPU,
    nodeArgs: ['--expose-gc'],
    timeoutMs: 120_000,
  })
  // What the server itself reports: the database answers, and Redis is connected when configured.
  const ready = await getJson(`${server.url}/readyz`)
  const checks = ready.body.checks as Record<string, unknown> | undefined
  const expected = options.redisUrl === undefined ? undefined : 'ok'
  if (ready.status !== 200 || checks?.database !== 'ok' || checks.redis !== expected) {
    await server.stop()
    throw new Error(`auth server not ready as configured: ${ready.status} ${JSON.stringify(ready.body)}`)
  }
  return server
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url)
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

/** GET /protected with the token; the status (the body is read and dropped). */
async function protectedStatus(url: string, token: string): Promise<number> {
  const response = await fetch(`${url}/protected`, { headers: { authorization: `Bearer ${token}` } })
  await response.arrayBuffer()
  return response.status
}

const idleRss = async (server: ServerProcess): Promise<number> =>
  ((await server.ask({ cmd: 'memory' }, 'result')) as NodeJS.MemoryUsage).rss

/** Nearest-rank quantile (0..1) of a non-empty sample. */
function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank] ?? NaN
}

const quantiles = (values: readonly number[]): Quantiles => ({
  p50: quantile(values, 0.5),
  p99: quantile(values, 0.99),
  max: quantile(values, 1),
})

// --- PostgreSQL, 1 M users ---------------------------------------------------------------------------

/**
 * Seeds a scratch database with `users` users and another with 1 (bench/servers/state.ts `postgres`),
 * starts the auth server on each (separate processes, pinned), and alternates blocks of sequential
 * logins (random users) and refreshes on the two.
 */
export async function runPostgresScale(opts: {
  users: number
  smoke: boolean
  /** Progress lines (bench/run.ts passes its stderr logger). */
  log?: (line: string) => void
}): Promise<PostgresScaleResult> {
  const { users, smoke } = opts
  const log = opts.log ?? (() => undefined)
  if (!Number.isInteger(users) || users < 1) throw new Error(`users must be a positive integer, got ${users}`)
  const databases: ScratchDatabase[] = []
  const servers: ServerProcess[] = []
  const dirs: string[] = []
  try {
    const large = await createScratchDatabase('1m')
    databases.push(large)
    const small = await createScratchDatabase('1u')
    databases.push(small)
    const lookups = smoke ? 100 : 2000
    log(`postgres: seeding ${large.name} with ${users} users`)
    const seedStarted = performance.now()
    const seed = (await runTask(
      serverScript('state'),
      ['postgres', String(users), large.url, String(lookups)],
      {
        cpu: SERVER_CPU,
      },
    )) as PostgresSeed
    const seedMs = performance.now() - seedStarted
    if (seed.users !== users) throw new Error(`seeded ${seed.users} users, wanted ${users}`)
    await runTask(serverScript('state'), ['postgres', '1', small.url, '10'], { cpu: SERVER_CPU })

    log(`postgres: seeded in ${sec(seedMs)}; starting the two auth servers`)
    const [big, one] = await Promise.all([
      startAuth({ databaseUrl: large.url, unpinned: smoke }, dirs),
      startAuth({ databaseUrl: small.url, unpinned: smoke }, dirs),
    ])
    servers.push(big, one)
    await sleep(smoke ? 200 : 3000)
    const bigRss = await idleRss(big)
    const oneRss = await idleRss(one)
    log('postgres: alternating blocks of logins and refreshes')
    const measured = await compareLoginRefresh({
      large: big,
      small: one,
      users,
      password: PASSWORD,
      smoke,
    })
    return {
      smoke,
      users,
      seed,
      seedMs,
      blocks: measured.blocks,
      perBlock: measured.perBlock,
      large: { ...measured.large, idleRss: bigRss },
      small: { ...measured.small, idleRss: oneRss },
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
    for (const db of databases) await db.drop()
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
}

// --- Redis: propagation, and throughput on vs off ------------------------------------------------------

async function measureCell(server: ServerProcess, token: string, seconds: number, warmup: number) {
  const options = {
    url: `${server.url}/protected`,
    connections: CONNECTIONS,
    headers: { authorization: `Bearer ${token}` },
    cpu: LOAD_CPU,
  }
  if (warmup > 0) await runLoad({ ...options, seconds: warmup })
  const before = await server.ask({ cmd: 'cpu' }, 'cpu')
  const started = performance.now()
  const result = await runLoad({ ...options, seconds })
  const wall = performance.now() - started
  const after = await server.ask({ cmd: 'cpu' }, 'cpu')
  const cpuMs = (after.user - before.user + after.system - before.system) / 1000
  return {
    rps: reqPerSec(result),
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuUs: (cpuMs * 1000) / Math.max(1, result.requests.total),
    // autocannon's process start is inside `wall`; section 1 subtracts the same 400 ms.
    cpu: cpuMs / Math.max(1, wall - 400),
    statusOk: statusesOk(result, 200),
    statuses: Object.entries(result.statusCodeStats)
      .map(([code, s]) => `${code}×${s.count}`)
      .join(' '),
  } satisfies ThroughputCell
}

function statusesOk(result: LoadResult, expected: number): boolean {
  const codes = Object.keys(result.statusCodeStats)
  return result.errors === 0 && codes.length === 1 && codes[0] === String(expected)
}

/** Polls GET /protected until 401 or the deadline; the moment of the 401 (Infinity on timeout). */
async function refusedAt(
  url: string,
  token: string,
  deadline: number,
  polls: { n: number },
): Promise<number> {
  for (;;) {
    const status = await protectedStatus(url, token)
    if (status === 401) return performance.now()
    if (status !== 200) throw new Error(`GET ${url}/protected answered ${status} while polling`)
    polls.n++
    if (performance.now() > deadline) return Number.POSITIVE_INFINITY
  }
}

/**
 * 3 instances on one scratch database and one Redis prefix: `revocations` sessions logged in round
 * robin, then one by one logged out on instance i mod 3 while the two others are polled. Then, on the
 * same database, one server with Redis and one without for the protected-route throughput.
 */
export async function runRedisSection(opts: {
  smoke: boolean
  rounds: number
  seconds: number
  warmup: number
  /** Progress lines (bench/run.ts passes its stderr logger). */
  log?: (line: string) => void
}): Promise<RedisSectionResult> {
  const log = opts.log ?? (() => undefined)
  // Smoke: every path once, briefly, whatever the caller asked.
  const rounds = opts.smoke ? 1 : opts.rounds
  const seconds = opts.smoke ? Math.min(1, opts.seconds) : opts.seconds
  const warmup = opts.smoke ? 0 : opts.warmup
  const { smoke } = opts
  const redisVer = await redisVersion()
  const prefix = `tessera-bench:${process.pid}:${randomBytes(4).toString('hex')}:`
  const servers: ServerProcess[] = []
  const dirs: string[] = []
  let database: ScratchDatabase | undefined
  const stopAll = async (): Promise<void> => {
    await Promise.all(servers.splice(0).map((s) => s.stop()))
  }
  try {
    database = await createScratchDatabase('redis')
    const pgVersion = (await adminQuery<{ v: string }>("SELECT current_setting('server_version') AS v"))[0]?.v
    const shared = { databaseUrl: database.url, redisUrl: REDIS_URL, redisPrefix: prefix, unpinned: smoke }

    // --- propagation ---
    // The first migrates the database and stores the signing key; then the two others together.
    log(`redis: starting 3 instances on ${database.name}, prefix ${prefix}`)
    const first = await startAuth(shared, dirs)
    servers.push(first)
    const [second, third] = await Promise.all([startAuth(shared, dirs), startAuth(shared, dirs)])
    servers.push(second, third)
    const cluster = [first, second, third]
    const urls = cluster.map((s) => s.url)
    const revocations = smoke ? 10 : 200
    const userCount = smoke ? 2 : 10
    const users = Array.from({ length: userCount }, (_, i) => `prop${i}`)
    for (const [i, user] of users.entries())
      await post(`${urls[i % 3] ?? ''}/auth/register`, { username: user, password: PASSWORD })
    const sessions: { token: string; on: number }[] = []
    for (let i = 0; i < revocations; i += 4) {
      const batch = await Promise.all(
        [0, 1, 2, 3]
          .filter((j) => i + j < revocations)
          .map(async (j) => {
            const k = i + j
            const body = await post(`${urls[k % 3] ?? ''}/auth/login`, {
              username: users[k % users.length],
              password: PASSWORD,
            })
            return { token: String(body.access_token), on: k % 3 }
          }),
      )
      sessions.push(...batch)
    }
    log(`redis: ${revocations} sessions logged in; revoking one at a time`)
    const deadlineMs = 2_000
    const afterResponse: number[] = []
    const afterSend: number[] = []
    const logout: number[] = []
    const polls: number[] = []
    const roundTrip: number[] = []
    let timeouts = 0
    for (const [i, { token }] of sessions.entries()) {
      const at = i % 3
      const others = [0, 1, 2].filter((x) => x !== at).map((x) => urls[x] ?? '')
      for (const url of others) {
        const t = performance.now()
        const status = await protectedStatus(url, token)
        roundTrip.push(performance.now() - t)
        if (status !== 200) throw new Error(`session ${i}: ${url}/protected answered ${status} before logout`)
      }
      const sent = performance.now()
      const response = await fetch(`${urls[at] ?? ''}/auth/logout`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      })
      await response.arrayBuffer()
      const answered = performance.now()
      if (response.status !== 204) throw new Error(`logout ${i}: ${response.status}, expected 204`)
      const count = { n: 0 }
      const deadline = answered + deadlineMs
      const refused = await Promise.all(others.map((url) => refusedAt(url, token, deadline, count)))
      const last = Math.max(...refused)
      if (!Number.isFinite(last)) timeouts++
      afterResponse.push(last - answered)
      afterSend.push(last - sent)
      logout.push(answered - sent)
      polls.push(count.n)
    }
    // --- throughput, Redis on vs off (same database, same key ring, same token) ---
    // A fresh pair with the same history (started together, idle until measured), so neither has a
    // warmer JIT or a larger heap from the propagation test.
    log(`redis: propagation p99 ${fmtMs(quantile(afterResponse, 0.99))} ms; throughput on vs off`)
    await stopAll()
    const [on, off] = await Promise.all([
      startAuth(shared, dirs),
      startAuth({ databaseUrl: database.url, unpinned: smoke }, dirs),
    ])
    servers.push(on, off)
    // One argon2id operation on each (register on one, log in on the other): the same history again.
    await post(`${on.url}/auth/register`, { username: 'bench', password: PASSWORD })
    const login = await post(`${off.url}/auth/login`, { username: 'bench', password: PASSWORD })
    const token = String(login.access_token)
    for (const server of [on, off]) {
      const status = await protectedStatus(server.url, token)
      if (status !== 200) throw new Error(`${server.url}/protected answered ${status} before the load`)
    }
    const cells = { on: [] as ThroughputCell[], off: [] as ThroughputCell[] }
    const order: ('on' | 'off')[][] = []
    for (let round = 0; round < rounds; round++) {
      const these: ('on' | 'off')[] = round % 2 === 0 ? ['on', 'off'] : ['off', 'on']
      order.push(these)
      for (const which of these) {
        const cell = await measureCell(which === 'on' ? on : off, token, seconds, warmup)
        cells[which].push(cell)
        log(
          `redis round ${round + 1}/${rounds} ${which}: ${fmtInt(cell.rps)} req/s, p99 ${cell.p99} ms, ${fmt(cell.cpuUs, 1)} µs cpu/req${cell.statusOk ? '' : ` UNEXPECTED STATUSES ${cell.statuses}`}`,
        )
      }
    }
    return {
      smoke,
      postgresVersion: pgVersion ?? 'unknown',
      redisVersion: redisVer,
      propagation: {
        instances: 3,
        revocations,
        afterResponse: quantiles(afterResponse),
        afterSend: quantiles(afterSend),
        logout: quantiles(logout),
        timeouts,
        deadlineMs,
        pollsMedian: median(polls),
        stale: polls.filter((n) => n > 0).length,
        roundTrip: quantiles(roundTrip),
      },
      throughput: { rounds, seconds, warmup, connections: CONNECTIONS, order, on: cells.on, off: cells.off },
    }
  } finally {
    await stopAll()
    if (database !== undefined) await database.drop()
    await deleteRedisPrefix(prefix)
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
}

// --- rendering -------------------------------------------------------------------------------------------

const fmtInt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a')
const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a')
const fmtMs = (n: number): string =>
  !Number.isFinite(n) ? 'n/a' : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`
const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`
const pinned = (smoke: boolean): string => (smoke ? 'unpinned (smoke run)' : `pinned to core ${SERVER_CPU}`)

function table(head: string[], rows: string[][], align: ('l' | 'r')[]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`
  return [line(head), line(align.map((a) => (a === 'r' ? '---:' : '---'))), ...rows.map(line)].join('\n')
}

const INDEX_SCAN = /Index (Only )?Scan using|Bitmap Index Scan on/
const usesIndex = (plan: string): boolean => INDEX_SCAN.test(plan) && !/Seq Scan/.test(plan)
/** The first node of a plan, without its cost and timing. */
const planHead = (plan: string): string =>
  (plan.split('\n')[0] ?? '').replace(/\s+\(cost=.*$/, '').replace(/^\s*->\s*/, '')

export function postgresTargetRow(r: PostgresScaleResult): TargetRow {
  const indexes = usesIndex(r.seed.plans.login) && usesIndex(r.seed.plans.byId)
  return {
    target: `PostgreSQL, ${fmtInt(r.users)} users: login and refresh use indexes, not scans`,
    measured: `login ${fmtMs(r.large.login.p50)} ms vs ${fmtMs(r.small.login.p50)} ms with 1 user; refresh ${fmtMs(r.large.refresh.p50)} vs ${fmtMs(r.small.refresh.p50)} ms; plans: ${planHead(r.seed.plans.login)}, ${planHead(r.seed.plans.byId)}`,
    verdict: indexes ? 'met' : 'NOT met',
  }
}

export function renderPostgresScale(r: PostgresScaleResult): string {
  const s = r.seed
  const row = (label: string, x: PostgresScaleResult['large']): string[] => [
    label,
    `${fmtMs(x.login.p50)} / ${fmtMs(x.login.p99)} ms (${x.login.n})`,
    `${fmtMs(x.refresh.p50)} / ${fmtMs(x.refresh.p99)} ms (${x.refresh.n})`,
    mb(x.idleRss),
  ]
  const verdict = usesIndex(s.plans.login) && usesIndex(s.plans.byId)
  return `**PostgreSQL ${s.version} with ${fmtInt(r.users)} users.** A scratch database (created for the run, dropped after) migrated by \`migrateToLatest\`, filled by one \`INSERT INTO users … SELECT 'user' || g, … FROM generate_series(0, ${r.users - 1})\`, every user sharing one precomputed argon2id hash (hashing took ${fmtMs(s.hashMs)} ms; the insert ${sec(s.insertMs)}; \`ANALYZE users\` ${sec(s.analyzeMs)}; the whole seeding process, lookups below included, ${sec(r.seedMs)}); table ${mb(s.tableBytes)}, indexes ${mb(s.indexBytes)}. The PostgreSQL server is the machine's own service, not pinned (it shares both cores with everything else).

Query plans, \`EXPLAIN (ANALYZE, BUFFERS)\` of the statements Kysely compiles for \`userStore.getByUsername\` (login) and \`userStore.get\` (refresh, by id), on a user in the middle of the table, with the value bound as a parameter as the server does:

\`\`\`
${s.plans.loginSql}
${s.plans.login}

${s.plans.byIdSql}
${s.plans.byId}
\`\`\`

${verdict ? 'Both lookups are index scans (the unique constraint on `username_normalized`, the primary key on `id`), not sequential scans.' : '⚠ At least one lookup does not use an index: read the plans above.'} Through the repositories (\`userStore\`, a pool of 2, ${fmtInt(s.lookups)} random users, sequential, in the seeding process): by name p50 ${fmt(s.byNameUs.p50, 0)} µs (p99 ${fmt(s.byNameUs.p99, 0)} µs), by id p50 ${fmt(s.byIdUs.p50, 0)} µs (p99 ${fmt(s.byIdUs.p99, 0)} µs), each a round trip to the server.

Then the auth server (\`bench/servers/auth.ts\` with \`databaseUrl\` set to the scratch database, pool of 10, ${pinned(r.smoke)}) runs on that database and, as a separate process, on a one-user database; alternately in ${plural(r.blocks, 'block')} of ${r.perBlock.logins} sequential \`POST /auth/login\` as random users (each one argon2id verification) and ${r.perBlock.refreshes} sequential \`POST /auth/refresh\` along one session's chain (rotation in a transaction, user by id, two signatures), exactly as the SQLite row above:

${table(
  ['database', 'login p50 / p99 (n)', 'refresh p50 / p99 (n)', 'idle RSS after start'],
  [row(`${fmtInt(r.users)} users`, r.large), row('1 user', r.small)],
  ['l', 'r', 'r', 'r'],
)}
`
}

const ratios = (r: RedisSectionResult): { rps: number[]; capacity: number[] } => ({
  rps: r.throughput.on.map((c, i) => c.rps / (r.throughput.off[i]?.rps ?? NaN)),
  // Capacity: CPU per response of "off" over "on" (1 = the same cost; robust to a contended core).
  capacity: r.throughput.on.map((c, i) => (r.throughput.off[i]?.cpuUs ?? NaN) / c.cpuUs),
})

/** The paired req/s ratio on/off below which Redis counts as a measurable cost (the machine's noise). */
const NOISE = 0.95

export function redisTargetRows(r: RedisSectionResult): TargetRow[] {
  const p = r.propagation
  const { rps, capacity } = ratios(r)
  const statusOk = [...r.throughput.on, ...r.throughput.off].every((c) => c.statusOk)
  return [
    {
      target: 'Revocation propagation p99 across 3 instances over Redis < 100 ms',
      measured: `p99 ${fmtMs(p.afterResponse.p99)} ms (p50 ${fmtMs(p.afterResponse.p50)}, max ${fmtMs(p.afterResponse.max)}) after the logout's 204, ${p.revocations} revocations${p.timeouts > 0 ? `, ${p.timeouts} not propagated within ${p.deadlineMs} ms` : ''}`,
      verdict: p.afterResponse.p99 < 100 && p.timeouts === 0 ? 'met' : 'NOT met',
    },
    {
      target: 'Protected route with Redis on ≈ off (no measurable difference)',
      measured: `req/s on/off ${fmt(median(rps))} (rounds ${fmt(Math.min(...rps))}–${fmt(Math.max(...rps))}); capacity ${fmt(median(capacity))} (${fmt(Math.min(...capacity))}–${fmt(Math.max(...capacity))})${statusOk ? '' : '; ⚠ not all 200'}`,
      verdict: median(rps) >= NOISE && statusOk ? 'met' : 'NOT met',
    },
  ]
}

export function renderRedisSection(r: RedisSectionResult): string {
  const p = r.propagation
  const t = r.throughput
  const { rps, capacity } = ratios(r)
  const summary = (cells: ThroughputCell[]): string[] => {
    const values = cells.map((c) => c.rps)
    return [
      fmtInt(median(values)),
      `${fmtInt(Math.min(...values))}–${fmtInt(Math.max(...values))}`,
      fmt(median(cells.map((c) => c.cpuUs)), 1),
      String(median(cells.map((c) => c.p99))),
      `${Math.round(median(cells.map((c) => c.cpu)) * 100)} %`,
      cells.every((c) => c.statusOk) ? 'all 200' : `⚠ ${cells.map((c) => c.statuses).join('; ')}`,
    ]
  }
  const q = (x: Quantiles): string => `${fmtMs(x.p50)} / ${fmtMs(x.p99)} / ${fmtMs(x.max)} ms`
  return `PostgreSQL ${r.postgresVersion} and Redis ${r.redisVersion}, the machine's own services (not pinned); a scratch database and a Redis key prefix of the run's own, both removed after. Every Tessera instance is \`bench/servers/auth.ts\` (\`startServer\` with \`databaseUrl\` and, unless said otherwise, \`redisUrl\`/\`redisPrefix\`), a separate process ${pinned(r.smoke)}; the harness (requests, polling, autocannon) runs on core ${LOAD_CPU}.

**Revocation propagation.** ${p.instances} instances on the one database and the one Redis. ${p.revocations} sessions are logged in round robin on the three (\`POST /auth/login\`); then, one session at a time, its access token is checked to answer 200 on \`GET /protected\` of the two other instances, it is logged out on instance *i* mod 3, the one it was logged in on (\`POST /auth/logout\` with the access token: 204, the token's \`jti\` and its session are revoked), and as soon as the 204 is in, the two other instances are polled back to back on \`GET /protected\` with that token until each answers 401 (deadline ${p.deadlineMs} ms). The time is from the logout's 204 until the later of the two 401s, so it includes the polling request's own round trip (the last row: the resolution of this measurement); polls that still got 200 per revocation, both instances together: median ${fmt(p.pollsMedian, 0)}; ${p.stale} of ${p.revocations} revocations saw any 200 after the 204${p.stale * 2 < p.revocations ? ' (for the others the very first poll already got 401 on both instances: the revocation had arrived before the poll did, so these times are an upper bound set by the polling round trip)' : ''}. The revoking instance answers from its own replica at once and announces the revocation on Redis pub/sub after answering; the others apply it to their in-memory replica when the message arrives.

${table(
  ['', 'p50 / p99 / max', 'n'],
  [
    ['propagation, from the logout’s 204 (the target)', q(p.afterResponse), String(p.revocations)],
    ['propagation, from sending the logout', q(p.afterSend), String(p.revocations)],
    ['the logout request itself', q(p.logout), String(p.revocations)],
    ['one `GET /protected` (the checks before each logout)', q(p.roundTrip), String(2 * p.revocations)],
  ],
  ['l', 'r', 'r'],
)}

${p.timeouts > 0 ? `⚠ ${p.timeouts} revocations were not seen by both other instances within ${p.deadlineMs} ms (counted as infinite).\n\n` : ''}Percentiles are nearest-rank: with ${p.revocations} samples p99 is the ${Math.max(1, Math.ceil(0.99 * p.revocations))}th smallest.

**Protected route, Redis enabled vs disabled.** Once the three instances are stopped, two fresh ones on the same database (same signing key), started together: one with \`redisUrl\` (connected: \`/readyz\` said \`redis: ok\`), one without. \`GET /protected\` with one Bearer access token (EdDSA, issued by the server), autocannon ${t.connections} connections, ${plural(t.rounds, 'round')} of ${t.seconds} s each after a ${t.warmup} s untimed warm-up, the two interleaved (on off, off on, …). Server CPU per response is \`process.cpuUsage()\` over IPC, as in section 1; capacity = off's CPU per response / on's.

${table(
  [
    'instance',
    'median req/s',
    'min–max req/s',
    'server CPU µs/req',
    'p99 ms',
    'server core busy',
    'statuses',
  ],
  [
    ['Redis enabled', ...summary(t.on)],
    ['Redis disabled', ...summary(t.off)],
  ],
  ['l', 'r', 'r', 'r', 'r', 'r', 'l'],
)}

${table(
  ['round', 'order', 'on req/s', 'off req/s', 'req/s on/off', 'capacity on/off'],
  t.on.map((c, i) => [
    String(i + 1),
    (t.order[i] ?? []).join(' → '),
    fmtInt(c.rps),
    fmtInt(t.off[i]?.rps ?? NaN),
    fmt(rps[i] ?? NaN),
    fmt(capacity[i] ?? NaN),
  ]),
  ['r', 'l', 'r', 'r', 'r', 'r'],
)}

Median paired ratio on/off: req/s ${fmt(median(rps))}, capacity ${fmt(median(capacity))}. The verdict counts Redis as a measurable cost only when the median paired req/s ratio falls below ${NOISE} (differences under ~5 % are this machine's noise).
`
}
