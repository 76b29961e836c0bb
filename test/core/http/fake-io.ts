// A framework-free HttpIO over plain objects, for unit tests of the HTTP layer.
import type { HttpIO } from '../../../packages/tessera/src/core/http/types.js'

export interface FakeRequest {
  method?: string
  headers?: Record<string, string>
  query?: Record<string, unknown>
  body?: unknown
  protocol?: string
  host?: string
}

export interface FakeReply {
  cookies: string[]
}

export const fakeIO: HttpIO<FakeRequest, FakeReply> = {
  method: (req) => req.method ?? 'GET',
  header: (req, name) => req.headers?.[name],
  query: (req, name) => req.query?.[name],
  body: (req) => req.body,
  protocol: (req) => req.protocol ?? 'http',
  host: (req) => req.host ?? 'localhost:3000',
  appendSetCookie: (res, cookie) => {
    res.cookies.push(cookie)
  },
}

export const reply = (): FakeReply => ({ cookies: [] })
