// What `tessera serve` writes to its log, as a user captures it (stdout redirected to a file): one
// access line per request with the documented fields, and never a token, a cookie value, a query string
// value or a password, whatever the log level and wherever the client put its credentials.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LOGGED_URL_MAX, redactUrl } from '../../packages/server/src/server/logging.js'
import { rawRequest } from '../attacks/tools.js'
import { freePort } from '../helpers/processes.js'
import { cookieJar, E2EClient, sleep, uniqueName, type ApiResponse } from '../helpers/server-harness.js'
import { cleanEnv } from '../helpers/clean-env.js'

const PASSWORD = 'logging-test passphrase 7d1e'
const WRONG_PASSWORD = 'logging-test wrong passphrase 33c0'
const STARTUP_MS = 30_000

type Level = 'trace' | 'debug' | 'info' | 'warn'
type Transport = 'header' | 'cookie'

interface Served {
  child: ChildProcess
  client: E2EClient
  logFile: string
  stderr: () => string
}

const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
})

/**
 * `tessera serve` with its stdout redirected to a file, as `npm start > server.log` does. `shutdownDelay`
 * is the time it keeps serving after SIGTERM (default 5 s, as shipped).
 */
async function serve(level: Level, transport: Transport, shutdownDelay?: string): Promise<Served> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-logging-'))
  dirs.push(dir)
  const logFile = join(dir, 'server.log')
  const fd = openSync(logFile, 'w')
  const port = await freePort()
  const env = cleanEnv()
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'packages/server/src/cli/bin.ts',
      'serve',
      ...['--host', '127.0.0.1', '--port', String(port), '--data-dir', dir, '--log-level', level],
      // Several test files share two cores: no request should run into the production deadline (5 s).
      // (The password threads keep the test run's ordinary priority through cleanEnv.)
      ...['--database-timeout', '30s'],
      ...['--token-transport', transport],
      ...(shutdownDelay === undefined ? [] : ['--shutdown-delay', shutdownDelay]),
    ],
    { env, stdio: ['ignore', fd, 'pipe'] },
  )
  closeSync(fd)
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + STARTUP_MS
  // Polled rather than read from the start-up line, which is not logged above info.
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`tessera serve exited early: ${stderr}`)
    const up = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    )
    if (up) return { child, client: new E2EClient(url), logFile, stderr: () => stderr }
    await sleep(100)
  }
  child.kill('SIGKILL')
  throw new Error(`tessera serve did not answer within ${STARTUP_MS} ms: ${stderr}`)
}

/** SIGTERM, as a process manager stops it (or `signal`); resolves with everything it logged. */
async function stop(served: Served, signal: NodeJS.Signals = 'SIGTERM'): Promise<string> {
  const { child } = served
  if (child.exitCode === null) {
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        resolve()
      }),
    )
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
  return readFileSync(served.logFile, 'utf8') + served.stderr()
}

interface Credentials {
  access: string
  refresh: string
  csrf: string
}

function credentialsOf(res: ApiResponse, transport: Transport): Credentials {
  if (transport === 'header')
    return { access: String(res.body.access_token), refresh: String(res.body.refresh_token), csrf: '' }
  const jar = cookieJar(res)
  return {
    access: jar.access_token_cookie ?? '',
    refresh: jar.refresh_token_cookie ?? '',
    csrf: jar.csrf_access_token ?? '',
  }
}

const TOKEN_PARAMS = ['access_token', 'token', 'jwt', 'auth', 'authorization', 'refresh_token', 'id_token']

