// Hostile or broken input at the HTTP layer: oversized and malformed bodies, prototype pollution,
// garbage Authorization headers and odd methods. Never a 5xx (the harness checks every response).
import { beforeAll, describe, expect, it } from 'vitest'
import {
  PASSWORD,
  claimsOf,
  expectUnauthorized,
  uniqueName,
  useServer,
  type Tokens,
} from '../helpers/server-harness.js'

const server = useServer()
const username = uniqueName('sturdy')
let alice: Tokens

beforeAll(async () => {
  alice = await server.register(username)
})

describe('request bodies', () => {
  it('refuses an oversized JSON body with 413 or 400', async () => {
    const body = JSON.stringify({ username, password: PASSWORD, padding: 'x'.repeat(2 * 1024 * 1024) })
    const res = await server.api('POST', '/auth/login', { raw: body })
    expect([400, 413]).toContain(res.status)
    expect(typeof res.body.error).toBe('string')
  })

  it('refuses a deeply nested JSON body with 400 or 413', async () => {
    const depth = 10_000
    const raw = `{"username":${'['.repeat(depth)}${']'.repeat(depth)},"password":"x"}`
    const res = await server.api('POST', '/auth/login', { raw })
    expect([400, 413]).toContain(res.status)
  })

  it('refuses invalid UTF-8 in the body with 400', async () => {
    const prefix = Buffer.from('{"username":"')
    const suffix = Buffer.from(`","password":"${PASSWORD}"}`)
    const raw = new Uint8Array(Buffer.concat([prefix, Buffer.from([0xc3, 0x28, 0xff, 0xfe]), suffix]))
    const res = await server.api('POST', '/auth/login', { raw })
    expect([400, 401]).toContain(res.status)
  })

  it.each([
    ['__proto__', `{"username":"proto-x","password":"${PASSWORD}","__proto__":{"roles":["admin"]}}`],
    [
      'constructor.prototype',
      `{"username":"ctor-x","password":"${PASSWORD}","constructor":{"prototype":{"roles":["admin"]}}}`,
    ],
  ])('refuses a %s pollution attempt on register with 400 and grants nothing', async (_label, raw) => {
    const res = await server.api('POST', '/auth/register', { raw })
    expect(res.status, res.text).toBe(400)
    // No account came out of it, and a new account has no role.
    const fresh = await server.register(uniqueName('after-pollution'))
    expect(claimsOf(fresh.access).roles).toEqual([])
    expect((await server.api('GET', '/admin', { token: fresh.access })).status).toBe(403)
  })

  it('accepts application/json with a charset parameter', async () => {
    const res = await server.api('POST', '/auth/login', {
      raw: JSON.stringify({ username, password: PASSWORD }),
      contentType: 'application/json; charset=utf-8',
    })
    expect(res.status, res.text).toBe(200)
  })

  it('refuses an empty JSON body on login with 400', async () => {
    const res = await server.api('POST', '/auth/login', { raw: '' })
    expect(res.status, res.text).toBe(400)
  })

  it('answers a wrong method on a known path with 404 or 405', async () => {
    for (const [method, path] of [
      ['GET', '/auth/login'],
      ['PUT', '/auth/register'],
      ['DELETE', '/auth/me'],
    ] as const) {
      const res = await server.api(method, path)
      expect([404, 405], `${method} ${path}`).toContain(res.status)
    }
  })

  it('names the method a known path answers, and nothing for an unknown path', async () => {
    const wrong = await server.api('GET', '/auth/login?next=/x')
    expect(wrong.status).toBe(404)
    expect(wrong.body.message).toBe('GET /auth/login does not exist (POST /auth/login does)')
    const unknown = await server.api('GET', '/auth/nothing-here')
    expect(unknown.body.message).toBe('GET /auth/nothing-here does not exist')
  })
})

describe('Authorization headers', () => {
  const [header, payload] = ['eyJhbGciOiJub25lIn0', 'eyJzdWIiOiIxIn0']

  it.each([
    ['an empty Bearer', 'Bearer'],
    ['Bearer and a space', 'Bearer '],
    ['Basic credentials', `Basic ${Buffer.from(`${username}:${PASSWORD}`).toString('base64')}`],
    ['a bare word', 'garbage'],
    ['one segment', 'Bearer abc'],
    ['two segments', 'Bearer abc.def'],
    ['four segments', 'Bearer a.b.c.d'],
    ['empty segments', 'Bearer ..'],
    ['alg none without signature', `Bearer ${header}.${payload}.`],
    ['non-base64url characters', 'Bearer @@@.###.$$$'],
    ['padding', 'Bearer eyJhbGciOiJFZERTQSJ9==.eyJzdWIiOiIxIn0=.c2ln'],
    ['two tokens', 'Bearer a.b.c, Bearer d.e.f'],
    ['a token with spaces', 'Bearer a.b .c'],
    ['a very long token', `Bearer ${'a'.repeat(8000)}.${'b'.repeat(1000)}.c`],
    ['a JSON object', 'Bearer {"alg":"none"}'],
    ['latin-1 bytes', 'Bearer \u00e9\u00e8\u00ea.\u00e0.\u00ff'],
  ])('answers %s with 401 and a Bearer challenge', async (_label, authorization) => {
    const res = await server.api('GET', '/protected', { headers: { authorization } })
    expectUnauthorized(res)
    expect(res.body.logged_in_as).toBeUndefined()
  })

  it('answers a real token under another scheme with 401', async () => {
    const res = await server.api('GET', '/protected', { headers: { authorization: `Token ${alice.access}` } })
    expectUnauthorized(res)
  })

  it('answers a real token with a trailing garbage segment with 401', async () => {
    const res = await server.api('GET', '/protected', {
      headers: { authorization: `Bearer ${alice.access}.x` },
    })
    expectUnauthorized(res)
  })

  it('answers a 20 KB Authorization header with a 4xx (431 or 401)', async () => {
    const res = await server.api('GET', '/protected', {
      headers: { authorization: `Bearer ${'a'.repeat(20_000)}` },
    })
    expect([400, 401, 431]).toContain(res.status)
  })

  it('accepts the real token after all that', async () => {
    for (const authorization of ['garbage', `Token ${alice.access}`, `Bearer ${'a'.repeat(20_000)}`]) {
      const refused = await server.api('GET', '/protected', { headers: { authorization } })
      expect(refused.status).toBeGreaterThanOrEqual(400)
    }
    const res = await server.api('GET', '/protected', { token: alice.access })
    expect(res.status).toBe(200)
    expect(res.body.logged_in_as).toBe(username)
  })
})
