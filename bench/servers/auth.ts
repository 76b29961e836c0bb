/**
 * The Tessera auth server (`startServer`) as a benchmark subject: a temporary data directory, silent
 * logs, rate limits out of the way, and a side channel (IPC) exposing what only the process itself can
 * see: its event-loop delay histogram (perf_hooks.monitorEventLoopDelay, 1 ms resolution), CPU time,
 * memory, and the cost of one argon2id hash and verification measured in place.
 *
 *   BENCH_DATA_DIR="$(mktemp -d)" node bench/.out/build/bench/servers/auth.js
 *
 * Optional (bench/lib/scaleout.ts): BENCH_DATABASE_URL (`postgres://…`; default: SQLite in
 * BENCH_DATA_DIR), BENCH_REDIS_URL and BENCH_REDIS_PREFIX (shared revocations over Redis; default:
 * none), passed to `startServer` as `databaseUrl`, `redisUrl` and `redisPrefix`.
 *
 * Commands (IPC): { cmd: 'lag-reset' } → { result: true }; { cmd: 'lag' } → { lag }; { cmd: 'cpu' } →
 * { cpu, rss }; { cmd: 'memory' } → { result: process.memoryUsage() after a GC when exposed };
 * { cmd: 'argon2', n } → { result: { hashMs: number[], verifyMs: number[], pbkdf2Ms: number[] } }
 * (pbkdf2Ms: the seed app's passlib pbkdf2_sha256 at its default cost, node:crypto, for context).
 */
import { pbkdf2, randomBytes } from 'node:crypto'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { promisify } from 'node:util'
import { sql } from 'kysely'
import { startServer } from '../../packages/server/src/server/index.js'
import { hashPassword, verifyPassword } from '../../packages/server/src/server/passwords.js'
import type { ServerMessage } from './protocol.js'

const send = (message: ServerMessage): void => {
  process.send?.(message)
}

const dataDir = process.env.BENCH_DATA_DIR
if (dataDir === undefined) throw new Error('BENCH_DATA_DIR is required')

// Unset or empty: the server's defaults (SQLite under dataDir, no Redis).
const optional = (name: string): string | undefined => {
  const value = process.env[name]
  return value === undefined || value === '' ? undefined : value
}
const databaseUrl = optional('BENCH_DATABASE_URL')
const redisUrl = optional('BENCH_REDIS_URL')
const redisPrefix = optional('BENCH_REDIS_PREFIX')

const histogram = monitorEventLoopDelay({ resolution: 1 })
histogram.enable()

// A start-up failure (database or configuration) goes to the parent as `{ error }`, not only to stderr.
const server = await startServer({
  dataDir,
  host: '127.0.0.1',
  port: 0,
  logLevel: 'silent',
  algorithm: 'EdDSA',
  loginRatePerIp: 100_000,
  loginRatePerAccount: 100_000,
  registerRatePerIp: 100_000,
  refreshRatePerSession: 100_000,
  ...(databaseUrl === undefined ? {} : { databaseUrl }),
  ...(redisUrl === undefined ? {} : { redisUrl }),
  ...(redisPrefix === undefined ? {} : { redisPrefix }),
}).catch((error: unknown): Promise<never> => {
  const failure = error instanceof Error ? error : new Error(String(error))
  const message: ServerMessage = { error: `startServer: ${failure.message}` }
  // Rethrown once the message is out (the process then exits with the stack on stderr).
  return new Promise((_, reject) => {
    if (process.send === undefined) reject(failure)
    else
      process.send(message, undefined, {}, () => {
        reject(failure)
      })
  })
})
// Measured from ready on, as a load balancer would send traffic: the password threads started.
await server.ready

// Experiment hook (not used by `npm run bench`): another SQLite durability level, to tell how much of
// the login's event-loop delay is the synchronous commit (better-sqlite3 runs on the event loop).
const synchronous = process.env.BENCH_SQLITE_SYNCHRONOUS
if (synchronous !== undefined) {
  if (!/^(OFF|NORMAL|FULL)$/.test(synchronous))
    throw new Error('BENCH_SQLITE_SYNCHRONOUS: OFF, NORMAL or FULL')
  await sql.raw(`PRAGMA synchronous = ${synchronous}`).execute(server.context.db)
}

/** passlib's pbkdf2_sha256 default (29,000 rounds, 16-byte salt, 32-byte key): the seed app's hash. */
const PBKDF2_ROUNDS = 29_000
const pbkdf2Async = promisify(pbkdf2)

async function argon2(n: number): Promise<{ hashMs: number[]; verifyMs: number[]; pbkdf2Ms: number[] }> {
  const hashMs: number[] = []
  const verifyMs: number[] = []
  const pbkdf2Ms: number[] = []
  const password = 'correct horse battery staple'
  const salt = randomBytes(16)
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await pbkdf2Async(password, salt, PBKDF2_ROUNDS, 32, 'sha256')
    pbkdf2Ms.push(performance.now() - t0)
  }
  for (let i = 0; i < n; i++) {
    let t = performance.now()
    const phc = await hashPassword(password)
    hashMs.push(performance.now() - t)
    t = performance.now()
    const check = await verifyPassword(phc, password)
    verifyMs.push(performance.now() - t)
    if (!check.ok) throw new Error('verifyPassword refused its own hash')
  }
  return { hashMs, verifyMs, pbkdf2Ms }
}

const ms = (ns: number): number => ns / 1e6

process.on('message', (message: { cmd?: string; n?: number }) => {
  switch (message.cmd) {
    case 'lag-reset':
      histogram.reset()
      send({ result: true })
      break
    case 'lag':
      send({
        lag: {
          p50: ms(histogram.percentile(50)),
          p99: ms(histogram.percentile(99)),
          max: ms(histogram.max),
          count: histogram.count,
        },
      })
      break
    case 'cpu':
      send({ cpu: process.cpuUsage(), rss: process.memoryUsage().rss })
      break
    case 'memory':
      globalThis.gc?.()
      send({ result: process.memoryUsage() })
      break
    case 'argon2':
      argon2(message.n ?? 5).then(
        (result) => {
          send({ result })
        },
        (error: unknown) => {
          send({ error: String(error) })
        },
      )
      break
  }
})

const shutdown = (): void => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  )
}
process.on('SIGTERM', shutdown)
process.on('disconnect', shutdown)
send({ port: Number(new URL(server.url).port) })
