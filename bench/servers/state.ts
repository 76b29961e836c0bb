/**
 * Scale-of-state measurements, each in a fresh process (started by bench/run.ts, pinned, with
 * --expose-gc), the result sent once over IPC as `{ result }`:
 *
 *   state.js revocation <entries>          memoryRevocationStore with <entries> revoked jtis: heap and
 *                                          RSS growth, isRevoked time for hits and for misses
 *   state.js sqlite <users> <dataDir>      a migrated SQLite database in <dataDir> holding <users>
 *                                          users (one precomputed argon2id hash, raw INSERTs in
 *                                          transactions of 50k), the query plans of the login and
 *                                          refresh lookups, and their time through the Kysely stores
 *   state.js postgres <users> <url> [n]    the same in the (empty, scratch) PostgreSQL database <url>:
 *                                          migrateToLatest, one INSERT … SELECT over generate_series,
 *                                          ANALYZE, EXPLAIN (ANALYZE, BUFFERS) of the two lookups as
 *                                          Kysely compiles them, then n (2000) timed lookups of each
 */
import { randomBytes } from 'node:crypto'
import Database from 'better-sqlite3'
import pg from 'pg'
import { memoryRevocationStore, type RevocationSubject } from 'tessera'
import { migrateToLatest, openDatabase, userStore } from '../../packages/server/src/stores/index.js'
import { hashPassword } from '../../packages/server/src/server/passwords.js'
import type { ServerMessage } from './protocol.js'

/** The password of every seeded user (they share one hash). */
export const SEED_PASSWORD = 'correct horse battery staple'
export const seedUsername = (i: number): string => `user${i}`

const send = (message: ServerMessage): void => {
  process.send?.(message)
}

const gc = (): void => {
  globalThis.gc?.()
  globalThis.gc?.()
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2
}

function revocation(entries: number): unknown {
  gc()
  const before = process.memoryUsage()
  const store = memoryRevocationStore({ sweepIntervalSeconds: 0 })
  const expiresAt = Math.floor(Date.now() / 1000) + 3600
  const SAMPLE = 4096
  const hits: RevocationSubject[] = []
  const started = performance.now()
  for (let i = 0; i < entries; i++) {
    const jti = randomBytes(16).toString('base64url')
    store.revokeToken(jti, expiresAt)
    if (i % Math.max(1, Math.floor(entries / SAMPLE)) === 0 && hits.length < SAMPLE)
      hits.push({ jti, sid: 'session-1', sub: 'user-1', iat: 1 })
  }
  const fillMs = performance.now() - started
  // A few session and user entries too, so every grain's map is non-empty (the real shape).
  store.revokeSession('other-session', expiresAt)
  store.revokeUser('other-user', 1, expiresAt)
  const misses: RevocationSubject[] = Array.from({ length: SAMPLE }, () => ({
    jti: randomBytes(16).toString('base64url'),
    sid: 'session-1',
    sub: 'user-1',
    iat: 1,
  }))
  gc()
  const after = process.memoryUsage()
  const time = (subjects: RevocationSubject[], expect: boolean): number[] => {
    const perRound: number[] = []
    const calls = Math.min(1_000_000, Math.max(100_000, entries))
    for (let round = 0; round < 7; round++) {
      let wrong = 0
      const t = process.hrtime.bigint()
      for (let i = 0; i < calls; i++) {
        if (store.isRevoked(subjects[i % subjects.length] as RevocationSubject) !== expect) wrong++
      }
      const ns = Number(process.hrtime.bigint() - t) / calls
      if (wrong > 0) throw new Error(`isRevoked answered ${String(!expect)} ${wrong} times`)
      perRound.push(ns)
    }
    return perRound.slice(2)
  }
  const missNs = time(misses, false)
  const hitNs = time(hits, true)
  const size = store.size()
  store.close()
  return {
    entries: size.tokens,
    fillMs,
    heapBytes: after.heapUsed - before.heapUsed,
    rssBytes: after.rss - before.rss,
    hitNs: median(hitNs),
    hitNsRange: [Math.min(...hitNs), Math.max(...hitNs)],
    missNs: median(missNs),
    missNsRange: [Math.min(...missNs), Math.max(...missNs)],
  }
}

async function sqlite(users: number, dataDir: string): Promise<unknown> {
  const file = `${dataDir}/tessera.db`
  let db = await openDatabase({ url: file })
  await migrateToLatest(db)
  await db.destroy()
  const hashStarted = performance.now()
  const phc = await hashPassword(SEED_PASSWORD)
  const hashMs = performance.now() - hashStarted

  const raw = new Database(file)
  raw.pragma('journal_mode = WAL')
  raw.pragma('synchronous = NORMAL')
  const insert = raw.prepare(
    'INSERT INTO users (username, username_normalized, password_hash, roles, disabled, created_at, updated_at, password_changed_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?)',
  )
  const now = Math.floor(Date.now() / 1000)
  const BATCH = 50_000
  const batch = raw.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const name = seedUsername(i)
      insert.run(name, name, phc, '["user"]', now, now, now)
    }
  })
  const started = performance.now()
  for (let from = 0; from < users; from += BATCH) batch(from, Math.min(users, from + BATCH))
  const insertMs = performance.now() - started
  raw.pragma('wal_checkpoint(TRUNCATE)')
  const plan = (query: string, ...params: unknown[]): string =>
    (raw.prepare(`EXPLAIN QUERY PLAN ${query}`).all(...params) as { detail: string }[])
      .map((r) => r.detail)
      .join('; ')
  const plans = {
    login: plan('SELECT * FROM users WHERE username_normalized = ?', seedUsername(1)),
    refresh: plan('SELECT * FROM users WHERE id = ?', 1),
  }
  const count = (raw.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n
  raw.close()

  // Lookups through the repositories the server uses.
  db = await openDatabase({ url: file })
  const { byNameUs, byIdUs } = await timeLookups(userStore(db), users, 2000)
  await db.destroy()
  return {
    users: count,
    hashMs,
    insertMs,
    plans,
    byNameUs,
    byIdUs,
  }
}

