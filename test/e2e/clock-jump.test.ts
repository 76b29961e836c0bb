// The operator's bad day: the system clock is set 400 days forward (a mistyped `date`, a bad NTP
// source) and the server started on it. Before clock-guard.ts, its first maintenance pass purged every
// session, every revocation and the audit trail, and scheduled a key rotation for the wrong year; once
// the clock was put right, a logged-out access token was accepted again. Here the server also takes a
// login on the wrong clock (an audit event dated 400 days ahead), is restarted on it, and has the clock
// put right while it runs. It is a child process of the built CLI whose `Date` is shifted (its monotonic
// clock is not), as a real clock step is; SIGUSR2 puts the clock right.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { E2EClient, checkAfterEach, sleep, uniqueName, type Tokens } from '../helpers/server-harness.js'
import { cleanEnv } from '../helpers/clean-env.js'

const STARTUP_MS = 20_000
const URL_PATTERN = /http:\/\/127\.0\.0\.1:\d+/
const SHIFT_MS = 400 * 86_400_000
/** `Date` (now, and `new Date()`) 400 days ahead, loaded before the server; SIGUSR2 puts it right. */
const SHIFTED_DATE = `data:text/javascript,${encodeURIComponent(
  `const Real = Date; let shift = ${SHIFT_MS}; process.on('SIGUSR2', () => { shift = 0 });
   class Shifted extends Real { constructor(...a) { if (a.length === 0) super(Real.now() + shift); else super(...a) } static now() { return Real.now() + shift } }
   globalThis.Date = Shifted`,
)}`

interface Running {
  child: ChildProcess
  log: () => string
  url: string
}

let dir = ''
const dirs: string[] = []
const running: Running[] = []
const client = new E2EClient()
checkAfterEach(client)

async function serve(shifted: boolean): Promise<Running> {
  const env = { ...cleanEnv(), TESSERA_MAINTENANCE_INTERVAL: '1s', TESSERA_DATABASE_TIMEOUT: '30s' }
  const child = spawn(
    process.execPath,
    [
      ...(shifted ? ['--import', SHIFTED_DATE] : []),
      'packages/server/bin/tessera.js',
      'serve',
      ...['--host', '127.0.0.1', '--port', '0', '--data-dir', dir, '--log-level', 'info'],
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let log = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (log += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (log += chunk))
  const server: Running = { child, log: () => log, url: '' }
  running.push(server)
  const line = await waitForLine(server, (l) => URL_PATTERN.test(l), STARTUP_MS)
  server.url = URL_PATTERN.exec(line)![0]
  client.connect(server.url)
  return server
}

async function waitForLine(server: Running, test: (line: string) => boolean, ms: number): Promise<string> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const line = server.log().split('\n').slice(0, -1).find(test)
    if (line !== undefined) return line
    if (server.child.exitCode !== null) throw new Error(`tessera serve exited early:\n${server.log()}`)
    await sleep(50)
  }
  throw new Error(`no such log line within ${ms} ms:\n${server.log()}`)
}

async function stop(server: Running): Promise<void> {
  if (server.child.exitCode !== null) return
  const exited = new Promise((resolve) => server.child.once('exit', resolve))
  server.child.kill('SIGTERM')
  await exited
}

type Counts = Record<'users' | 'sessions' | 'revocations' | 'audit_events' | 'signing_keys', number>

function counts(): Counts {
  const db = new Database(join(dir, 'tessera.db'), { readonly: true })
  try {
    const count = (table: string) =>
      (db.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n
    return {
      users: count('users'),
      sessions: count('sessions'),
      revocations: count('revocations'),
      audit_events: count('audit_events'),
      signing_keys: count('signing_keys'),
    }
  } finally {
    db.close()
  }
}

const USERNAME = uniqueName('clock')
const PASSWORD = 'clock-test passphrase 8d1e'
let loggedOut: Tokens
let live: Tokens
let before: Counts
let afterRestart: Counts
let shiftedLog = ''
let restartedLog = ''
let shiftedMetrics = ''
let restarted: Running

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-clock-'))
  dirs.push(dir)
  const first = await serve(false)
  live = await client.register(USERNAME, PASSWORD)
  loggedOut = await client.login(USERNAME, PASSWORD)
  expect((await client.api('POST', '/auth/logout', { token: loggedOut.access })).status).toBe(204)
  await stop(first)
  before = counts()

  const jumped = await serve(true)
  await waitForLine(jumped, (l) => l.includes('clock: the system clock reads'), STARTUP_MS)
  // A login on the wrong clock: its session and audit event are dated 400 days ahead.
  await client.login(USERNAME, PASSWORD)
  // Passes every second (±25 %), each of which would have purged everything.
  await sleep(3000)
  shiftedMetrics = (await client.api('GET', '/metrics')).text
  await stop(jumped)
  shiftedLog = jumped.log()

  // Restarted on the same wrong clock: it starts from the time the passes saved, not from that login.
  restarted = await serve(true)
  await waitForLine(restarted, (l) => l.includes('clock: the system clock reads'), STARTUP_MS)
  // Past its first revocation sync too (TESSERA_KEY_REFRESH_INTERVAL, 5 s), which on SQLite reads the
  // database again only once another connection has written: the replica stays as the start filled it.
  await sleep(6500)
  afterRestart = counts()
  // The clock is put right while the server runs.
  restarted.child.kill('SIGUSR2')
  await waitForLine(restarted, (l) => l.includes('follow the system clock again'), 15_000)
  restartedLog = restarted.log()
}, 4 * STARTUP_MS)

