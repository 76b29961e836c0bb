// `tessera serve` as a newcomer runs it: a child process (the CLI through tsx) on a free loopback port.
// Its log says where everything is, carries structured audit events for the flows, and never a password
// or a whole token.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { E2EClient, checkAfterEach, sleep, uniqueName, type Tokens } from '../helpers/server-harness.js'
import { cleanEnv } from '../helpers/clean-env.js'

const PASSWORD = 'serve-test passphrase 9f2c'
const WRONG_PASSWORD = 'serve-test wrong passphrase 51ab'
const STARTUP_MS = 20_000
const URL_PATTERN = /http:\/\/127\.0\.0\.1:\d+/

let child: ChildProcess | undefined
let dir = ''
let log = ''
let stdout = ''
const client = new E2EClient()
checkAfterEach(client)

/** Resolves with the first complete log line that satisfies `test`, or rejects after `ms`. */
async function waitForLine(test: (line: string) => boolean, ms: number): Promise<string> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    // Only complete lines: a chunk may end in the middle of a URL.
    const line = log.split('\n').slice(0, -1).find(test)
    if (line !== undefined) return line
    if (child?.exitCode !== null) throw new Error(`tessera serve exited early:\n${log}`)
    await sleep(50)
  }
  throw new Error(`no such log line within ${ms} ms:\n${log}`)
}

let startupLine = ''

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-serve-'))
  // A clean environment: no TESSERA_* setting of the developer's shell leaks in.
  const env = cleanEnv()
  // The early login below waits for the password threads; on a loaded machine loading them (through
  // tsx) took longer than the default 5-s request bound, which answers 503 by design.
  env.TESSERA_DATABASE_TIMEOUT = '30s'
  child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'packages/server/src/cli/bin.ts',
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--data-dir',
      dir,
      '--log-level',
      'info',
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    log += chunk
  })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (log += chunk))
  // The start-up line tells where everything is: the URL and the database (under the data directory).
  startupLine = await waitForLine((line) => URL_PATTERN.test(line) && line.includes(dir), STARTUP_MS)
  client.connect(URL_PATTERN.exec(startupLine)![0])
}, STARTUP_MS + 5_000)

afterAll(async () => {
  const running = child
  if (running !== undefined && running.exitCode === null) {
    const exited = new Promise<void>((resolve) => {
      running.once('exit', () => {
        resolve()
      })
    })
    running.kill('SIGTERM')
    const timer = setTimeout(() => {
      running.kill('SIGKILL')
    }, 5_000)
    await exited
    clearTimeout(timer)
  }
  await rm(dir, { recursive: true, force: true })
})

describe('tessera serve', () => {
  const username = uniqueName('newcomer')

  interface Exercised {
    session: Tokens
    protectedAs: unknown
    refreshStatus: number
    failedLoginStatus: number
    logoutStatus: number
  }
  let exercised: Promise<Exercised> | undefined
  /**
   * Runs the flows once for the whole file (register, protected, refresh, a failed login, login,
   * logout), whichever test asks first: the log tests read what they wrote, and each test runs alone.
   */
  const exercise = (): Promise<Exercised> =>
    (exercised ??= (async () => {
      const session = await client.register(username, PASSWORD)
      const protectedRes = await client.api('GET', '/protected', { token: session.access })
      const refreshed = await client.refresh(session.refresh)
      const failed = await client.api('POST', '/auth/login', { body: { username, password: WRONG_PASSWORD } })
      const latest = await client.login(username, PASSWORD)
      const logout = await client.api('POST', '/auth/logout', { token: latest.access })
      return {
        session,
        protectedAs: protectedRes.body.logged_in_as,
        refreshStatus: refreshed.status,
        failedLoginStatus: failed.status,
        logoutStatus: logout.status,
      }
    })())

  // First in the file: the server has just logged that it listens. Its password threads are still
  // loading argon2 and zxcvbn-ts's dictionaries (hundreds of ms of CPU), so a load balancer must not
  // send it logins yet; requests that come anyway are served once the threads are there.
  it('answers /readyz 503 "starting" until its password threads are loaded, then 200 "ready"', async () => {
    const early = await client.api('GET', '/readyz')
    expect(early.status, early.text).toBe(503)
    expect(early.headers.get('retry-after')).toBe('1')
    expect(early.body).toEqual({ status: 'starting', checks: { database: 'ok', workers: 'starting' } })
    const login = client.api('POST', '/auth/login', {
      body: { username: uniqueName('nobody'), password: WRONG_PASSWORD },
    })
    let ready = early
    const deadline = Date.now() + STARTUP_MS
    while (ready.status !== 200 && Date.now() < deadline) {
      await sleep(50)
      ready = await client.api('GET', '/readyz')
    }
    expect(ready.status, ready.text).toBe(200)
    expect(ready.body).toEqual({ status: 'ready', checks: { database: 'ok', workers: 'ok' } })
    expect((await login).status).toBe(401)
    // The 503s asked for here are the point of this test, not a failure of the suite-wide rule.
    const others = client.problems.splice(0).filter((problem) => !problem.startsWith('GET /readyz → 503'))
    client.problems.push(...others)
  })

  it('logs one line saying where the server and the database are', async () => {
    expect(startupLine).toContain(client.url)
    expect(startupLine).toContain(dir)
    // The README's claim: one line (Fastify's own "Server listening" line is replaced), stating the
    // transport, the token lifetimes and the docs address too.
    expect(log.split('\n').filter((line) => /listening/i.test(line))).toEqual([startupLine])
    for (const part of ['header transport', 'access tokens 15m', 'refresh tokens 30d', `${client.url}/docs`])
      expect(startupLine).toContain(part)
    expect((await client.api('GET', '/healthz')).status).toBe(200)
  })

  it('serves the API: register, protected, refresh, logout', async () => {
    const run = await exercise()
    expect(run.protectedAs).toBe(username)
    expect(run.refreshStatus).toBe(200)
    expect(run.failedLoginStatus).toBe(401)
    expect(run.logoutStatus).toBe(204)
  })

  it('writes structured (JSON) log lines', async () => {
    await exercise()
    await waitForLine((line) => /logout/i.test(line), 5_000)
    const lines = stdout
      .split('\n')
      .slice(0, -1)
      .filter((l) => l.trim() !== '')
    expect(lines.length).toBeGreaterThan(0)
    for (const line of lines) expect(() => JSON.parse(line) as unknown, line).not.toThrow()
  })

  it('logs audit events for register, login success and failure, refresh and logout', async () => {
    await exercise()
    await waitForLine((line) => /logout/i.test(line), 5_000)
    const events = log.toLowerCase()
    expect(events).toMatch(/register/)
    expect(events).toMatch(/login/)
    expect(events).toMatch(/(fail|invalid|wrong)/)
    expect(events).toMatch(/refresh/)
    expect(events).toMatch(/logout/)
  })

  it('never logs a password, a whole token or a password hash', async () => {
    const { session } = await exercise()
    await waitForLine((line) => /logout/i.test(line), 5_000)
    expect(log).not.toContain(PASSWORD)
    expect(log).not.toContain(WRONG_PASSWORD)
    expect(log).not.toContain(session.access)
    expect(log).not.toContain(session.refresh)
    expect(log).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/)
    expect(log).not.toMatch(/\$argon2/)
  })
})
