// Parsing attacks over HTTP (issue 8, "Parsing"): malformed compact serialisations, oversized tokens and
// header lines, deeply nested JSON and invalid UTF-8, against the server and the two adapters. Sources:
// RFC 7515 §7.1 (compact form), RFC 8725 §3.2 (validate all input), jwt_tool's tamper list, OWASP.
import { beforeAll, describe, expect, it } from 'vitest'
import { createTessera, generateKey } from '../../packages/tessera/src/index.js'
import { expectUnauthorized, uniqueName, useServer, type Tokens } from '../helpers/server-harness.js'
import { b64, expectRefused, partsOf, portOf, rawRequest, useAdapterApps } from './tools.js'

const server = useServer()
let alice: Tokens

beforeAll(async () => {
  alice = await server.register(uniqueName('parse'))
})

const bytes = (...values: number[]): string => Buffer.from(values).toString('base64url')

/** Malformed tokens built from a genuine one (each must be refused with 401). */
function malformed(token: string): [string, string][] {
  const { header, claims, segments } = partsOf(token)
  const [h, p, s] = segments
  const nested = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`
  return [
    ['two dots only', '..'],
    ['an empty header segment', `.${p}.${s}`],
    ['an empty payload segment', `${h}..${s}`],
    ['an empty signature segment', `${h}.${p}.`],
    ['two segments', `${h}.${p}`],
    ['one segment', h],
    ['four segments', `${token}.${s}`],
    ['four segments with an empty one', `${h}.${p}..${s}`],
    ['five segments (a JWE shape)', `${h}.${p}.${s}.${s}.${s}`],
    ['fifty dots', '.'.repeat(50)],
    [
      '"+" and "/" (standard base64) in the header',
      `${Buffer.from(JSON.stringify(header)).toString('base64').replace(/=+$/, '')}+/.${p}.${s}`,
    ],
    ['a "@" in the payload', `${h}.${p}@.${s}`],
    ['a "%" escape in the payload', `${h}.${p}%3D.${s}`],
    ['a "*" in the signature', `${h}.${p}.${s.slice(0, -1)}*`],
    ['padding on the header', `${h}=.${p}.${s}`],
    ['padding on the payload', `${h}.${p}==.${s}`],
    ['padding on the signature', `${h}.${p}.${s}=`],
    ['a single character header', `e.${p}.${s}`],
    ['a header that is a JSON array', `${b64([header])}.${p}.${s}`],
    ['a header that is a JSON string', `${b64('"EdDSA"')}.${p}.${s}`],
    ['a header that is JSON null', `${b64('null')}.${p}.${s}`],
    ['a header that is not JSON', `${b64('alg=EdDSA')}.${p}.${s}`],
    ['a header with trailing garbage after the JSON', `${b64(`${JSON.stringify(header)}x`)}.${p}.${s}`],
    ['a payload that is a JSON array', `${h}.${b64([claims])}.${s}`],
    [
      'invalid UTF-8 in the header (C3 28)',
      `${bytes(0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d)}.${p}.${s}`,
    ],
    [
      'a lone surrogate encoded in the header (ED A0 80)',
      `${bytes(0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x31, 0x7d)}.${p}.${s}`,
    ],
    [
      'overlong UTF-8 for "/" in the header (C0 AF)',
      `${bytes(0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d)}.${p}.${s}`,
    ],
    ['invalid UTF-8 in the payload', `${h}.${bytes(0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d)}.${s}`],
    [
      'a NUL byte inside the header JSON',
      `${b64(`{"alg":"${String(header.alg)}\u0000","kid":"${String(header.kid)}"}`)}.${p}.${s}`,
    ],
    [
      'a deeply nested header (depth 2,500)',
      `${b64(`{"alg":"${String(header.alg)}","kid":"${String(header.kid)}","x":${nested(2500)}}`)}.${p}.${s}`,
    ],
    ['a deeply nested payload (depth 2,500)', `${h}.${b64(`{"sub":"1","x":${nested(2500)}}`)}.${s}`],
    [
      'a deeply nested header beyond the length limit (depth 5,000)',
      `${b64(`{"x":${nested(5_000)}}`)}.${p}.${s}`,
    ],
    ['a token just over 8 KiB', `${h}.${p}${'A'.repeat(8192)}.${s}`],
  ]
}

describe('malformed tokens against the server', () => {
  it('refuses each malformed token with 401 on GET /protected and POST /auth/refresh', async () => {
    const list = [...malformed(alice.access), ...malformed(alice.refresh)]
    for (const [label, token] of list) {
      const get = await server.api('GET', '/protected', { token })
      expect.soft(get.status, `${label}: ${get.text}`).toBe(401)
      expectRefused(get)
      const refresh = await server.api('POST', '/auth/refresh', { token })
      expect.soft(refresh.status, `${label}: ${refresh.text}`).toBe(401)
      expectRefused(refresh)
    }
  })

  it('refuses a 1 MB token in the Authorization header with 431 (or 400/401), without a 5xx', async () => {
    const { segments } = partsOf(alice.access)
    const token = `${segments[0]}.${segments[1]}${'A'.repeat(1024 * 1024)}.${segments[2]}`
    const status = await rawRequest(
      portOf(server.url),
      Buffer.from(
        `GET /protected HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
      ),
    )
    expect([400, 401, 431]).toContain(status)
  })

  it('refuses a 1 MB refresh token in the JSON body with 413 (or 400/401)', async () => {
    const res = await server.api('POST', '/auth/refresh', {
      body: { refresh_token: `${alice.refresh}${'A'.repeat(1024 * 1024)}` },
    })
    expectRefused(res, [400, 401, 413])
  })

  it('refuses a token just over maxTokenLength with token_malformed before parsing', async () => {
    const res = await server.api('GET', '/protected', { token: `${alice.access}${'A'.repeat(8192)}` })
    expectUnauthorized(res, 'token_malformed')
  })

  it('refuses a request with a 100 KB header line with 431 (or 400)', async () => {
    const status = await rawRequest(
      portOf(server.url),
      Buffer.from(
        `GET /protected HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: ${'a'.repeat(100 * 1024)}\r\nAuthorization: Bearer ${alice.access}\r\nConnection: close\r\n\r\n`,
      ),
    )
    expect([400, 431]).toContain(status)
  })

  it('refuses raw invalid UTF-8 bytes in the Authorization header with a 4xx', async () => {
    const request = Buffer.concat([
      Buffer.from('GET /protected HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer '),
      Buffer.from([0xc3, 0x28, 0x2e, 0xff, 0xfe, 0x2e, 0x80]),
      Buffer.from('\r\nConnection: close\r\n\r\n'),
    ])
    const status = await rawRequest(portOf(server.url), request)
    expect(status).toBeGreaterThanOrEqual(400)
    expect(status).toBeLessThan(500)
  })

  it('refuses a NUL byte and a line break inside the Authorization header with 400', async () => {
    for (const value of [`Bearer ${alice.access}\u0000x`, `Bearer x\r\n ${alice.access}`]) {
      const status = await rawRequest(
        portOf(server.url),
        Buffer.from(
          `GET /protected HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${value}\r\nConnection: close\r\n\r\n`,
          'latin1',
        ),
      )
      expect([400, 401]).toContain(status)
    }
  })

  it('uses the first of two Authorization headers: a forged first one is refused even with a genuine second', async () => {
    const { header, claims } = partsOf(alice.access)
    const forged = `${b64({ ...header, alg: 'none' })}.${b64({ ...claims, roles: ['admin'] })}.`
    const status = await rawRequest(
      portOf(server.url),
      Buffer.from(
        `GET /admin HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${forged}\r\nAuthorization: Bearer ${alice.access}\r\nConnection: close\r\n\r\n`,
      ),
    )
    expect([400, 401]).toContain(status)
  })

  it('still accepts the genuine token after all that', async () => {
    for (const [label, token] of malformed(alice.access).slice(0, 10)) {
      expect((await server.api('GET', '/protected', { token })).status, label).toBe(401)
    }
    expect((await server.api('GET', '/protected', { token: alice.access })).status).toBe(200)
  })
})

