// Shared pieces of the attack suite (issue 8). Every attack runs over real HTTP against a started server
// (or a small Fastify / Express app built on the adapters), through the e2e client, so each response is
// also checked for the suite-wide rules: never a 5xx, never a password hash in a body.
//
// `AttackServer` is the e2e server with one insider power the claim attacks need: it can sign with the
// server's own active key (read from the running server's key ring). That models "what if a token with
// these claims were authentic" — an attacker without the key cannot do it, which the forgery files show.
import { createPublicKey, type JsonWebKey } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import type { Server } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express from 'express'
import Fastify from 'fastify'
import { afterAll, afterEach, beforeAll, expect } from 'vitest'
import { tesseraExpress } from '../../packages/tessera/src/adapters/express.js'
import { tesseraFastify } from '../../packages/tessera/src/adapters/fastify.js'
import type { AdapterOptions } from '../../packages/tessera/src/core/http/options.js'
import type { Tessera, TesseraKey } from '../../packages/tessera/src/index.js'
import { startServer, type RunningServer } from '../../packages/server/src/server/app.js'
import type { ServerConfig } from '../../packages/server/src/server/config.js'
import {
  E2EClient,
  baseConfig,
  checkAfterEach,
  decode,
  runCli,
  type ApiResponse,
  type JwkBody,
} from '../e2e/harness.js'

export {
  PASSWORD,
  claimsOf,
  cookieJar,
  cookieNamed,
  expectError,
  expectUnauthorized,
  median,
  tokensOf,
  uniqueName,
  type ApiResponse,
  type JwkBody,
  type Tokens,
} from '../e2e/harness.js'

/** base64url of a JSON value, or of a string as is. */
export const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

/** Unix seconds now. */
export const now = (): number => Math.floor(Date.now() / 1000)

/** `header.payload` (JSON values or raw JSON text) signed by `key`. */
export function signedBy(key: TesseraKey, header: unknown, payload: unknown): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${key.sign(input)}`
}

/** Runs `fn` over `items`, `size` at a time (bounded concurrency over the loopback). */
export async function inBatches<T, R>(
  items: readonly T[],
  size: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = []
  for (let i = 0; i < items.length; i += size)
    out.push(...(await Promise.all(items.slice(i, i + size).map(fn))))
  return out
}

/** Number of fast-check runs per property (TESSERA_FUZZ_RUNS, default 100). */
export const FUZZ_RUNS = Math.max(1, Number(process.env.TESSERA_FUZZ_RUNS ?? 100) || 100)

/** The e2e server plus access to the running instance (its key ring, for the claim attacks). */
export class AttackServer extends E2EClient {
  readonly overrides: Partial<ServerConfig>
  #running: RunningServer | undefined
  #dir: string | undefined

  constructor(overrides: Partial<ServerConfig> = {}) {
    super()
    this.overrides = overrides
  }

  get running(): RunningServer {
    if (this.#running === undefined) throw new Error('the server is not running')
    return this.#running
  }

  /** The server's active signing key: the insider power of the claim attacks. */
  get signingKey(): TesseraKey {
    return this.running.context.keys.active
  }

  get dir(): string {
    if (this.#dir === undefined) throw new Error('no data directory yet')
    return this.#dir
  }

  start = async (): Promise<void> => {
    this.#dir ??= await mkdtemp(join(tmpdir(), 'tessera-attacks-'))
    this.#running = await startServer({ ...baseConfig(this.#dir), ...this.overrides })
    this.baseUrl = this.#running.url
  }

  dispose = async (): Promise<void> => {
    const running = this.#running
    this.#running = undefined
    this.baseUrl = undefined
    try {
      await running?.close()
    } finally {
      if (this.#dir !== undefined) await rm(this.#dir, { recursive: true, force: true })
    }
  }

  /** `tessera users create <name> [--admin]` against this server's database, in process. */
  createUserWithCli = async (username: string, password: string, admin = true): Promise<void> => {
    const { code, output } = await runCli(
      ['users', 'create', username, ...(admin ? ['--admin'] : []), '--data-dir', this.dir],
      { TESSERA_PASSWORD: password },
    )
    expect(code, `tessera users create ${username}: ${output}`).toBe(0)
  }

  /** The JWK the server publishes for `kid`. */
  jwk = async (kid: unknown): Promise<JwkBody> => {
    const res = await this.api('GET', '/.well-known/jwks.json')
    const jwk = (res.body.keys ?? []).find((k) => k.kid === kid)
    expect(jwk, `kid ${String(kid)} in the JWKS`).toBeDefined()
    return jwk!
  }
}

/** A server for the enclosing file or `describe`, with the suite-wide checks after each test. */
export function useAttackServer(overrides: Partial<ServerConfig> = {}): AttackServer {
  const server = new AttackServer(overrides)
  beforeAll(server.start, 60_000)
  checkAfterEach(server)
  afterAll(server.dispose)
  return server
}

/** SPKI PEM of a published public JWK: what the classic RS/ES/EdDSA → HS confusion uses as the secret. */
export function pemOf(jwk: JwkBody): string {
  const material: Record<string, unknown> = { ...jwk }
  for (const member of ['kid', 'alg', 'use']) Reflect.deleteProperty(material, member)
  return String(
    createPublicKey({ key: material as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }),
  )
}

/** Asserts a refusal: a 4xx in `statuses` (default 401), and none of the protected answers in the body. */
export function expectRefused(res: ApiResponse, statuses: readonly number[] = [401]): void {
  expect(statuses, `${res.status} ${res.text.slice(0, 300)}`).toContain(res.status)
  expect(res.status).toBeGreaterThanOrEqual(400)
  expect(res.status).toBeLessThan(500)
  expect(res.body.logged_in_as).toBeUndefined()
  expect(res.body.answer).toBeUndefined()
  expect(res.body.username).toBeUndefined()
  expect(res.body.users).toBeUndefined()
  expect(res.body.access_token).toBeUndefined()
  expect(res.body.refresh_token).toBeUndefined()
  expect(res.body.jwt).toBeUndefined()
  expect(res.body.message).not.toBe('Welcome to the admin panel')
}

/** Decoded parts of a token and its signature. */
export function partsOf(token: string): {
  header: Record<string, unknown>
  claims: Record<string, unknown>
  segments: [string, string, string]
} {
  const { header, claims } = decode(token)
  return { header, claims, segments: token.split('.') as [string, string, string] }
}

/** Sends raw bytes to 127.0.0.1:`port` and resolves with the status code of the answer (0: closed). */
export function rawRequest(port: number, bytes: Uint8Array, timeoutMs = 5_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let data = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer within ${timeoutMs} ms`))
    }, timeoutMs)
    const done = (): void => {
      clearTimeout(timer)
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(data)
      resolve(match === null ? 0 : Number(match[1]))
    }
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      data += chunk
      if (/^HTTP\/1\.[01] \d{3}/.test(data)) socket.end()
    })
    socket.on('error', () => {
      done()
    })
    socket.on('close', done)
    socket.write(bytes)
  })
}