async function postgres(users: number, url: string, lookups: number): Promise<unknown> {
  let db = await openDatabase({ url, poolSize: 2 })
  await migrateToLatest(db)
  // The statements userStore.getByUsername / userStore.get run (Kysely compiles them the same way).
  const byNameQuery = (name: string) =>
    db.selectFrom('users').selectAll().where('username_normalized', '=', name).compile()
  const byIdQuery = (id: number) => db.selectFrom('users').selectAll().where('id', '=', id).compile()
  const hashStarted = performance.now()
  const phc = await hashPassword(SEED_PASSWORD)
  const hashMs = performance.now() - hashStarted

  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
  client.on('error', () => undefined)
  await client.connect()
  try {
    const existing = await client.query<{ n: string }>('SELECT count(*) AS n FROM users')
    if (Number(existing.rows[0]?.n) !== 0) throw new Error(`${url}: users is not empty`)
    const now = Math.floor(Date.now() / 1000)
    const started = performance.now()
    // user0 … user<n-1>, ids 1 … n (a fresh identity), every one with the same hash.
    await client.query(
      `INSERT INTO users (username, username_normalized, password_hash, roles, disabled, created_at, updated_at, password_changed_at)
       SELECT 'user' || g, 'user' || g, $1, '["user"]', 0, $2, $2, $2 FROM generate_series(0, $3::integer - 1) AS g`,
      [phc, now, users],
    )
    const insertMs = performance.now() - started
    const analyzeStarted = performance.now()
    await client.query('ANALYZE users')
    const analyzeMs = performance.now() - analyzeStarted

    const plan = async (query: { sql: string; parameters: readonly unknown[] }): Promise<string> => {
      const rows = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, BUFFERS) ${query.sql}`,
        query.parameters as unknown[],
      )
      return rows.rows.map((r) => r['QUERY PLAN']).join('\n')
    }
    const probe = seedUsername(Math.floor(users / 2))
    const probeRow = await client.query<{ id: number }>(
      'SELECT id FROM users WHERE username_normalized = $1',
      [probe],
    )
    const probeId = probeRow.rows[0]?.id
    if (probeId === undefined) throw new Error(`${probe} not found after seeding`)
    const plans = {
      loginSql: byNameQuery(probe).sql,
      byIdSql: byIdQuery(probeId).sql,
      login: await plan(byNameQuery(probe)),
      byId: await plan(byIdQuery(probeId)),
    }
    const sizes = await client.query<{ n: string; table: string; indexes: string; version: string }>(
      `SELECT (SELECT count(*) FROM users) AS n, pg_table_size('users') AS table,
              pg_indexes_size('users') AS indexes, current_setting('server_version') AS version`,
    )
    const info = sizes.rows[0]
    if (info === undefined) throw new Error('no size row')
    await db.destroy()

    // Lookups through the repositories the server uses (a pool of 2, like a quiet server).
    db = await openDatabase({ url, poolSize: 2 })
    const { byNameUs, byIdUs } = await timeLookups(userStore(db), users, lookups)
    return {
      users: Number(info.n),
      version: info.version,
      tableBytes: Number(info.table),
      indexBytes: Number(info.indexes),
      hashMs,
      insertMs,
      analyzeMs,
      plans,
      lookups,
      byNameUs,
      byIdUs,
    }
  } finally {
    await client.end().catch(() => undefined)
    await db.destroy().catch(() => undefined)
  }
}

type Quantiles = { p50: number; p99: number }

/**
 * `count` random seeded users looked up by name (login) and then by id (refresh) through the
 * repository the server uses, after a tenth as many untimed warm-up lookups; microseconds.
 */
async function timeLookups(
  store: ReturnType<typeof userStore>,
  users: number,
  count: number,
): Promise<{ byNameUs: Quantiles; byIdUs: Quantiles }> {
  const byName: number[] = []
  const byId: number[] = []
  const warmup = Math.ceil(count / 10)
  for (let i = 0; i < warmup + count; i++) {
    const n = Math.floor(Math.random() * users)
    let t = performance.now()
    const user = await store.getByUsername(seedUsername(n))
    const nameUs = (performance.now() - t) * 1000
    if (user === undefined) throw new Error(`user ${n} not found`)
    t = performance.now()
    await store.get(user.id)
    const idUs = (performance.now() - t) * 1000
    if (i < warmup) continue
    byName.push(nameUs)
    byId.push(idUs)
  }
  const quantiles = (values: number[]): Quantiles => {
    const sorted = [...values].sort((a, b) => a - b)
    return { p50: median(sorted), p99: sorted[Math.floor(sorted.length * 0.99)] ?? NaN }
  }
  return { byNameUs: quantiles(byName), byIdUs: quantiles(byId) }
}

const [mode, a, b, c] = process.argv.slice(2)
try {
  if (mode === 'revocation') send({ result: revocation(Number(a)) })
  else if (mode === 'sqlite') send({ result: await sqlite(Number(a), String(b)) })
  else if (mode === 'postgres') send({ result: await postgres(Number(a), String(b), Number(c ?? 2000)) })
  else throw new Error(`unknown mode ${String(mode)}`)
} catch (error) {
  send({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) })
}
if (process.connected) process.disconnect()
