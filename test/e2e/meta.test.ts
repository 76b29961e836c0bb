// Operational endpoints: JWKS (public keys only, verifiable with jose), health, readiness, Prometheus
// metrics, the OpenAPI document and the docs UI.
import { readFile } from 'node:fs/promises'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  claimsOf,
  decode,
  expectError,
  expectUnauthorized,
  sleep,
  uniqueName,
  useServer,
  type Tokens,
} from '../helpers/server-harness.js'
import { OPERATION_IDS } from '../../packages/server/src/server/openapi.js'

const server = useServer()
let alice: Tokens
const username = uniqueName('alice')

beforeAll(async () => {
  alice = await server.register(username)
})

describe('GET /.well-known/jwks.json', () => {
  it('serves public keys only, with Cache-Control', async () => {
    const res = await server.api('GET', '/.well-known/jwks.json')
    expect(res.status, res.text).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/(jwk-set\+)?json/)
    const cacheControl = res.headers.get('cache-control') ?? ''
    expect(cacheControl).toMatch(/\bpublic\b/)
    expect(cacheControl).toMatch(/\bmax-age=\d+/)

    const keys = res.body.keys ?? []
    expect(keys.length).toBeGreaterThan(0)
    for (const key of keys) {
      expect(typeof key.kty).toBe('string')
      expect(typeof key.kid).toBe('string')
      // Every public member as the key has it (the response schema lists two and keeps the rest).
      expect(key).toMatchObject({ alg: expect.any(String) as string, use: 'sig' })
      expect(typeof (key.x ?? key.n)).toBe('string')
      for (const privateMember of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) {
        expect(key, `private member ${privateMember}`).not.toHaveProperty(privateMember)
      }
    }
    // The active key signs the tokens.
    const kid = decode(alice.access).header.kid
    expect(keys.map((k) => k.kid)).toContain(kid)
  })

  it('lets another service verify an access token with jose', async () => {
    const res = await server.api('GET', '/.well-known/jwks.json')
    const jwks = createLocalJWKSet(res.json as JSONWebKeySet)
    const { payload, protectedHeader } = await jwtVerify(alice.access, jwks, { typ: 'at+jwt' })
    expect(protectedHeader.alg).toBe(server.config.algorithm)
    expect(payload.sub).toBe(String(alice.userId))
    expect(payload.sid).toBe(alice.sessionId)
  })

  it('gives jose no way to accept a token whose payload was altered', async () => {
    const res = await server.api('GET', '/.well-known/jwks.json')
    const jwks = createLocalJWKSet(res.json as JSONWebKeySet)
    const [header, , signature] = alice.access.split('.') as [string, string, string]
    const claims = { ...claimsOf(alice.access), roles: ['admin'] }
    const forged = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`
    await expect(jwtVerify(forged, jwks)).rejects.toThrow()
    expectUnauthorized(await server.api('GET', '/admin', { token: forged }), 'token_invalid_signature')
  })
})

describe('health and readiness', () => {
  it('answers GET /healthz with 200 { status: "ok" }, not to be cached', async () => {
    const res = await server.api('GET', '/healthz')
    expect(res.status).toBe(200)
    expect(res.body.status).toBe('ok')
    expect(res.headers.get('cache-control')).toBe('no-store')
  })

  it('answers GET /readyz with 200, status "ready" and the database check', async () => {
    const res = await server.api('GET', '/readyz')
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ status: 'ready', checks: { database: 'ok' } })
    expect(res.headers.get('cache-control')).toBe('no-store')
  })
})

describe('GET /metrics', () => {
  const NAMES = [
    'tessera_logins_total',
    'tessera_refreshes_total',
    'tessera_refresh_reuse_total',
    'tessera_revocations_total',
    'tessera_verify_failures_total',
    'tessera_http_request_duration_seconds',
  ]

  beforeAll(async () => {
    // One of each event the metrics count.
    const login = await server.login(username)
    await server.api('POST', '/auth/login', { body: { username, password: 'wrong password' } })
    await server.refresh(login.refresh)
    await server.api('POST', '/auth/logout', { token: login.access })
    await server.api('GET', '/protected', { token: 'garbage' })
  })

  it('serves Prometheus text with every tessera_ metric', async () => {
    const res = await server.api('GET', '/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
    for (const name of NAMES) expect(res.text, name).toContain(name)
  })

  it('counts logins by outcome, with a success and a failure series', async () => {
    const res = await server.api('GET', '/metrics')
    const series = samples(res.text, 'tessera_logins_total')
    expect(
      series.some((s) => /success/.test(s.labels) && s.value >= 1),
      res.text,
    ).toBe(true)
    expect(series.filter((s) => s.value >= 1).length).toBeGreaterThanOrEqual(2)
  })

  it('counts verify failures by error code', async () => {
    const res = await server.api('GET', '/metrics')
    const series = samples(res.text, 'tessera_verify_failures_total')
    expect(
      series.some((s) => /token_malformed/.test(s.labels) && s.value >= 1),
      res.text,
    ).toBe(true)
  })

  it('counts refreshes, revocations and request latency', async () => {
    const res = await server.api('GET', '/metrics')
    const total = (name: string): number => samples(res.text, name).reduce((sum, s) => sum + s.value, 0)
    expect(total('tessera_refreshes_total')).toBeGreaterThanOrEqual(1)
    expect(total('tessera_revocations_total')).toBeGreaterThanOrEqual(1)
    expect(total('tessera_http_request_duration_seconds_count')).toBeGreaterThanOrEqual(1)
  })

  // Milliseconds of CPU each: a client asking in a loop would otherwise take the event loop from
  // everyone else (20 at once put /protected's p50 at 231 ms).
  it('renders at most once a second: asked again within it, the same text; after it, what happened since', async () => {
    const healthz = (text: string): number =>
      samples(text, 'tessera_http_request_duration_seconds_count')
        .filter((s) => s.labels.includes('route="/healthz"'))
        .reduce((sum, s) => sum + s.value, 0)
    const asked = performance.now()
    const first = (await server.api('GET', '/metrics')).text
    for (let i = 0; i < 3; i++) expect((await server.api('GET', '/healthz')).status).toBe(200)
    const again = (await server.api('GET', '/metrics')).text
    // Within the second (these five requests take milliseconds, unless the machine stalls for one).
    if (performance.now() - asked < 900) expect(again).toBe(first)
    await sleep(1_100)
    const later = (await server.api('GET', '/metrics')).text
    expect(healthz(later)).toBeGreaterThanOrEqual(healthz(first) + 3)
  })

  it('never exposes a token or a username-password pair', async () => {
    const res = await server.api('GET', '/metrics')
    expect(res.text).not.toContain(alice.access)
    expect(res.text).not.toMatch(/eyJ[\w-]+\.[\w-]+\./)
  })
})

/** The parts of the OpenAPI document the tests read. */
interface OpenApiDocument {
  components: { schemas: Record<string, unknown>; securitySchemes?: Record<string, unknown> }
  paths: Record<
    string,
    Record<
      string,
      {
        operationId?: string
        security?: unknown
        requestBody?: { required?: boolean; content?: Record<string, { schema?: unknown }> }
        responses: Record<
          string,
          { headers?: Record<string, unknown>; content?: Record<string, { schema?: unknown }> }
        >
      }
    >
  >
}

describe('GET /metrics with TESSERA_METRICS_TOKEN', () => {
  const TOKEN = 'f0e4c2f76c58916ec258f246851bea091d14d4247a2fc3e18694461b1816e13b'
  const scraped = useServer({ metricsToken: TOKEN })

  it('answers the scraper that sends the token', async () => {
    for (const scheme of ['Bearer', 'bearer']) {
      const res = await scraped.api('GET', '/metrics', { headers: { authorization: `${scheme} ${TOKEN}` } })
      expect(res.status, res.text).toBe(200)
      expect(res.text).toMatch(/^# TYPE tessera_logins_total counter$/m)
    }
  })

  it('refuses anyone else with 401 metrics_unauthorized and a Bearer challenge, and says nothing of the metrics', async () => {
    for (const authorization of [
      undefined,
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Bearer ${TOKEN}0`,
      `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`,
      TOKEN,
      'Bearer ',
    ]) {
      const res = await scraped.api(
        'GET',
        '/metrics',
        authorization === undefined ? {} : { headers: { authorization } },
      )
      expectError(res, 401, 'metrics_unauthorized')
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="metrics"')
      expect(res.text).not.toMatch(/tessera_/)
    }
  })

  it('leaves the other operational routes open', async () => {
    expect((await scraped.api('GET', '/healthz')).status).toBe(200)
    expect((await scraped.api('GET', '/.well-known/jwks.json')).status).toBe(200)
  })
})

