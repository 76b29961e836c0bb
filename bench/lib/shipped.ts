/**
 * The auth server exactly as `npm start` runs it, as a contender of the protected-route benchmark:
 * `node …/cli/bin.js serve` (the same sources `npm start` runs, compiled by the bench build) with the
 * default settings — log level `info`, EdDSA, the default rate limits, SQLite in a fresh data directory —
 * and its stdout redirected to a file, as `npm start > server.log` would (the rows say so). Nothing in it
 * is instrumented: its CPU time is read from /proc/<pid>/stat (user + system ticks, all threads), so the
 * process answers no IPC.
 */
import { spawn } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { SUB } from '../servers/protocol.js'
import { cliScript } from './build.js'
import { LOAD_CPU, pinned, runLoad, sleep, type ServerProcess } from './procs.js'

/** The shipped server, its tokens (issued by itself), and the log it wrote. */
export interface ShippedServer {
  server: ServerProcess
  /** The current tokens: replaced by {@link ShippedServer.renew}. */
  tokens: { valid: string; bad: string }
  /**
   * Logs in again for a new access token: the server's access tokens live 15 minutes by default, less
   * than a whole run, so every measurement renews first (outside the timed window).
   */
  renew(): Promise<void>
  /** Bytes of log written so far. */
  logBytes(): number
}

const PASSWORD = 'correct horse battery staple'
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100

function cpuOf(pid: number): NodeJS.CpuUsage {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const us = (ticks: string | undefined): number => (Number(ticks) * 1e6) / TICKS
  return { user: us(fields[11]), system: us(fields[12]) }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      probe.close(() => {
        resolve(port)
      })
    })
  })
}

/**
 * Starts the server pinned to `cpu`, registers the user {@link SUB} over HTTP and returns the access
 * token the server issued (and the same token with its first signature character changed).
 */
export async function startShipped(options: {
  cpu: string | undefined
  tamper(token: string): string
  /** Extra node flags (bench/profile.ts: `--cpu-prof`). */
  nodeArgs?: readonly string[]
  /** A command that runs node (bench/instructions.ts: valgrind and its options). */
  launcher?: readonly string[]
  /** Experiments only: settings over the defaults (e.g. `TESSERA_LOG_LEVEL`). */
  env?: Record<string, string>
  /** Where stdout goes: a file in the data directory (default), or e.g. `/dev/null`. */
  logTo?: string
}): Promise<ShippedServer> {
  const dir = mkdtempSync(`${tmpdir()}/tessera-bench-shipped-`)
  const logFile = options.logTo ?? `${dir}/server.log`
  const port = await freePort()
  const fd = openSync(logFile, 'w')
  // Only where it listens and where its data goes: every other setting is the default.
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TESSERA_'))),
    TESSERA_HOST: '127.0.0.1',
    TESSERA_PORT: String(port),
    TESSERA_DATA_DIR: dir,
    ...options.env,
  }
  const [command = '', ...rest] = pinned(options.cpu, [
    ...(options.launcher ?? []),
    process.execPath,
    ...(options.nodeArgs ?? []),
    cliScript(),
    'serve',
  ])
  const child = spawn(command, rest, { env, stdio: ['ignore', fd, 'inherit'] })
  closeSync(fd)
  const url = `http://127.0.0.1:${port}`
  const stop = (): Promise<void> =>
    new Promise((done) => {
      const finish = (): void => {
        rmSync(dir, { recursive: true, force: true })
        done()
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        finish()
        return
      }
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000)
      child.once('exit', () => {
        clearTimeout(t)
        finish()
      })
      child.kill('SIGTERM')
    })
  const deadline = Date.now() + 120_000
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`tessera serve exited (${String(child.exitCode)}) before listening`)
    // Ready, as a load balancer would wait for: the database answers, the password threads started.
    const up = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    )
    if (up) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error('tessera serve did not answer /readyz with 200 within 120 s')
    }
    await sleep(100)
  }
  let body: { access_token?: string }
  try {
    const registered = await fetch(`${url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: SUB, password: PASSWORD }),
    })
    body = (await registered.json()) as { access_token?: string }
    if (registered.status !== 201 || typeof body.access_token !== 'string')
      throw new Error(`tessera serve: register answered ${registered.status} ${JSON.stringify(body)}`)
  } catch (error) {
    // Not left running (under valgrind, for minutes) when the registration fails or never answers.
    await stop()
    throw error
  }
  const pid = child.pid ?? 0
  const server: ServerProcess = {
    child,
    port,
    url,
    ask(message, field) {
      if (message.cmd !== 'cpu' || field !== 'cpu')
        return Promise.reject(new Error(`the shipped server answers only cpu, not ${String(message.cmd)}`))
      return Promise.resolve(cpuOf(pid) as never)
    },
    stop,
  }
  const shippedServer: ShippedServer = {
    server,
    tokens: { valid: body.access_token, bad: options.tamper(body.access_token) },
    async renew() {
      const login = await fetch(`${url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: SUB, password: PASSWORD }),
      })
      const renewed = (await login.json()) as { access_token?: string }
      if (login.status !== 200 || typeof renewed.access_token !== 'string')
        throw new Error(`tessera serve: login answered ${login.status} ${JSON.stringify(renewed)}`)
      shippedServer.tokens = { valid: renewed.access_token, bad: options.tamper(renewed.access_token) }
    },
    logBytes: () => statSync(logFile).size,
  }
  return shippedServer
}

/**
 * The server's CPU time per response (µs, all threads, from /proc) over `seconds` of `GET /protected`
 * with its valid token (200) or its bad-signature one (401), 50 connections, autocannon pinned to the
 * load core, after a 1-s warm-up and a renewed token. Throws unless every response had the expected
 * status. For the paired comparisons (bench:ab, bench/layout.ts); the full run measures its cells itself
 * (bench/run.ts).
 */
export async function cpuPerResponse(
  shipped: ShippedServer,
  seconds: number,
  token: 'valid' | 'bad' = 'valid',
): Promise<number> {
  await shipped.renew()
  const load = {
    url: `${shipped.server.url}/protected`,
    connections: 50,
    headers: { authorization: `Bearer ${shipped.tokens[token]}` },
    cpu: LOAD_CPU,
  }
  await runLoad({ ...load, seconds: 1 })
  const before = await shipped.server.ask({ cmd: 'cpu' }, 'cpu')
  const result = await runLoad({ ...load, seconds })
  const after = await shipped.server.ask({ cmd: 'cpu' }, 'cpu')
  const expected = token === 'valid' ? '200' : '401'
  const statuses = Object.keys(result.statusCodeStats)
  if (result.errors > 0 || statuses.length !== 1 || statuses[0] !== expected)
    throw new Error(`expected every response to be ${expected}: ${JSON.stringify(result.statusCodeStats)}`)
  return (after.user + after.system - before.user - before.system) / result.requests.total
}
