// The framework-neutral side of the adapter tests: one route table, one client interface (Fastify
// inject or a real socket), cookie parsing, and the app factory type each adapter test implements.
import { request as httpRequest } from 'node:http'
import type { AdapterOptions } from '../../packages/tessera/src/adapters/fastify.js'
import type { RequestJwt, RouteOptions } from '../../packages/tessera/src/adapters/fastify.js'
import type { Tessera } from '../../packages/tessera/src/index.js'

/** What a route's handler does besides echoing the request context. */
export type Action = 'echo' | 'set-access' | 'set-refresh' | 'unset' | 'unset-access' | 'unset-refresh'

/**
 * One route of the test app. `guard` undefined means unprotected; `verify` routes call `verifyRequest`
 * with those options from the handler instead, and answer its failures through the adapter's error
 * handler (`app.tessera.errorHandler`, `jwt.errorHandler()`).
 */
export interface RouteSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS'
  path: string
  guard?: RouteOptions
  /** A second guard after `guard` (a router-wide guard, then the route's own). */
  stacked?: RouteOptions
  verify?: RouteOptions
  action?: Action
}

/** Every test app has these routes; the options vary per test. */
export const ROUTES: readonly RouteSpec[] = [
  ...(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const).map((method) => ({
    method,
    path: '/protected',
    guard: {},
  })),
  { method: 'GET', path: '/optional', guard: { optional: true } },
  { method: 'POST', path: '/optional', guard: { optional: true } },
  { method: 'GET', path: '/fresh', guard: { fresh: true } },
  { method: 'POST', path: '/fresh', guard: { fresh: true } },
  { method: 'POST', path: '/auth/refresh', guard: { refresh: true } },
  { method: 'GET', path: '/any-type', guard: { verifyType: false } },
  { method: 'GET', path: '/skip-revocation', guard: { skipRevocationCheck: true } },
  { method: 'GET', path: '/admin', guard: { roles: ['admin', 'owner'] } },
  { method: 'GET', path: '/stacked', guard: {}, stacked: { roles: ['admin', 'owner'] } },
  { method: 'GET', path: '/scoped', guard: { scopes: ['read', 'write'] } },
  { method: 'GET', path: '/query-only', guard: { locations: ['query'] } },
  { method: 'GET', path: '/open' },
  { method: 'POST', path: '/cookies/access', action: 'set-access' },
  { method: 'POST', path: '/cookies/refresh', action: 'set-refresh' },
  { method: 'POST', path: '/cookies/unset', action: 'unset' },
  { method: 'POST', path: '/cookies/unset-access', action: 'unset-access' },
  { method: 'POST', path: '/cookies/unset-refresh', action: 'unset-refresh' },
  { method: 'GET', path: '/verify', verify: {} },
  { method: 'POST', path: '/verify', verify: {} },
  { method: 'OPTIONS', path: '/verify', verify: {} },
  { method: 'GET', path: '/verify/optional', verify: { optional: true } },
  { method: 'GET', path: '/verify/fresh', verify: { fresh: true } },
  { method: 'POST', path: '/verify/refresh', verify: { refresh: true } },
  { method: 'GET', path: '/verify/admin', verify: { roles: ['admin'] } },
  { method: 'GET', path: '/verify/query-only', verify: { locations: ['query'] } },
  { method: 'GET', path: '/verify/expired-allowed', verify: { allowExpired: true } as RouteOptions },
]

/** The per-call cookie options a cookie route received in its JSON body (`{ token, options }`). */
export function cookieCallOptions(body: unknown): Record<string, unknown> | undefined {
  const options = (body as { options?: Record<string, unknown> } | undefined)?.options
  return options
}

/** The request context as the echo handlers return it. */
export interface EchoJwt {
  identity: string
  claims: Record<string, unknown>
  header: Record<string, unknown>
  location: string
  user: unknown
}

/** A JSON response body, loosely typed for assertions. */
export interface Body {
  error?: string
  message?: string
  msg?: string
  jwt?: EchoJwt | null
  [key: string]: unknown
}

/** The echo handlers' body. */
export function echo(jwt: RequestJwt | null | undefined): Body {
  return { jwt: jwt ?? null }
}

