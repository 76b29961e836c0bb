// A stub issuer for resource-server tests: serves a JWKS (and RFC 8414 metadata) on 127.0.0.1, counts
// every request, and can be switched to fail: reset the connection, answer 500, hang, or send garbage.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Jwks } from '../../packages/tessera/src/index.js'

/** How the stub answers the JWKS path. */
export type JwksMode = 'ok' | 'reset' | 'error' | 'slow' | 'garbage'

export interface JwksServer {
  /** `http://127.0.0.1:<port>` (the issuer, for discovery). */
  readonly origin: string
  /** The JWKS URL. */
  readonly url: string
  /** What the JWKS path serves in mode `ok`. */
  jwks: Jwks | Record<string, unknown>
  /** `Cache-Control` sent with the JWKS; `undefined` sends none. */
  cacheControl: string | undefined
  mode: JwksMode
  /** The metadata document; `issuer` and `jwks_uri` point at this stub unless changed. */
  metadata: Record<string, unknown>
  /** Requests received per path. */
  readonly hits: { jwks: number; metadata: number }
  close(): Promise<void>
}

/** Starts the stub; `mode` `slow` holds each request for 10 s (the client's timeout ends it first). */
export async function startJwksServer(jwks: Jwks, cacheControl?: string): Promise<JwksServer> {
  const hanging = new Set<NodeJS.Timeout>()
  const state = {
    jwks: jwks as JwksServer['jwks'],
    cacheControl,
    mode: 'ok' as JwksMode,
    metadata: {} as Record<string, unknown>,
    hits: { jwks: 0, metadata: 0 },
  }
  const json = (res: ServerResponse, body: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/.well-known/oauth-authorization-server') {
      state.hits.metadata++
      json(res, state.metadata)
      return
    }
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end()
      return
    }
    state.hits.jwks++
    switch (state.mode) {
      case 'reset':
        req.socket.destroy()
        return
      case 'error':
        res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream down')
        return
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": [ not json')
        return
      case 'slow': {
        const timer = setTimeout(() => {
          hanging.delete(timer)
          json(res, state.jwks)
        }, 10_000)
        hanging.add(timer)
        return
      }
      case 'ok':
        json(res, state.jwks, state.cacheControl === undefined ? {} : { 'cache-control': state.cacheControl })
    }
  })
  // Idle connections stay open until close(). With Node's 5 s default, a client reusing one after a
  // busy stretch of the test (this process's event loop, which also runs this server's idle timer,
  // blocked for a few seconds) sent its request just as the timer fired: read ECONNRESET, no fetch.
  server.keepAliveTimeout = 600_000
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve)
  })
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  state.metadata = { issuer: origin, jwks_uri: `${origin}/.well-known/jwks.json` }
  return Object.assign(state, {
    origin,
    url: `${origin}/.well-known/jwks.json`,
    async close() {
      for (const timer of hanging) clearTimeout(timer)
      server.closeAllConnections()
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve()
        }),
      )
    },
  })
}

/** A clock the test moves by hand (milliseconds). */
export function manualClock(start = Date.now()): { now: () => number; advance: (ms: number) => void } {
  let at = start
  return {
    now: () => at,
    advance: (ms) => {
      at += ms
    },
  }
}