/** Every place a client could put a credential, on accepted and refused requests. */
async function sendEverywhere(client: E2EClient, transport: Transport): Promise<string[]> {
  const username = uniqueName('logger')
  const registered = await client.api('POST', '/auth/register', { body: { username, password: PASSWORD } })
  expect(registered.status, registered.text).toBe(201)
  const { access, refresh, csrf } = credentialsOf(registered, transport)
  expect(access).toMatch(/^eyJ/)
  const tampered = `${access.slice(0, -4)}AAAA`
  const query = (token: string): string =>
    [...TOKEN_PARAMS.map((p) => `${p}=${encodeURIComponent(token)}`), `password=${PASSWORD}`].join('&')
  const cookies = { access_token_cookie: access, refresh_token_cookie: refresh, session: access }

  // Header, accepted; header refused; query (accepted by header, refused without); cookies; a path.
  expect((await client.api('GET', '/protected', { token: access })).status).toBe(200)
  expect((await client.api('GET', '/protected', { token: tampered })).status).toBe(401)
  expect((await client.api('GET', `/protected?${query(access)}`, { token: access })).status).toBe(200)
  expect((await client.api('GET', `/protected?${query(access)}`)).status).toBe(401)
  expect((await client.api('GET', `/protected?${query(refresh)}`)).status).toBe(401)
  expect((await client.api('GET', `/protected?x=${access}&${access}`)).status).toBe(401)
  expect((await client.api('GET', '/protected', { cookies })).status).toBe(transport === 'cookie' ? 200 : 401)
  expect((await client.api('GET', `/no-such-route?${query(access)}`, { cookies })).status).toBe(404)
  expect((await client.api('GET', `/no-such-route/${access}`)).status).toBe(404)
  // Bodies: a wrong password, a password and tokens in unknown fields, a broken JSON body around them.
  const wrong = await client.api('POST', '/auth/login', { body: { username, password: WRONG_PASSWORD } })
  expect(wrong.status).toBe(401)
  const extra = { username, password: PASSWORD, access_token: access, refresh_token: refresh }
  expect((await client.api('POST', `/auth/login?${query(access)}`, { body: extra })).status).toBe(400)
  const broken = `{"username":"${username}","password":"${PASSWORD}","token":"${access}"`
  expect((await client.api('POST', '/auth/login', { raw: broken })).status).toBe(400)
  // The refresh token as a bearer (header mode) or its cookie (cookie mode, with the CSRF header).
  const refreshed =
    transport === 'header'
      ? await client.api('POST', '/auth/refresh', { token: refresh })
      : await client.api('POST', '/auth/refresh', {
          cookies: { refresh_token_cookie: refresh },
          headers: { 'x-csrf-token': cookieJar(registered).csrf_refresh_token ?? '' },
        })
  expect(refreshed.status, refreshed.text).toBe(200)
  const next = credentialsOf(refreshed, transport)
  // The spent refresh token again, also in the query (inside the grace period: the same successor).
  await client.api('POST', `/auth/refresh?refresh_token=${refresh}`, { token: refresh })
  // Logout with the CSRF value in the query as well.
  const logout = await client.api('POST', `/auth/logout?csrf=${csrf}&token=${next.access}`, {
    token: next.access,
  })
  expect(logout.status).toBe(204)
  return [access, refresh, tampered, next.access, next.refresh, csrf].filter((s) => s !== '')
}

/** The parts of a token that identify it: the whole string and its signature segment. */
function fingerprints(secret: string): string[] {
  const parts = secret.split('.')
  const signature = parts.length === 3 ? (parts[2] ?? '') : ''
  return signature.length >= 16 ? [secret, signature] : [secret]
}

const RUNS: [Level, Transport][] = [
  ['trace', 'header'],
  ['debug', 'cookie'],
  ['debug', 'header'],
  ['info', 'cookie'],
  ['info', 'header'],
  ['warn', 'header'],
]

describe('tessera serve logs no credentials', () => {
  it.each(RUNS)(
    'at %s with %s transport, the captured log contains no token, cookie, query value or password',
    async (level, transport) => {
      // Stopped at once on SIGTERM: what is logged does not depend on the shutdown delay, which the
      // access-log test below keeps at its default.
      const served = await serve(level, transport, '0s')
      let secrets: string[] = []
      try {
        secrets = await sendEverywhere(served.client, transport)
      } finally {
        const log = await stop(served)
        if (level !== 'warn') expect(log).toContain('"msg":"request"')
        for (const secret of secrets)
          for (const part of fingerprints(secret)) expect(log, `${level}: found ${part}`).not.toContain(part)
        expect(log).not.toContain(PASSWORD)
        expect(log).not.toContain(WRONG_PASSWORD)
        const leaks = log.split('\n').filter((l) => /eyJ[\w-]+\.eyJ[\w-]+|\$argon2/.test(l))
        expect(leaks).toEqual([])
        // At debug and trace Fastify's per-request lines appear (query values redacted); above, none.
        const verbose = level === 'trace' || level === 'debug'
        expect(log.includes('incoming request')).toBe(verbose)
        if (verbose) expect(log).toContain('access_token=[redacted]')
        expect(served.client.problems).toEqual([])
      }
    },
    60_000,
  )
})