afterAll(async () => {
  for (const server of running) await stop(server)
  for (const path of dirs) await rm(path, { recursive: true, force: true })
})

describe('a server started with its clock 400 days ahead', () => {
  it('deletes nothing and makes no key, through a login on that clock and a restart on it', () => {
    expect(before.sessions).toBe(2)
    expect(before.revocations).toBeGreaterThan(0)
    expect(afterRestart).toEqual({
      ...before,
      sessions: before.sessions + 1, // the login on the wrong clock
      audit_events: afterRestart.audit_events,
    })
    expect(afterRestart.audit_events).toBeGreaterThan(before.audit_events)
  })

  it('says so in its log and its metrics, and its passes ran at the time it can vouch for', () => {
    for (const log of [shiftedLog, restartedLog]) {
      const line = log.split('\n').find((l) => l.includes('clock: the system clock reads'))
      expect(line).toBeDefined()
      const entry = JSON.parse(line!) as { level: number; msg: string }
      // Information, not a warning: at start, a clock past the newest record most often means a
      // server that was stopped that long.
      expect(entry.level).toBe(30)
      expect(entry.msg).toMatch(
        /^clock: the system clock reads 2\d{3}-.*, 400 days past the time this server last counted by\./,
      )
      expect(log).not.toMatch(/keys: .* published/)
    }
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(shiftedMetrics)?.[1])
    expect(gauge('tessera_clock_ahead_seconds')).toBeGreaterThan(399 * 86_400)
    const lastPass = gauge('tessera_maintenance_last_run_timestamp_seconds')
    expect(Math.abs(lastPass - Date.now() / 1000)).toBeLessThan(600)
  })

  it('once the clock is put right while it runs, the logged-out access token is still refused and the live one works', async () => {
    client.connect(restarted.url)
    const refused = await client.api('GET', '/protected', { token: loggedOut.access })
    expect(refused.status).toBe(401)
    expect(refused.body.error).toBe('token_revoked')
    expect((await client.api('GET', '/protected', { token: live.access })).status).toBe(200)
    expect((await client.refresh(live.refresh)).status).toBe(200)
  })
})

// A server stopped for three days, on a right clock: it counts from the time it last counted by, so
// its automatic rotation waits (a rotation planned on that time would have its successor sign at once,
// the wall clock being past its activation, before services fetched the new key).
describe('a server started three days after its last pass, its signing key past the rotation interval', () => {
  let log = ''
  let keys = 0

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-clock-'))
    dirs.push(dir)
    const first = await serve(false)
    await waitForLine(first, (l) => l.includes('Tessera listening'), STARTUP_MS)
    await sleep(2000) // a pass or two saves the trusted time
    await stop(first)
    const db = new Database(join(dir, 'tessera.db'))
    try {
      const now = Math.floor(Date.now() / 1000)
      db.prepare(`update server_state set value = ? where name = 'trusted_time'`).run(now - 3 * 86_400)
      db.prepare('update signing_keys set created_at = ?, activated_at = ?').run(
        now - 100 * 86_400,
        now - 100 * 86_400,
      )
    } finally {
      db.close()
    }
    const again = await serve(false)
    await waitForLine(again, (l) => l.includes('clock: the system clock reads'), STARTUP_MS)
    await sleep(3000) // passes every second: each would have rotated
    await stop(again)
    log = again.log()
    keys = counts().signing_keys
  }, 3 * STARTUP_MS)

  it('says it counts from three days back, and makes no key until the clock has been trusted', () => {
    expect(log).toMatch(
      /clock: the system clock reads [^"]*, 3 days past the time this server last counted by/,
    )
    expect(log).not.toMatch(/keys: .* published/)
    expect(keys).toBe(1)
  })
})
