// The attack suite's own tools (issue 8): tokens built by hand, bounded concurrency, raw sockets, the
// refusal check, and small Fastify / Express apps built on the adapters. The server under attack and its
// client come from the shared server harness (test/helpers/server-harness.ts), so every response is also
// checked for the suite-wide rules: never a 5xx, never a password hash in a body.
import { createPublicKey, type JsonWebKey } from 'node:crypto'
import type { Server } from 'node:http'
import { connect } from 'node:net'
import express from 'express'
import Fastify from 'fastify'
import { afterAll, afterEach, beforeAll, expect } from 'vitest'
import { tesseraExpress } from '../../packages/tessera/src/adapters/express.js'
import { tesseraFastify } from '../../packages/tessera/src/adapters/fastify.js'
import type { AdapterOptions } from '../../packages/tessera/src/core/http/options.js'
import type { Tessera, TesseraKey } from '../../packages/tessera/src/index.js'
import { forge } from '../helpers/forge.js'
import { E2EClient, decode, type ApiResponse, type JwkBody } from '../helpers/server-harness.js'

export { b64 } from '../helpers/forge.js'

/** Unix seconds now. */
export const now = (): number => Math.floor(Date.now() / 1000)

/** `header.payload` (JSON values or raw JSON text) signed by `key`. */
export function signedBy(key: TesseraKey, header: unknown, payload: unknown): string {
  return forge(header, payload, key)
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
