// The one error mapper (error-response.ts): every thrown value becomes a status, headers and the
// `{ error, message }` body, and is counted. Unit cases on the mapper, then through a built server.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { TokenRevokedError } from '../../packages/tessera/src/index.js'
import { buildServer, type BuiltServer } from '../../packages/server/src/server/app.js'
import { clientErrorAnswer, createErrorMapper } from '../../packages/server/src/server/error-response.js'
import { ServiceError } from '../../packages/server/src/server/errors.js'
import { createMetrics } from '../../packages/server/src/server/metrics.js'
import { PasswordPoolBusyError, PasswordPoolError } from '../../packages/server/src/server/password-pool.js'

/** Asserts the status and the `error` code of an injected response. */
function expectCode(res: LightMyRequestResponse, status: number, code: string): void {
  expect({ status: res.statusCode, error: res.json<{ error: string }>().error }, res.body).toEqual({
    status,
    error: code,
  })
}

/** The value of `name{code="…"}` in a Prometheus text exposition (0 when absent). */
function sample(text: string, name: string, code: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{code="${code}"}`))
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

describe('createErrorMapper', () => {
  const metrics = createMetrics()
  const tesseraResponse = vi.fn((error: { code: string; status: number }) => ({
    status: error.status,
    headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
    body: { error: error.code, message: 'from the plugin' },
  }))
  const map = createErrorMapper({ tesseraResponse, metrics, bodyLimit: 1024 })
  const count = async (code: string): Promise<number> =>
    sample(await metrics.registry.metrics(), 'tessera_server_errors_total', code)

  it('hands core errors to the Tessera plugin’s answer (which counts verify failures)', async () => {
    const error = new TokenRevokedError('revoked', { alg: 'EdDSA' }, { sub: '1' } as never)
    expect(map(error)).toMatchObject({
      status: 401,
      body: { error: 'token_revoked', message: 'from the plugin' },
    })
    expect(tesseraResponse).toHaveBeenCalledWith(error)
    expect(await count('token_revoked')).toBe(0)
  })

  it('answers and counts a service error by its code', async () => {
    const before = await count('username_taken')
    expect(map(new ServiceError('username_taken'))).toMatchObject({
      status: 409,
      body: { error: 'username_taken' },
    })
    expect(await count('username_taken')).toBe(before + 1)
  })

  it('answers a Fastify schema error with 400 validation_error and its message', () => {
    const error = Object.assign(new Error('body must have required property "password"'), {
      validation: [{}],
      statusCode: 400,
      code: 'FST_ERR_VALIDATION',
    })
    expect(map(error)).toMatchObject({
      status: 400,
      body: { error: 'validation_error', message: 'body must have required property "password"' },
    })
  })

  it('answers a 400 that is not about JSON with bad_request, never invalid_json', () => {
    const error = Object.assign(new Error('Request body size did not match Content-Length'), {
      statusCode: 400,
      code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH',
    })
    expect(map(error)).toMatchObject({ status: 400, body: { error: 'bad_request' } })
  })

  it('answers an unavailable password pool or database with 503 and Retry-After, logged', () => {
    const pool = map(new PasswordPoolError('the workers are gone'))
    expect(pool).toMatchObject({
      status: 503,
      headers: { 'retry-after': '5' },
      body: { error: 'service_unavailable' },
    })
    expect(pool.log).toBeDefined()
    const database = map(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
    expect(database).toMatchObject({ status: 503, headers: { 'retry-after': '5' } })
    // PostgreSQL refusing connections: dropped database, bad password, ALLOW_CONNECTIONS false, resources.
    for (const code of ['3D000', '28P01', '28000', '55000', '53300', '53100', '57P03', '08006']) {
      const refused = map(Object.assign(new Error(`postgres ${code}`), { code }))
      expect([code, refused.status, refused.body.error]).toEqual([code, 503, 'service_unavailable'])
    }
    // SQLite: a full disk, failing I/O, a read-only or unopenable file, a lock held past the timeout.
    for (const code of [
      'SQLITE_FULL',
      'SQLITE_IOERR_WRITE',
      'SQLITE_READONLY',
      'SQLITE_CANTOPEN',
      'SQLITE_BUSY',
    ]) {
      const down = map(Object.assign(new Error(`sqlite ${code}`), { code }))
      expect([code, down.status, down.body.error]).toEqual([code, 503, 'service_unavailable'])
    }
    // A constraint violation or a corrupt file is no outage.
    expect(map(Object.assign(new Error('unique'), { code: '23505' })).status).toBe(500)
    expect(map(Object.assign(new Error('unique'), { code: 'SQLITE_CONSTRAINT_UNIQUE' })).status).toBe(500)
    expect(map(Object.assign(new Error('corrupt'), { code: 'SQLITE_CORRUPT' })).status).toBe(500)
  })

  it('answers a saturated password pool with 503 and Retry-After, logged as a warning', () => {
    const busy = map(new PasswordPoolBusyError('the password threads are busy (512 jobs waiting)'))
    expect(busy).toMatchObject({
      status: 503,
      headers: { 'retry-after': '5' },
      body: { error: 'service_unavailable', message: 'Password checks are busy; retry shortly' },
      log: 'password threads busy',
      logLevel: 'warn',
    })
    expect(map(new PasswordPoolError('the workers are gone')).logLevel).toBeUndefined()
  })

  it('answers anything else with 500 internal_error, logged, never its message', () => {
    const answer = map(new TypeError('secret detail'))
    expect(answer).toMatchObject({ status: 500, body: { error: 'internal_error' } })
    expect(JSON.stringify(answer.body)).not.toContain('secret detail')
    expect(answer.log).toBeDefined()
  })
})

// Node's parser refusals reach Fastify's clientErrorHandler with a bare socket. 408 needs a request
// slower than Node's header timeout (60 s) over a real socket; the answer itself is checked here.
describe('clientErrorAnswer', () => {
  it.each([
    ['ERR_HTTP_REQUEST_TIMEOUT', 408, 'Request Timeout', 'request_timeout'],
    ['HPE_HEADER_OVERFLOW', 431, 'Request Header Fields Too Large', 'headers_too_large'],
    ['HPE_INVALID_METHOD', 400, 'Bad Request', 'bad_request'],
  ])(
    'answers %s with %i and the { error, message } body, then closes, counted',
    async (code, status, text, error) => {
      const metrics = createMetrics()
      const socket = new PassThrough()
      const written: Buffer[] = []
      socket.on('data', (chunk: Buffer) => written.push(chunk))
      const destroyedWith = new Promise((resolve) => socket.on('error', resolve))
      const parserError = Object.assign(new Error('parser'), { code })
      clientErrorAnswer(metrics)(parserError, socket)
      expect(await destroyedWith).toBe(parserError)
      const raw = Buffer.concat(written).toString('latin1')
      const [head = '', body = ''] = raw.split('\r\n\r\n')
      expect(head.split('\r\n')[0]).toBe(`HTTP/1.1 ${String(status)} ${text}`)
      expect(head).toMatch(/\r\nConnection: close(\r\n|$)/)
      expect(head).toContain(`\r\nContent-Length: ${String(Buffer.byteLength(body))}`)
      expect(JSON.parse(body)).toEqual({ error, message: expect.any(String) as string })
      expect(socket.destroyed).toBe(true)
      expect(sample(await metrics.registry.metrics(), 'tessera_server_errors_total', error)).toBe(1)
    },
  )

  it('writes nothing to a socket the client already reset', async () => {
    const metrics = createMetrics()
    const socket = new PassThrough()
    const write = vi.spyOn(socket, 'write')
    clientErrorAnswer(metrics)(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), socket)
    expect(write).not.toHaveBeenCalled()
    expect(await metrics.registry.metrics()).not.toMatch(/^tessera_server_errors_total\{/m)
  })
})

describe('error answers of a built server', () => {
  let dir: string
  let server: BuiltServer
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-errors-'))
    server = await buildServer({
      dataDir: dir,
      databaseUrl: join(dir, 'tessera.db'),
      logLevel: 'silent',
      tokenTransport: 'header',
    })
  })
  afterAll(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })
  const login = (payload: string, headers: Record<string, string> = {}) =>
    server.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload,
      headers: { 'content-type': 'application/json', ...headers },
    })

  it('answers a body shorter than its Content-Length with 400 bad_request, not invalid_json', async () => {
    const res = await login('{"username":"a"', { 'content-length': '40' })
    expectCode(res, 400, 'bad_request')
  })

  it('still answers a body that is not JSON with 400 invalid_json', async () => {
    const res = await login('{"username":')
    expectCode(res, 400, 'invalid_json')
  })

  it('answers a body that is not JSON by its Content-Type with 415 unsupported_media_type', async () => {
    const res = await login('username=a&password=b', { 'content-type': 'application/x-www-form-urlencoded' })
    expectCode(res, 415, 'unsupported_media_type')
  })

  it('gives every token_revoked a Bearer invalid_token challenge, a refresh without a session too', async () => {
    const auth = server.context.auth
    const stranger = await auth.createAccessToken('not-a-user-id')
    const orphan = await auth.createRefreshToken('1', { jti: 'orphan-refresh-token' })
    for (const [url, token] of [
      ['/auth/me', stranger],
      ['/auth/refresh', orphan],
    ] as const) {
      const method = url === '/auth/me' ? 'GET' : 'POST'
      const res = await server.app.inject({ method, url, headers: { authorization: `Bearer ${token}` } })
      expectCode(res, 401, 'token_revoked')
      expect(res.headers['www-authenticate'], url).toBe('Bearer error="invalid_token"')
    }
  })

  // The plugin registered before any route: no request pays for the guard of earlier config.jwt routes.
  it('registers the Tessera plugin before every route (no request hook for late registration)', () => {
    expect(server.app.printRoutes({ includeHooks: true })).not.toMatch(/tesseraUnguardedRoutes/)
  })

  it('answers an unknown path with 404 not_found', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/nowhere' })
    expectCode(res, 404, 'not_found')
  })

  it('counts the server’s error answers by code in tessera_server_errors_total', async () => {
    await login(JSON.stringify({ username: 'nobody', password: 'wrong password here' }))
    const text = (await server.app.inject({ method: 'GET', url: '/metrics' })).body
    expect(sample(text, 'tessera_server_errors_total', 'invalid_credentials')).toBe(1)
    expect(sample(text, 'tessera_server_errors_total', 'bad_request')).toBeGreaterThanOrEqual(1)
    expect(sample(text, 'tessera_server_errors_total', 'not_found')).toBeGreaterThanOrEqual(1)
  })
})