describe('malformed tokens against the Fastify and Express adapters', () => {
  const { apps, auth } = useAdapterApps(async () => ({
    auth: createTessera({ keys: await generateKey('EdDSA') }),
  }))

  it('refuses each malformed token with 401 and still accepts the genuine one', async () => {
    const engine = auth()
    const token = await engine.createAccessToken('alice', { claims: { roles: [] } })
    for (const app of apps) {
      for (const [label, bad] of malformed(token)) {
        const res = await app.client.api('GET', '/protected', { token: bad })
        expect.soft(res.status, `${app.name} ${label}: ${res.text}`).toBe(401)
        expect(res.body.logged_in_as).toBeUndefined()
      }
      expect((await app.client.api('GET', '/protected', { token })).body.logged_in_as).toBe('alice')
    }
  })

  it('answers a 1 MB token and a 100 KB header line with a 4xx, never a crash', async () => {
    const engine = auth()
    const token = await engine.createAccessToken('alice')
    for (const app of apps) {
      for (const extra of [
        `Authorization: Bearer ${token}${'A'.repeat(1024 * 1024)}`,
        `X-Filler: ${'a'.repeat(100 * 1024)}`,
      ]) {
        const status = await rawRequest(
          portOf(app.client.url),
          Buffer.from(`GET /protected HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\nConnection: close\r\n\r\n`),
        )
        expect([400, 401, 431], app.name).toContain(status)
      }
      expect((await app.client.api('GET', '/protected', { token })).status, app.name).toBe(200)
    }
  })
})
