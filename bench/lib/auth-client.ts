/**
 * What the harness does against a running auth server (bench/servers/auth.ts): JSON POSTs, and the
 * login-then-refresh loop the scale sections time, on SQLite (bench/run.ts) and PostgreSQL
 * (bench/lib/scaleout.ts) alike.
 */
import type { ServerProcess } from './procs.js'
import { median } from './stats.js'

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