describe('GET /openapi.json and /docs', () => {
  it('serves an OpenAPI 3 document that lists the auth endpoints', async () => {
    const res = await server.api('GET', '/openapi.json')
    expect(res.status).toBe(200)
    expect(res.body.openapi).toMatch(/^3\./)
    const paths = Object.keys(res.body.paths ?? {})
    for (const path of [
      '/auth/register',
      '/auth/login',
      '/auth/refresh',
      '/auth/logout',
      '/auth/logout-all',
      '/auth/me',
      '/auth/password',
      '/auth/sessions',
      '/users',
    ]) {
      expect(paths, path).toContain(path)
    }
    expect(paths.some((p) => /^\/users\/\{[^}]+\}$/.test(p))).toBe(true)
    expect(paths.some((p) => /^\/auth\/sessions\/\{[^}]+\}$/.test(p))).toBe(true)
  })

  it('names every operation (operationId, unique: what a generated client names its methods)', async () => {
    const doc = (await server.api('GET', '/openapi.json')).json as OpenApiDocument
    const ids: string[] = []
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        expect(operation.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z]+$/)
        ids.push(operation.operationId ?? '')
      }
    }
    expect(new Set(ids).size).toBe(ids.length)
    expect(doc.paths['/auth/login']?.post?.operationId).toBe('login')
    expect(doc.paths['/users/{id}']?.patch?.operationId).toBe('updateUser')
    // Every name in the table is a route's: none left behind by a route removed or renamed.
    expect(ids.sort()).toEqual(Object.values(OPERATION_IDS).sort())
  })

  it('gives /docs a username and password that register, instead of "string" and "string"', async () => {
    const doc = (await server.api('GET', '/openapi.json')).json as OpenApiDocument
    const schema = doc.paths['/auth/register']?.post?.requestBody?.content?.['application/json']?.schema as {
      properties: Record<string, { examples?: string[] }>
    }
    const username = `${schema.properties.username?.examples?.[0] ?? ''}-${uniqueName('ex')}`
    const password = schema.properties.password?.examples?.[0] ?? ''
    const res = await server.api('POST', '/auth/register', { body: { username, password } })
    expect(res.status, res.text).toBe(201)
  })

  it('says in its description which errors any request may get, beside each operation’s own', async () => {
    const doc = (await server.api('GET', '/openapi.json')).json as { info: { description: string } }
    for (const code of ['invalid_json', 'payload_too_large', 'unsupported_media_type', 'service_unavailable'])
      expect(doc.info.description).toContain(`\`${code}\``)
  })

  it("gives the server's own version as the document's", async () => {
    const doc = (await server.api('GET', '/openapi.json')).json as { info: { version: string } }
    const pkg = JSON.parse(
      await readFile(new URL('../../packages/server/package.json', import.meta.url), 'utf8'),
    ) as { version: string }
    expect(doc.info.version).toBe(pkg.version)
  })

  it('names its shared schemas after their $id, as generated clients name their types', async () => {
    const doc = (await server.api('GET', '/openapi.json')).json as OpenApiDocument
    const schemas = Object.keys(doc.components.schemas)
    expect(schemas).toEqual(expect.arrayContaining(['Error', 'User']))
    expect(schemas.filter((name) => name.startsWith('def-'))).toEqual([])
    const refused = doc.paths['/auth/login']?.post?.responses['401']
    expect(refused?.content?.['application/json']?.schema).toEqual({ $ref: '#/components/schemas/Error' })
  })

  it('documents the statuses each route answers: the tutorial aliases as their endpoints, 400 for bad parameters', async () => {
    const doc = (await server.api('GET', '/openapi.json')).json as OpenApiDocument
    const statuses = (path: string, method: string): string[] =>
      Object.keys(doc.paths[path]?.[method]?.responses ?? {}).sort()
    expect(statuses('/register', 'post')).toEqual(['201', '400', '403', '409', '429'])
    expect(statuses('/registration', 'post')).toEqual(['200', '400', '403', '409', '429'])
    expect(statuses('/login', 'post')).toEqual(['200', '400', '401', '403', '429'])
    expect(statuses('/token/refresh', 'post')).toEqual(['200', '401', '429'])
    expect(statuses('/logout/access', 'post')).toEqual(['200', '401'])
    expect(statuses('/logout/refresh', 'post')).toEqual(['200', '401'])
    for (const path of ['/token/refresh', '/logout/access', '/logout/refresh'])
      expect(doc.paths[path]?.post?.security, path).toEqual([{ bearerAuth: [] }])
    expect(statuses('/users', 'get')).toContain('400')
    expect(statuses('/users/{id}', 'get')).toContain('400')
    expect(statuses('/users/{id}', 'delete')).toContain('400')
    expect(statuses('/auth/sessions/{id}', 'delete')).toContain('400')
    // The operational routes declare their bodies too: a generated client types them.
    expect(statuses('/healthz', 'get')).toEqual(['200'])
    expect(statuses('/readyz', 'get')).toEqual(['200', '503'])
    expect(statuses('/.well-known/jwks.json', 'get')).toEqual(['200'])
  })

  it('declares the headers of every 401 (WWW-Authenticate), 429 and 503 (Retry-After), and no cookie', async () => {
    const doc = (await server.api('GET', '/openapi.json')).json as OpenApiDocument
    const seen: Record<string, number> = {}
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          const where = `${method} ${path} ${status}`
          const header = { '401': 'WWW-Authenticate', '429': 'Retry-After', '503': 'Retry-After' }[status]
          if (header !== undefined) {
            expect(response.headers?.[header], where).toMatchObject({ required: true })
            seen[status] = (seen[status] ?? 0) + 1
          }
          expect(response.headers ?? {}, where).not.toHaveProperty('Set-Cookie')
        }
      }
    }
    expect(Object.keys(seen).sort()).toEqual(['401', '429', '503'])
    // Said, not only documented: a refusal carries the header.
    const refused = await server.api('GET', '/auth/me')
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/)
  })

  it('lists the bearer token as the only security scheme in header mode', async () => {
    const doc = (await server.api('GET', '/openapi.json')).json as OpenApiDocument
    expect(Object.keys(doc.components.securitySchemes ?? {})).toEqual(['bearerAuth'])
    expect(doc.paths['/auth/refresh']?.post?.security).toEqual([{ bearerAuth: [] }])
    expect(doc.paths['/auth/me']?.get?.security).toEqual([{ bearerAuth: [] }])
  })

  it('documents the optional { refresh_token } body of the refresh routes, which a request may send', async () => {
    const doc = (await server.api('GET', '/openapi.json')).json as OpenApiDocument
    for (const path of ['/auth/refresh', '/token/refresh', '/logout/refresh']) {
      const body = doc.paths[path]?.post?.requestBody
      expect(body?.required, path).toBe(false)
      expect(body?.content?.['application/json']?.schema, path).toMatchObject({
        type: 'object',
        properties: { refresh_token: { type: 'string' } },
      })
    }
    expect(doc.paths['/auth/logout']?.post?.requestBody).toBeUndefined()
    // The markers the document is built from are not published.
    expect(JSON.stringify(doc)).not.toMatch(/"x-tessera-/)
    const { refresh } = await server.login(username)
    const res = await server.api('POST', '/auth/refresh', { body: { refresh_token: refresh, other: 1 } })
    expect(res.status, res.text).toBe(200)
  })

  it('serves the docs UI as HTML', async () => {
    const res = await server.api('GET', '/docs')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(res.text).toMatch(/<html/i)
  })

  it('brands the docs as Tessera: its title and icon, no Fastify logo, no spec URL box', async () => {
    const page = await server.api('GET', '/docs/')
    expect(page.text).toContain('<title>Tessera auth server — API docs</title>')
    expect(page.text).toContain('favicon.svg')
    const init = await server.api('GET', '/docs/static/swagger-initializer.js')
    expect(init.status).toBe(200)
    // BaseLayout has no topbar: neither the Fastify logo nor the URL box of another spec.
    expect(init.text).toMatch(/"layout":\s*"BaseLayout"/)
    expect(init.text).toContain('data:image/svg+xml;base64,')
    const spec = await server.api('GET', '/docs/json')
    expect(spec.body.info).toMatchObject({ title: 'Tessera auth server' })
    expect(
      (spec.body as { components?: { securitySchemes?: object } }).components?.securitySchemes,
    ).toHaveProperty('bearerAuth')
  })
})

