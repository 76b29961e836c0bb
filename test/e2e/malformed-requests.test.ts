// Requests refused before any route runs (a URL that does not decode; bytes Node's HTTP parser
// refuses) are answered in the server's own `{ error, message }` shape, like every other error: no
// framework error code or framework name in the body (docs/server-api.md).
import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { HEADERS_TIMEOUT_MS } from '../../packages/server/src/server/app.js'
import { expectError, useServer } from '../helpers/server-harness.js'

/** Writes `request` on a fresh connection and resolves with everything read until the server closes. */
function exchange(url: string, request: string, waitMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1')
    let data = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer: ${data}`))
    }, waitMs)
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => (data += chunk))
    socket.on('error', () => undefined)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(data)
    })
    socket.write(request)
  })
}

/** Status and parsed JSON body of a raw HTTP/1.1 answer. */
function parse(answer: string): { status: number; contentType: string | undefined; body: unknown } {
  const [head = '', body = ''] = answer.split('\r\n\r\n')
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
    contentType: /\r\ncontent-type: ([^\r]*)/i.exec(head)?.[1],
    body: JSON.parse(body) as unknown,
  }
}

describe('requests refused before routing', () => {
  const server = useServer()

  it.each([
    ['GET', '/users/%ZZ'],
    ['DELETE', '/auth/sessions/%ZZ'],
    ['GET', '/%'],
  ])(
    'answers %s %s (a URL that does not decode) 400 bad_request in the server’s shape',
    async (method, path) => {
      const res = await server.api(method as 'GET', path)
      expectError(res, 400, 'bad_request')
      expect(Object.keys(res.body as object).sort()).toEqual(['error', 'message'])
      expect(res.text).not.toMatch(/FST_|statusCode|Bad Request/)
    },
  )

  // Slowloris: Node's defaults held such a connection 60 s + up to 30 s (headers timeout, check interval);
  // a thousand of them exhausted the file descriptors of a server with the usual limit.
  it('answers headers that never end 408 request_timeout and closes, within the headers timeout', async () => {
    const started = performance.now()
    const answer = await exchange(
      server.url,
      'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n',
      HEADERS_TIMEOUT_MS + 10_000,
    )
    const elapsed = performance.now() - started
    expect(parse(answer)).toMatchObject({ status: 408, body: { error: 'request_timeout' } })
    expect(elapsed).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 100)
    // The headers timeout plus one check interval (2 s), and slack for a loaded machine.
    expect(elapsed).toBeLessThan(HEADERS_TIMEOUT_MS + 6_000)
  }, 30_000)

  it('answers a request with both Content-Length and Transfer-Encoding 400 bad_request, then closes', async () => {
    const answer = await exchange(
      server.url,
      'POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
        'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    )
    expect(parse(answer)).toEqual({
      status: 400,
      contentType: 'application/json; charset=utf-8',
      body: { error: 'bad_request', message: 'The request is malformed' },
    })
  })

  it('answers headers over the limit 431 headers_too_large', async () => {
    const answer = await exchange(
      server.url,
      `GET /protected HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: ${'a'.repeat(100 * 1024)}\r\n\r\n`,
    )
    expect(parse(answer)).toMatchObject({
      status: 431,
      body: { error: 'headers_too_large', message: 'The request headers are too large' },
    })
  })

  it('counts them with every other answer, and still serves after them', async () => {
    const metrics = (await server.api('GET', '/metrics')).text
    for (const code of ['bad_request', 'headers_too_large'])
      expect(metrics).toMatch(new RegExp(`^tessera_server_errors_total\\{code="${code}"\\} [1-9]`, 'm'))
    expect((await server.api('GET', '/healthz')).status).toBe(200)
  })
})
