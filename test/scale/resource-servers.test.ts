// Resource servers end to end: the auth server (`tessera serve`) and two resource services, one Fastify
// and one Express (test/resource/*), each its own process. The services verify with the auth server's
// JWKS alone (found from the issuer URL) and share its revocations through Redis. Across a scheduled
// `tessera keys rotate` under load no request fails; `tessera keys revoke` makes every service refuse
// the old key's tokens within the JWKS cache bound; a logout reaches both services within 100 ms p99.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  decode,
  E2EClient,
  runCli,
  uniqueName,
  type ApiResponse,
  type Tokens,
} from '../helpers/server-harness.js'
import { freePort } from '../helpers/processes.js'
import { deletePrefix, REDIS_URL, redisReachable, testRedisClient, uniquePrefix } from '../helpers/redis.js'
import { serviceAvailable } from '../helpers/services.js'
import { eventually } from './cluster.js'
import { bundleCli, type BundledCli } from '../helpers/bundled-cli.js'
import { serve, type ServedProcess } from './served.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 90_000 })

const available = serviceAvailable('Redis', await redisReachable())

/** Seconds: short, so the test sees a whole rotation (production default: 5 min and 5 s). */
const JWKS_MAX_AGE = 1
const KEY_REFRESH_INTERVAL = 1
/** The issue's bound on logout propagation, p99. */
const LOGOUT_TARGET_MS = 100

/** A resource service process. */
interface Resource {
  name: string
  child: ChildProcess
  client: E2EClient
  output: () => string
}

async function startResource(script: string, env: Record<string, string>): Promise<Resource> {
  const child = spawn(process.execPath, ['--import', 'tsx', join('test/resource', script)], {
    env: { ...process.env, ...env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${script} did not start:\n${output}`))
    }, 60_000)
    const onData = (chunk: string): void => {
      output += chunk
      const match = /listening (\d+)/.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    }
    child.stdout.setEncoding('utf8').on('data', onData)
    child.stderr.setEncoding('utf8').on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${script} exited with ${String(code)}:\n${output}`))
    })
  })
  return { name: script, child, client: new E2EClient(`http://127.0.0.1:${port}`), output: () => output }
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  await exited
  clearTimeout(timer)
}

/** The q-quantile of `values` (nearest rank). */
function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN
}