describe('unknown routes', () => {
  it('answers an unknown path with 404 and a JSON error', async () => {
    const res = await server.api('GET', '/no/such/path')
    expect(res.status).toBe(404)
    expect(typeof res.body.error).toBe('string')
  })
})

/** The samples of one metric: its label text and value. */
function samples(text: string, name: string): { labels: string; value: number }[] {
  const out: { labels: string; value: number }[] = []
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (match?.[1] !== name) continue
    out.push({ labels: match[2] ?? '', value: Number(match[3]) })
  }
  return out
}

describe('answers about one user', () => {
  // With cookies no Authorization header keeps a shared cache from storing them (RFC 9111 §3.5).
  it('are marked Cache-Control: no-store (who I am, sessions, users, the audit log, the demo resources)', async () => {
    const adminName = uniqueName('nostore-admin')
    await server.createUserWithCli(adminName, 'no-store admin password', true)
    const admin = await server.login(adminName, 'no-store admin password')
    const answers = [
      await server.api('GET', '/auth/me', { token: alice.access }),
      await server.api('GET', '/auth/sessions', { token: alice.access }),
      await server.api('GET', '/users', { token: admin.access }),
      await server.api('GET', `/users/${String(alice.userId)}`, { token: admin.access }),
      await server.api('PATCH', `/users/${String(alice.userId)}`, {
        token: admin.access,
        body: { disabled: false },
      }),
      await server.api('GET', '/audit', { token: admin.access }),
      await server.api('GET', '/protected', { token: alice.access }),
      await server.api('GET', '/secret', { token: alice.access }),
      await server.api('GET', '/admin', { token: admin.access }),
    ]
    for (const res of answers) {
      expect(res.status, res.text).toBe(200)
      expect(res.headers.get('cache-control'), res.text).toBe('no-store')
    }
  })
})
