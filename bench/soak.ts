/**
 * `npm run bench:soak`: the operations soak (issue 16). One auth server (startServer, temp SQLite,
 * silent logs) with short lifetimes (access 1 min, refresh 2 min) and a fast maintenance job (every
 * 10 s; sessions kept 30 s, audit events 2 min) under a steady mix of logins, refreshes, protected
 * requests and logouts. Every 30 s it prints the rows per table, the revocation replica's size and the
 * process RSS: with the maintenance job they level off instead of growing with the run.
 *
 *   npm run bench:soak                 5 minutes (the figure)
 *   npm run bench:soak -- --seconds 60 --workers 4
 *
 * Not part of `npm test` nor of `npm run bench`: it takes minutes by design.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startServer } from '../packages/server/src/server/index.js'
import { countRows } from '../packages/server/src/stores/sql/purge.js'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '300' },
    workers: { type: 'string', default: '6' },
    every: { type: 'string', default: '30' },
  },
})
const seconds = Number(values.seconds)
const workers = Number(values.workers)
const every = Number(values.every)

const dir = mkdtempSync(join(tmpdir(), 'tessera-soak-'))
const server = await startServer({
  dataDir: dir,
  databaseUrl: join(dir, 'tessera.db'),
  port: 0,
  logLevel: 'silent',
  accessTokenTtl: 60,
  refreshTokenTtl: 120,
  maintenanceIntervalMs: 10_000,
  sessionRetention: 30,
  auditRetention: 120,
  loginRatePerIp: 1_000_000,
  loginRatePerAccount: 1_000_000,
  registerRatePerIp: 1_000_000,
})
await server.ready
const base = server.url
const counts = { requests: 0, errors: 0 }

async function call(
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  counts.requests++
  if (res.status >= 500) counts.errors++
  const text = await res.text()
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
}

const password = 'correct horse battery staple'
const deadline = Date.now() + seconds * 1000
async function worker(i: number): Promise<void> {
  const username = `soak-${i}`
  await call('POST', '/auth/register', { username, password })
  while (Date.now() < deadline) {
    // A login, three refreshes (each refresh token used once), protected reads, a logout.
    let tokens = await call('POST', '/auth/login', { username, password })
    for (let r = 0; r < 3 && Date.now() < deadline; r++) {
      for (let p = 0; p < 5; p++) await call('GET', '/secret', undefined, tokens.access_token as string)
      tokens = await call('POST', '/auth/refresh', undefined, tokens.refresh_token as string)
    }
    await call('POST', '/auth/logout', undefined, tokens.access_token as string)
  }
}

const rows: string[] = []
const started = Date.now()
const sample = async (): Promise<void> => {
  const tables = await countRows(server.context.db)
  const replica = server.context.replica.size()
  const line = [
    `${Math.round((Date.now() - started) / 1000)} s`,
    String(counts.requests),
    String(tables.sessions),
    String(tables.revocations),
    String(tables.audit_events),
    String(replica.tokens + replica.sessions + replica.users),
    `${Math.round(process.memoryUsage().rss / 1e6)} MB`,
    loadavg()[0]!.toFixed(1),
  ]
  rows.push(`| ${line.join(' | ')} |`)
  console.log(rows.at(-1))
}
console.log(
  '| time | requests | sessions | revocations | audit_events | replica entries | RSS | load (1 min) |',
)
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |')
const timer = setInterval(() => void sample(), every * 1000)
try {
  await Promise.all(Array.from({ length: workers }, (_, i) => worker(i)))
  clearInterval(timer)
  await sample()
  const rate = counts.requests / ((Date.now() - started) / 1000)
  console.log(
    `\n${counts.requests} requests (${rate.toFixed(0)}/s), ${counts.errors} 5xx, ${new Date().toISOString()}`,
  )
} finally {
  clearInterval(timer)
  await server.close()
  rmSync(dir, { recursive: true, force: true })
}