describe.skipIf(!available)('resource servers (Fastify and Express processes) beside the auth server', () => {
  let dir: string
  let cli: BundledCli | undefined
  let server: ServedProcess | undefined
  let services: Resource[] = []
  const prefix = uniquePrefix()
  let settings: string[]
  let rotationSettings: string[]
  let auth: E2EClient
  let issuer: string

  const orders = (service: Resource, token: string): Promise<ApiResponse> =>
    service.client.api('GET', '/orders', { token })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-resource-'))
    cli = await bundleCli()
    const port = await freePort()
    issuer = `http://127.0.0.1:${port}`
    const env = {
      TESSERA_DATA_DIR: dir,
      TESSERA_ISSUER: issuer,
      TESSERA_REDIS_URL: REDIS_URL,
      TESSERA_REDIS_PREFIX: prefix,
      TESSERA_JWKS_MAX_AGE: String(JWKS_MAX_AGE),
      TESSERA_KEY_REFRESH_INTERVAL: String(KEY_REFRESH_INTERVAL),
      TESSERA_LOGIN_RATE_PER_IP: '10000',
      TESSERA_LOGIN_RATE_PER_ACCOUNT: '10000',
      TESSERA_REGISTER_RATE_PER_IP: '10000',
      TESSERA_REFRESH_RATE_PER_SESSION: '10000',
    }
    // The CLI's rotation reads the same settings as the servers: it waits for their JWKS max-age.
    settings = ['--data-dir', dir]
    rotationSettings = [
      ...settings,
      '--jwks-max-age',
      String(JWKS_MAX_AGE),
      '--key-refresh-interval',
      String(KEY_REFRESH_INTERVAL),
    ]
    server = await serve(cli, port, env)
    auth = server.client
    const resourceEnv = { ISSUER: issuer, REDIS_URL, REDIS_PREFIX: prefix, JWKS_MIN_AGE: '1s' }
    services = await Promise.all([
      startResource('fastify-service.ts', resourceEnv),
      startResource('express-service.ts', resourceEnv),
    ])
  })

  afterAll(async () => {
    await Promise.all(services.map((s) => stop(s.child)))
    await stop(server?.child)
    await cli?.remove()
    await rm(dir, { recursive: true, force: true })
    const redis = testRedisClient()
    await redis.connect()
    await deletePrefix(redis, prefix)
    redis.disconnect()
  })

  it('publishes discovery metadata naming the configured issuer, which the services start from', async () => {
    const res = await auth.api('GET', '/.well-known/oauth-authorization-server')
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ issuer, jwks_uri: `${issuer}/.well-known/jwks.json` })
    for (const service of services) {
      const status = await service.client.api('GET', '/jwks-status')
      expect(status.body.url).toBe(`${issuer}/.well-known/jwks.json`)
    }
  })

  it('accepts a token of the auth server in both services, and refuses a forged one', async () => {
    const user = await auth.register(uniqueName('ok'))
    for (const service of services) {
      const res = await orders(service, user.access)
      expect(res.status, `${service.name}: ${res.text}`).toBe(200)
      expect(res.body.sub).toBe(String(user.userId))
    }
    const [header, payload] = user.access.split('.') as [string, string]
    const forged = `${header}.${payload}.${Buffer.alloc(64).toString('base64url')}`
    for (const service of services) {
      const res = await orders(service, forged)
      expect(res.status).toBe(401)
      expect(res.body.error).toBe('token_invalid_signature')
    }
  })

  let oldKid: string
  let oldTokens: Tokens

  it('rotates with `tessera keys rotate` under load without a single non-2xx response', async () => {
    oldTokens = await auth.register(uniqueName('rot'))
    oldKid = String(decode(oldTokens.access).header.kid)
    const workers = await Promise.all([1, 2, 3, 4].map(() => auth.register(uniqueName('load'))))
    const failures: string[] = []
    const seen = new Map<string, number>()
    let requests = 0
    let stopAt = Number.POSITIVE_INFINITY
    let newKid: string | undefined

    // Each worker refreshes (a new access token, signed by whatever key signs now) and calls both
    // services with it at once, and with the token issued before the rotation.
    const loop = async (tokens: Tokens): Promise<void> => {
      let refresh = tokens.refresh
      while (Date.now() < stopAt) {
        const refreshed = await auth.refresh(refresh)
        requests++
        if (refreshed.status !== 200) {
          failures.push(`refresh → ${refreshed.status} ${refreshed.text}`)
          continue
        }
        refresh = String(refreshed.body.refresh_token)
        const access = String(refreshed.body.access_token)
        const kid = String(decode(access).header.kid)
        seen.set(kid, (seen.get(kid) ?? 0) + 1)
        if (!signedAt.has(kid)) signedAt.set(kid, Date.now())
        for (const token of [access, oldTokens.access]) {
          const responses = await Promise.all(services.map((s) => orders(s, token)))
          requests += responses.length
          responses.forEach((res, i) => {
            if (res.status !== 200)
              failures.push(`${services[i]!.name} → ${res.status} ${res.text} (kid ${kid})`)
          })
        }
      }
    }
    // When each kid first appears in the auth server's JWKS, and first signs a token.
    const publishedAt = new Map<string, number>()
    const signedAt = new Map<string, number>()
    const watch = async (): Promise<void> => {
      while (Date.now() < stopAt) {
        const jwks = await auth.api('GET', '/.well-known/jwks.json')
        for (const key of jwks.body.keys ?? [])
          if (!publishedAt.has(String(key.kid))) publishedAt.set(String(key.kid), Date.now())
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    const running = [...workers.map(loop), watch()]
    await new Promise((resolve) => setTimeout(resolve, 500))
    const rotation = await runCli(['keys', 'rotate', ...rotationSettings])
    expect(rotation.code, rotation.output).toBe(0)
    expect(rotation.output).toMatch(/Scheduled \S+: published now, signing from/)
    // Published at once, signing only once the services' copies have expired; load goes on until the
    // new key has signed for a while.
    const switched = await eventually(
      () => {
        newKid = [...seen.keys()].find((kid) => kid !== oldKid)
        return newKid !== undefined
      },
      20_000,
      50,
    )
    const switchedAt = Date.now()
    stopAt = switchedAt + 3_000
    await Promise.all(running)
    expect(switched, 'the new key signs').toBe(true)
    expect(failures, failures.slice(0, 5).join('\n')).toEqual([])
    expect(seen.get(oldKid)).toBeGreaterThan(0)
    expect(seen.get(newKid!)).toBeGreaterThan(0)
    expect(requests).toBeGreaterThan(50)
    // Published first; signing only once a JWKS copy fetched before the publication has expired.
    const published = publishedAt.get(newKid!)
    expect(published).toBeDefined()
    expect(signedAt.get(newKid!)! - published!).toBeGreaterThanOrEqual(JWKS_MAX_AGE * 1000)
    const list = await runCli(['keys', 'list', ...settings])
    expect(list.output).toMatch(new RegExp(`${newKid!}\\s+EdDSA\\s+active`))
    expect(list.output).toMatch(new RegExp(`${oldKid}\\s+EdDSA\\s+retired`))
    console.info(`rotation under load: ${requests} requests, 0 failures`)
  })

  it('refuses the revoked old key’s tokens everywhere within the JWKS cache bound', async () => {
    expect((await orders(services[0]!, oldTokens.access)).status).toBe(200)
    const revoked = await runCli(['keys', 'revoke', oldKid, '--yes', ...settings])
    expect(revoked.code, revoked.output).toBe(0)
    const start = Date.now()
    const refusedAt: Record<string, number> = {}
    // Bound: the instances drop it within one key refresh interval, the services when their copy of
    // the JWKS expires (max-age) and the background fetch answers.
    const bound = (KEY_REFRESH_INTERVAL + JWKS_MAX_AGE) * 1000 + 2_000
    const refused = await eventually(
      async () => {
        const checks = [
          ['auth', await auth.me(oldTokens.access)] as const,
          ...(await Promise.all(
            services.map(async (s) => [s.name, await orders(s, oldTokens.access)] as const),
          )),
        ]
        for (const [name, res] of checks) {
          if (res.status === 401 && refusedAt[name] === undefined) {
            expect(res.body.error).toBe('token_unknown_key')
            expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /)
            refusedAt[name] = Date.now() - start
          }
        }
        return Object.keys(refusedAt).length === 3
      },
      bound,
      25,
    )
    expect(refused, `refused so far: ${JSON.stringify(refusedAt)}`).toBe(true)
    // Every token it signed: the refresh token too.
    expect((await auth.refresh(oldTokens.refresh)).status).toBe(401)
    const jwks = await auth.api('GET', '/.well-known/jwks.json')
    expect((jwks.body.keys ?? []).map((k) => k.kid)).not.toContain(oldKid)
    console.info(`old key refused after (ms): ${JSON.stringify(refusedAt)}`)
  })

  it('makes both services refuse a logged-out token within the propagation bound (p99 over 25 logouts)', async () => {
    const username = uniqueName('logout')
    await auth.register(username)
    const latencies: number[] = []
    const endToEnd: number[] = []
    for (let i = 0; i < 25; i++) {
      const tokens = await auth.login(username)
      for (const service of services) expect((await orders(service, tokens.access)).status).toBe(200)
      const sent = performance.now()
      const logout = await auth.api('POST', '/auth/logout', { token: tokens.access })
      expect(logout.status).toBe(204)
      const answered = performance.now()
      const refusedAt = await Promise.all(
        services.map(async (service) => {
          const deadline = answered + 2_000
          for (;;) {
            const res = await orders(service, tokens.access)
            if (res.status === 401) {
              expect(res.body.error).toBe('token_revoked')
              return performance.now()
            }
            if (performance.now() > deadline) return Number.POSITIVE_INFINITY
          }
        }),
      )
      latencies.push(Math.max(...refusedAt) - answered)
      endToEnd.push(Math.max(...refusedAt) - sent)
    }
    const p50 = quantile(latencies, 0.5)
    const p99 = quantile(latencies, 0.99)
    console.info(
      `logout → refused by both services: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms after the logout answered; ` +
        `p99 ${quantile(endToEnd, 0.99).toFixed(1)} ms from the logout request`,
    )
    // The target is 100 ms p99 (the bound between server instances). Each sample ends with an HTTP
    // round trip to a service on a shared, often overloaded test machine: assert with 2× slack.
    expect(p99).toBeLessThan(LOGOUT_TARGET_MS * 2)
  })
})
