/**
 * What the harness does against a running auth server (bench/servers/auth.ts): JSON POSTs, and the
 * login-then-refresh loop the scale sections time, on SQLite (bench/run.ts) and PostgreSQL
 * (bench/lib/scaleout.ts) alike.
 */
import { serverScript } from './build.js'
import { SERVER_CPU, startServer, type LoadOptions, type ServerProcess } from './procs.js'
import { median } from './stats.js'

/** The password of the bench's users. */
export const PASSWORD = 'correct horse battery staple'
/** Section 3: logins always in flight. */
export const LOGIN_CONNECTIONS = 20
/** Section 3: the protected route's fixed rate beside the logins, requests per second. */
export const PROTECTED_RATE = 400

/**
 * bench/servers/auth.ts on `dataDir` (a fresh SQLite database unless `env` names another), pinned to
 * the server core. The server reads TESSERA_* underneath its options: none from the caller's shell
 * leaks in.
 */
export function startAuthServer(
  dataDir: string,
  options: { env?: Record<string, string>; nodeArgs?: readonly string[] } = {},
): Promise<ServerProcess> {
  return startServer(serverScript('auth'), [], {
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TESSERA_'))),
      ...options.env,
      BENCH_DATA_DIR: dataDir,
    },
    cpu: SERVER_CPU,
    nodeArgs: options.nodeArgs ?? ['--expose-gc'],
    timeoutMs: 120_000,
  })
}

/** The two loads of the login section, without their durations. */
export interface LoginLoads {
  /** {@link LOGIN_CONNECTIONS} connections posting `/auth/login` back to back. */
  logins: Omit<LoadOptions, 'seconds'>
  /** `GET /protected` at {@link PROTECTED_RATE} req/s over 10 connections. */
  protectedRoute: Omit<LoadOptions, 'seconds'>
}

/** Registers the bench's user on `server` and returns the login section's loads (bench/run.ts, bench/profile.ts). */
export async function loginLoads(server: ServerProcess): Promise<LoginLoads> {
  await post(`${server.url}/auth/register`, { username: 'bench', password: PASSWORD })
  // The protected route's token belongs to another user: the logins open a session each, and past
  // TESSERA_MAX_SESSIONS_PER_USER (100 by default) the least recently used one ends with its tokens.
  const registered = await post(`${server.url}/auth/register`, {
    username: 'bench-reader',
    password: PASSWORD,
  })
  return {
    logins: {
      url: `${server.url}/auth/login`,
      connections: LOGIN_CONNECTIONS,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bench', password: PASSWORD }),
    },
    protectedRoute: {
      url: `${server.url}/protected`,
      connections: 10,
      rate: PROTECTED_RATE,
      headers: { authorization: `Bearer ${String(registered.access_token)}` },
    },
  }
}

/** p50, p99 (nearest rank) and count of a sample, in its own unit. */
export interface Latencies {
  p50: number
  p99: number
  n: number
}

function latencies(values: readonly number[]): Latencies {
  const sorted = [...values].sort((a, b) => a - b)
  return {
    p50: median(sorted),
    p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? NaN,
    n: sorted.length,
  }
}

/** POSTs JSON (and a Bearer token); the JSON answer, `{}` for an empty one; throws unless 2xx. */
export async function post(url: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`POST ${url}: ${response.status} ${text}`)
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
}

/** Sequential logins as `usernames()` and refreshes along the last login's chain; milliseconds each. */
async function loginRefresh(
  server: ServerProcess,
  usernames: () => string,
  password: string,
  logins: number,
  refreshes: number,
): Promise<{ login: number[]; refresh: number[] }> {
  const login: number[] = []
  const refresh: number[] = []
  let refreshToken = ''
  for (let i = 0; i < logins; i++) {
    const t = performance.now()
    const body = await post(`${server.url}/auth/login`, { username: usernames(), password })
    login.push(performance.now() - t)
    refreshToken = String(body.refresh_token)
  }
  for (let i = 0; i < refreshes; i++) {
    const t = performance.now()
    const body = await post(`${server.url}/auth/refresh`, undefined, refreshToken)
    refresh.push(performance.now() - t)
    refreshToken = String(body.refresh_token)
  }
  return { login, refresh }
}

/**
 * Login and refresh latency on a server holding `users` seeded users (`user0`…) against one holding
 * only `user0`, alternated in blocks so the machine's drift hits both alike.
 */
export async function compareLoginRefresh(opts: {
  large: ServerProcess
  small: ServerProcess
  users: number
  password: string
  smoke: boolean
}): Promise<{
  large: { login: Latencies; refresh: Latencies }
  small: { login: Latencies; refresh: Latencies }
  blocks: number
  perBlock: { logins: number; refreshes: number }
}> {
  const blocks = opts.smoke ? 1 : 4
  const per = opts.smoke ? { logins: 2, refreshes: 10 } : { logins: 10, refreshes: 100 }
  const acc = {
    large: { login: [] as number[], refresh: [] as number[] },
    small: { login: [] as number[], refresh: [] as number[] },
  }
  for (let b = 0; b < blocks; b++) {
    for (const name of ['large', 'small'] as const) {
      const pick =
        name === 'large' ? () => `user${String(Math.floor(Math.random() * opts.users))}` : () => 'user0'
      const r = await loginRefresh(opts[name], pick, opts.password, per.logins, per.refreshes)
      acc[name].login.push(...r.login)
      acc[name].refresh.push(...r.refresh)
    }
  }
  const summary = (x: { login: number[]; refresh: number[] }) => ({
    login: latencies(x.login),
    refresh: latencies(x.refresh),
  })
  return { large: summary(acc.large), small: summary(acc.small), blocks, perBlock: per }
}