/** A parsed `Set-Cookie`. Attribute names are lower-cased; flags map to `true`. */
export interface SetCookie {
  name: string
  value: string
  attributes: Record<string, string | true>
}

/** One response, the same whichever client produced it. */
export interface TestResponse {
  status: number
  headers: Record<string, string | undefined>
  cookies: SetCookie[]
  body: Body
}

/** Options of one request. */
export interface RequestOptions {
  headers?: Record<string, string>
  json?: unknown
  form?: Record<string, string>
}

/** Sends requests to a running test app. */
export interface TestClient {
  request(method: string, path: string, options?: RequestOptions): Promise<TestResponse>
  close(): Promise<void>
}

/** Builds an app with the adapter under test, the {@link ROUTES} and `options`; rejects on start-up errors. */
/** Settings of the framework itself (not of the adapter) that a test app is built with. */
export interface AppSettings {
  /** Trust the proxy headers (`X-Forwarded-*`): Fastify's `trustProxy`, Express's `trust proxy`. */
  trustProxy?: boolean
}

export type MakeApp = (auth: Tessera, options: AdapterOptions, settings?: AppSettings) => Promise<TestClient>

/** Parses one `Set-Cookie` value. */
function parseSetCookie(header: string): SetCookie {
  const [pair = '', ...rest] = header.split(';')
  const eq = pair.indexOf('=')
  const attributes: Record<string, string | true> = {}
  for (const part of rest) {
    const [key = '', ...value] = part.trim().split('=')
    attributes[key.toLowerCase()] = value.length === 0 ? true : value.join('=')
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes }
}

/** A `Cookie` request header carrying every cookie that was set (not deleted). */
export function cookieHeader(cookies: readonly SetCookie[]): string {
  return cookies
    .filter((c) => c.attributes['max-age'] !== '0')
    .map((c) => `${c.name}=${c.value}`)
    .join('; ')
}

/** The cookie named `name` in a response, or a failed expectation. */
export function cookieNamed(response: TestResponse, name: string): SetCookie {
  const found = response.cookies.find((c) => c.name === name)
  if (found === undefined)
    throw new Error(`no Set-Cookie for ${name}; got ${response.cookies.map((c) => c.name).join(', ')}`)
  return found
}

/** Normalises a raw header map (Node or light-my-request) into single strings and parsed cookies. */
export function normalise(
  status: number,
  raw: Record<string, string | string[] | number | undefined>,
  text: string,
): TestResponse {
  const headers: Record<string, string | undefined> = {}
  let setCookie: string[] = []
  for (const [key, value] of Object.entries(raw)) {
    if (key.toLowerCase() === 'set-cookie') setCookie = Array.isArray(value) ? value : [String(value)]
    else
      headers[key.toLowerCase()] = Array.isArray(value)
        ? value.join(', ')
        : value === undefined
          ? undefined
          : String(value)
  }
  let body: Body = {}
  if (text !== '' && (headers['content-type'] ?? '').includes('json')) body = JSON.parse(text) as Body
  return { status, headers, cookies: setCookie.map(parseSetCookie), body }
}

/** Encodes a request body and its content type. */
export function payload(options: RequestOptions): { body?: string; contentType?: string } {
  if (options.json !== undefined)
    return { body: JSON.stringify(options.json), contentType: 'application/json' }
  if (options.form !== undefined) {
    return {
      body: new URLSearchParams(options.form).toString(),
      contentType: 'application/x-www-form-urlencoded',
    }
  }
  return {}
}

/** A client over a real socket, with full control of headers (Host included). */
export function socketClient(port: number, close: () => Promise<void>): TestClient {
  return {
    close,
    request: (method, path, options = {}) =>
      new Promise((resolve, reject) => {
        const { body, contentType } = payload(options)
        const headers: Record<string, string> = { ...options.headers }
        if (contentType !== undefined) headers['content-type'] = contentType
        const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () => {
            resolve(normalise(res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString('utf8')))
          })
          res.on('error', reject)
        })
        req.on('error', reject)
        req.end(body)
      }),
  }
}