/** The port of a base URL. */
export const portOf = (url: string): number => Number(new URL(url).port)

/** An adapter app under attack: its client (suite-wide checks included) and how to stop it. */
export interface AdapterApp {
  name: 'fastify' | 'express'
  client: E2EClient
  close(): Promise<void>
}

/**
 * Routes of the adapter apps: GET/POST /protected, GET /admin (role admin), POST /auth/refresh (refresh
 * token), POST /login/:sub (sets access and refresh cookies for `sub`, the app's own login).
 */
async function adapterApps(auth: Tessera, options: AdapterOptions = {}): Promise<AdapterApp[]> {
  return [await fastifyApp(auth, options), await expressApp(auth, options)]
}

async function issueCookies(auth: Tessera, sub: string): Promise<{ access: string; refresh: string }> {
  return {
    access: await auth.createAccessToken(sub, { csrf: true, claims: { roles: [] } }),
    refresh: await auth.createRefreshToken(sub, { csrf: true }),
  }
}

async function fastifyApp(auth: Tessera, options: AdapterOptions): Promise<AdapterApp> {
  const app = Fastify({ logger: false })
  await app.register(tesseraFastify, { auth, ...options })
  const echo = (request: { jwt: { identity: string } | null }): Record<string, unknown> => ({
    logged_in_as: request.jwt?.identity,
  })
  app.get('/protected', { preHandler: app.jwtRequired() }, echo)
  app.post('/protected', { preHandler: app.jwtRequired() }, echo)
  app.get('/admin', { preHandler: app.jwtRequired({ roles: ['admin'] }) }, () => ({
    message: 'Welcome to the admin panel',
  }))
  app.post('/auth/refresh', { preHandler: app.jwtRequired({ refresh: true }) }, echo)
  app.post('/login/:sub', async (request, reply) => {
    const { access, refresh } = await issueCookies(auth, (request.params as { sub: string }).sub)
    reply.setAccessCookies(access).setRefreshCookies(refresh)
    return { ok: true }
  })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return { name: 'fastify', client: new E2EClient(url), close: () => app.close() }
}

async function expressApp(auth: Tessera, options: AdapterOptions): Promise<AdapterApp> {
  const jwt = tesseraExpress(auth, options)
  const app = express()
  app.use(express.json({ limit: '64kb' }))
  app.get('/protected', jwt.required(), (req, res) => {
    res.json({ logged_in_as: req.jwt?.identity })
  })
  app.post('/protected', jwt.required(), (req, res) => {
    res.json({ logged_in_as: req.jwt?.identity })
  })
  app.get('/admin', jwt.required({ roles: ['admin'] }), (_req, res) => {
    res.json({ message: 'Welcome to the admin panel' })
  })
  app.post('/auth/refresh', jwt.required({ refresh: true }), (req, res) => {
    res.json({ logged_in_as: req.jwt?.identity })
  })
  app.post('/login/:sub', (req, res, next) => {
    issueCookies(auth, req.params.sub).then(({ access, refresh }) => {
      jwt.setAccessCookies(res, access)
      jwt.setRefreshCookies(res, refresh)
      res.json({ ok: true })
    }, next)
  })
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => {
      resolve(s)
    })
    s.on('error', reject)
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    name: 'express',
    client: new E2EClient(`http://127.0.0.1:${port}`),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => {
          resolve()
        })
      }),
  }
}

/** Starts adapter apps for the enclosing `describe` and checks their responses after each test. */
export function useAdapterApps(make: () => Promise<{ auth: Tessera; options?: AdapterOptions }>): {
  apps: AdapterApp[]
  auth: () => Tessera
} {
  const apps: AdapterApp[] = []
  let engine: Tessera | undefined
  beforeAll(async () => {
    const { auth, options } = await make()
    engine = auth
    apps.push(...(await adapterApps(auth, options)))
  })
  afterEach(() => {
    for (const app of apps) {
      const problems = app.client.problems.splice(0)
      expect(problems, `${app.name}: suite-wide rules (no 5xx, no hash)`).toEqual([])
    }
  })
  afterAll(async () => {
    for (const app of apps) await app.close()
  })
  return {
    apps,
    auth: () => {
      if (engine === undefined) throw new Error('the adapter apps are not started')
      return engine
    },
  }
}