describe('the access log', () => {
  it('writes one line per request with method, route pattern, status, duration, request id and user id, flushed on SIGTERM', async () => {
    const served = await serve('info', 'header')
    const { client } = served
    let userId = 0
    try {
      const username = uniqueName('access')
      const registered = await client.api('POST', '/auth/register', {
        body: { username, password: PASSWORD },
      })
      expect(registered.status).toBe(201)
      userId = Number(registered.body.user?.id)
      const access = String(registered.body.access_token)
      for (let i = 0; i < 50; i++)
        expect((await client.api('GET', `/protected?access_token=${access}`, { token: access })).status).toBe(
          200,
        )
      expect((await client.api('GET', '/protected')).status).toBe(401)
      expect(
        (await client.api('DELETE', `/auth/sessions/abc?token=${access}`, { token: access })).status,
      ).toBe(404)
      // Answered before routing (a URL that does not decode) and by Node's parser (headers too large).
      expect((await client.api('GET', '/users/%ZZ')).status).toBe(400)
      const port = Number(new URL(client.url).port)
      const huge = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`
      expect(await rawRequest(port, Buffer.from(huge))).toBe(431)
    } finally {
      const log = await stop(served)
      const lines = log
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
      const access = lines.filter((l) => l.msg === 'request' && l.route !== '/healthz')
      // Every request, written before the process exited (the asynchronous destination was flushed).
      expect(access).toHaveLength(55)
      expect(access.find((l) => l.status === 400)).toMatchObject({ method: 'GET', route: '(unrouted)' })
      expect(access.find((l) => l.status === 431)).toMatchObject({
        method: '-',
        route: '(unparsed)',
        user: null,
      })
      const protectedLines = access.filter((l) => l.route === '/protected' && l.status === 200)
      expect(protectedLines).toHaveLength(50)
      for (const line of protectedLines) {
        expect(line).toMatchObject({ level: 30, method: 'GET', route: '/protected', status: 200 })
        expect(line.user).toBe(String(userId))
        expect(typeof line.ms).toBe('number')
        expect(typeof line.reqId).toBe('string')
        expect(Object.keys(line)).not.toContain('url')
        expect(Object.keys(line)).not.toContain('req')
      }
      expect(new Set(protectedLines.map((l) => l.reqId)).size).toBe(50)
      expect(access.find((l) => l.status === 401)).toMatchObject({ route: '/protected', user: null })
      // The route pattern, never the raw path.
      expect(access.find((l) => l.status === 404)).toMatchObject({
        method: 'DELETE',
        route: '/auth/sessions/:id',
      })
      expect(log).not.toContain('incoming request')
      expect(log).not.toContain('request completed')
    }
  }, 60_000)
})

describe('stopping on SIGHUP', () => {
  // The terminal the server was started from closing (an SSH session ending) sends SIGHUP, whose
  // default action ended the process at once: requests in flight reset, the gathered access lines lost.
  it('stops gracefully, as on SIGTERM: every access line written, exit 0', async () => {
    const served = await serve('info', 'header', '0s')
    for (let i = 0; i < 20; i++) expect((await served.client.api('GET', '/protected')).status).toBe(401)
    const log = await stop(served, 'SIGHUP')
    expect(served.child.exitCode, log).toBe(0)
    expect(log).toMatch(/SIGHUP: not ready/)
    const lines = log.split('\n').filter((l) => l.includes('"msg":"request"') && l.includes('/protected'))
    expect(lines).toHaveLength(20)
  }, 60_000)
})

describe('audit events in the log', () => {
  it('carry the reqId of the request that caused them; a refresh reuse is a warning', async () => {
    const served = await serve('info', 'header')
    const { client } = served
    try {
      const username = uniqueName('audited')
      const registered = await client.api('POST', '/auth/register', {
        body: { username, password: PASSWORD },
      })
      expect(registered.status).toBe(201)
      const wrong = await client.api('POST', '/auth/login', { body: { username, password: WRONG_PASSWORD } })
      expect(wrong.status).toBe(401)
      // R0 → R1 → R2, then R0 again: a grandparent, so reuse at once (no grace).
      const r0 = String(registered.body.refresh_token)
      const first = await client.api('POST', '/auth/refresh', { token: r0 })
      expect(first.status).toBe(200)
      const second = await client.api('POST', '/auth/refresh', { token: String(first.body.refresh_token) })
      expect(second.status).toBe(200)
      const reused = await client.api('POST', '/auth/refresh', { token: r0 })
      expect(reused.status).toBe(401)
    } finally {
      const lines = (await stop(served))
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
      const requestOf = (reqId: unknown): Record<string, unknown> | undefined =>
        lines.find((l) => l.msg === 'request' && l.reqId === reqId)
      const expected: [string, number, string, number][] = [
        ['register', 30, '/auth/register', 201],
        ['login_failed', 30, '/auth/login', 401],
        ['refresh_reuse_detected', 40, '/auth/refresh', 401],
      ]
      for (const [event, level, route, status] of expected) {
        const line = lines.find((l) => l.audit === true && l.event === event)
        expect(line, event).toMatchObject({ level })
        expect(typeof line?.reqId, event).toBe('string')
        expect(requestOf(line?.reqId), event).toMatchObject({ route, status })
      }
    }
  }, 60_000)
})

describe('redactUrl', () => {
  it('replaces the value of every parameter that can carry a credential, and any JWT-shaped value', () => {
    expect(redactUrl('/protected')).toBe('/protected')
    expect(redactUrl('/p?page=2&sort=name')).toBe('/p?page=2&sort=name')
    for (const name of [...TOKEN_PARAMS, 'password', 'Access_Token', 'api_key', 'code', 'csrf'])
      expect(redactUrl(`/p?${name}=s3cret&page=2`)).toBe(`/p?${name}=[redacted]&page=2`)
    expect(redactUrl('/p?x=eyJhbGciOi.eyJzdWIi.sig')).toBe('/p?x=[redacted]')
    expect(redactUrl('/p?eyJhbGciOi.eyJzdWIi.sig')).toBe('/p?[redacted]')
    expect(redactUrl('/a/eyJhbGciOi.eyJzdWIi.sig/b')).toBe('/a/[redacted]/b')
    expect(redactUrl('/a/eyJhbGciOi.eyJzdWIi.sig?page=1')).toBe('/a/[redacted]?page=1')
    expect(redactUrl('/p?access%5Ftoken=s3cret')).toBe('/p?access%5Ftoken=[redacted]')
    expect(redactUrl('/p?%E0%A4%A=1&token=x')).toBe('/p?%E0%A4%A=1&token=[redacted]')
    expect(redactUrl('/p?x=abc-eyJhbGciOi.eyJzdWIi.sig&y=eyJno-dot')).toBe('/p?x=[redacted]&y=eyJno-dot')
    expect(redactUrl('/p/a.eyJhbGciOi.eyJzdWIi.sig;b')).toBe('/p/a.[redacted];b')
  })

  it('cuts a long URL after redacting it, in time linear in its length', () => {
    const token = `eyJ${'a'.repeat(600)}.eyJ${'b'.repeat(600)}.sig`
    const cut = redactUrl(`/p?page=2&x=${token}&${'q=1&'.repeat(400)}`)
    expect(cut.startsWith('/p?page=2&x=[redacted]&q=1&')).toBe(true)
    expect(cut).toMatch(/…\[\d+ more characters\]$/)
    expect(cut.length).toBeLessThan(LOGGED_URL_MAX + 40)
    // `eyJ` over and over without a dot: a quadratic scan of these 256 KB (the old regular expression)
    // would take minutes; the test's timeout ends it long before.
    const flood = 'eyJ'.repeat(87_000)
    expect(redactUrl(`/p?x=${flood}`)).toBe(
      `/p?x=${flood}`.slice(0, LOGGED_URL_MAX) + `…[${flood.length + 5 - LOGGED_URL_MAX} more characters]`,
    )
    expect(redactUrl(`/${flood}`).length).toBeLessThan(LOGGED_URL_MAX + 40)
  })
})
