// The harness's own checks, against a canned loopback server: a suite that cannot see a 5xx or a leaked
// hash would pass vacuously.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { E2EClient, cookieJar, isCleared, median, parseSetCookie } from '../helpers/server-harness.js'

const ROUTES: Record<string, { status: number; body: string; cookies?: string[] }> = {
  '/boom': { status: 500, body: '{"error":"internal_error","message":"x"}' },
  '/phc': { status: 200, body: '{"hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}' },
  '/column': { status: 200, body: '{"user":{"id":1,"password_hash":"x"}}' },
  '/key': { status: 200, body: '{"users":[{"id":1,"username":"a","password":"hunter22"}]}' },
  '/clean': {
    status: 200,
    body: '{"user":{"id":1,"username":"a","roles":[],"disabled":false}}',
    cookies: ['a=1; Path=/; HttpOnly; SameSite=Lax', 'b=; Path=/auth; Max-Age=0', 'c=3; Path=/'],
  },
  '/openapi.json': { status: 200, body: '{"openapi":"3.1.0","components":{"password":{"type":"string"}}}' },
}

let http: Server
const client = new E2EClient()

beforeAll(async () => {
  http = createServer((req, res) => {
    const route = ROUTES[req.url ?? ''] ?? { status: 404, body: '{"error":"not_found","message":"x"}' }
    res.writeHead(route.status, { 'content-type': 'application/json', 'set-cookie': route.cookies ?? [] })
    res.end(route.body)
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  client.connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}`)
})

afterAll(async () => {
  await new Promise<void>((resolve, reject) => {
    http.close((error) => {
      if (error) reject(error)
      else resolve()
    })
  })
})

describe('the e2e harness', () => {
  it.each(['/boom', '/phc', '/column', '/key'])('records a problem for %s', async (path) => {
    await client.api('GET', path)
    expect(client.problems.splice(0).length).toBeGreaterThan(0)
  })

  it('records nothing for a clean body, and allows "password" in the OpenAPI document', async () => {
    await client.api('GET', '/clean')
    await client.api('GET', '/openapi.json')
    await client.api('GET', '/missing')
    expect(client.problems.splice(0)).toEqual([])
  })

  it('parses Set-Cookie attributes and tells set cookies from cleared ones', async () => {
    const res = await client.api('GET', '/clean')
    expect(res.cookies.map((c) => c.name)).toEqual(['a', 'b', 'c'])
    expect(res.cookies[0]?.attributes).toEqual({ path: '/', httponly: true, samesite: 'Lax' })
    expect(isCleared(res.cookies[1]!)).toBe(true)
    expect(cookieJar(res)).toEqual({ a: '1', c: '3' })
    expect(parseSetCookie('x=a=b; Expires=Thu, 01 Jan 1970 00:00:00 GMT').value).toBe('a=b')
    expect(isCleared(parseSetCookie('x=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT'))).toBe(true)
  })

  it('computes medians of odd and even samples', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
  })
})
