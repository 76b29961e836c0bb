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

export function latencies(values: readonly number[]): Latencies {
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
export async function loginRefresh(
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
