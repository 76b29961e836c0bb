/**
 * One contender of the protected-route benchmark, as its own process (started by bench/run.ts, pinned
 * with taskset): `GET /protected` answers `{"logged_in_as": sub}` behind the contender's JWT check.
 *
 *   node bench/.out/build/bench/servers/http.js <kind> <alg>
 *
 * Key material comes from BENCH_KEYS (JSON: { secret, privatePem, publicPem }). The process listens on
 * 127.0.0.1, an ephemeral port, and talks to its parent over IPC: it sends `{ port }` once listening and
 * answers `{ cmd: 'cpu' }` with its CPU time so far (to tell whether the server's core was saturated).
 */
import { Hono } from 'hono'
import { jwt as honoJwt } from 'hono/jwt'
import { serve } from '@hono/node-server'
import express, { type ErrorRequestHandler } from 'express'
import { expressjwt, type Request as JwtRequest } from 'express-jwt'
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { createServer } from 'node:http'
import { createHmac, createPublicKey, createSecretKey, timingSafeEqual, verify } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { createTessera, remoteJwks } from 'tessera'
import { tesseraFastify } from 'tessera/fastify'
import { jwtRequired } from 'tessera/express'
import { SUB, type Alg, type ContenderKind, type BenchKeys } from './protocol.js'

const [kind, alg] = process.argv.slice(2) as [ContenderKind, Alg]
const keys = JSON.parse(process.env.BENCH_KEYS ?? '{}') as BenchKeys

// Tessera as an application gets it (the verified-token cache on, its default), and for information
// with the cache off: every request then pays the whole verification.
const verifyCache = kind.endsWith('-nocache') ? false : undefined

function tessera(): ReturnType<typeof createTessera> {
  return alg === 'HS256'
    ? createTessera({ secret: keys.secret, algorithm: 'HS256', accessTokenTtl: '6h', verifyCache })
    : createTessera({
        keys: { alg: 'EdDSA', privateKey: keys.privatePem },
        accessTokenTtl: '6h',
        verifyCache,
      })
}

type Listening = () => number

/**
 * The resource server of issue 13: the same Fastify service with the issuer's public keys fetched from a
 * JWKS, served here by a tiny node:http server on another port (fetched once, at start).
 */
async function remoteTessera(): Promise<ReturnType<typeof createTessera>> {
  const issuer = createTessera({ keys: { alg: 'EdDSA', privateKey: keys.privatePem }, accessTokenTtl: '6h' })
  const body = JSON.stringify(issuer.jwks())
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' }).end(body)
  })
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve)
  })
  server.unref()
  const jwks = remoteJwks(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`)
  await jwks.ready()
  return createTessera({ keys: jwks, accessTokenTtl: '6h' })
}

/**
 * node:crypto's own verification and nothing else (no header or claim checks, no cache): the physical
 * ceiling of any verifier that checks every token's signature. `sub` of a verified token, or undefined.
 */
function bareVerifier(): (token: string) => string | undefined {
  const key = alg === 'HS256' ? createSecretKey(Buffer.from(keys.secret)) : createPublicKey(keys.publicPem)
  return (token) => {
    const dot2 = token.lastIndexOf('.')
    const dot1 = token.indexOf('.')
    if (dot1 < 0 || dot2 <= dot1) return undefined
    const input = token.slice(0, dot2)
    const signature = Buffer.from(token.slice(dot2 + 1), 'base64url')
    const ok =
      alg === 'HS256'
        ? (() => {
            const mac = createHmac('sha256', key).update(input).digest()
            return mac.length === signature.length && timingSafeEqual(mac, signature)
          })()
        : verify(null, Buffer.from(input), key, signature)
    if (!ok) return undefined
    const payload = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString()) as {
      sub?: string
    }
    return payload.sub
  }
}

async function fastifyServer(): Promise<Listening> {
  const app = Fastify({ logger: false })
  if (kind === 'fastify-bare') {
    app.get('/protected', () => ({ logged_in_as: SUB }))
  } else if (kind === 'fastify-crypto') {
    const verifyToken = bareVerifier()
    app.get(
      '/protected',
      {
        preHandler: (request, reply, done) => {
          const header = request.headers.authorization
          const sub = typeof header === 'string' ? verifyToken(header.slice(7)) : undefined
          if (sub === undefined) {
            void reply.code(401).send({ error: 'invalid_token' })
            return
          }
          ;(request as { sub?: string }).sub = sub
          done()
        },
      },
      (request) => ({ logged_in_as: (request as { sub?: string }).sub }),
    )
  } else if (kind === 'fastify-jwt' || kind === 'fastify-jwt-cache') {
    const cache = kind === 'fastify-jwt-cache'
    await app.register(fastifyJwt, {
      secret: alg === 'HS256' ? keys.secret : { private: keys.privatePem, public: keys.publicPem },
      sign: { algorithm: alg },
      verify: { algorithms: [alg], ...(cache ? { cache: true } : {}) },
    })
    app.get(
      '/protected',
      {
        preHandler: async (request) => {
          await request.jwtVerify()
        },
      },
      (request) => ({ logged_in_as: (request.user as { sub: string }).sub }),
    )
  } else {
    const auth = kind === 'tessera-fastify-remote' ? await remoteTessera() : tessera()
    await app.register(tesseraFastify, { auth })
    app.get('/protected', { preHandler: app.jwtRequired() }, (request) => ({
      logged_in_as: request.jwt?.identity,
    }))
  }
  await app.listen({ host: '127.0.0.1', port: 0 })
  return () => (app.server.address() as AddressInfo).port
}

function expressServer(): Promise<Listening> {
  const app = express()
  app.disable('x-powered-by')
  if (kind === 'express-bare') {
    app.get('/protected', (_req, res) => {
      res.json({ logged_in_as: SUB })
    })
  } else if (kind === 'express-jwt') {
    if (alg !== 'HS256') throw new Error('express-jwt (jsonwebtoken 9) implements no EdDSA')
    app.get('/protected', expressjwt({ secret: keys.secret, algorithms: ['HS256'] }), (req, res) => {
      res.json({ logged_in_as: (req as JwtRequest).auth?.sub })
    })
    // Four parameters: that is how Express tells an error handler.
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    const onError: ErrorRequestHandler = (error: { status?: number; code?: string }, _req, res, _next) => {
      res.status(error.status ?? 500).json({ error: error.code ?? 'error' })
    }
    app.use(onError)
  } else {
    const auth = tessera()
    app.get('/protected', jwtRequired(auth), (req, res) => {
      res.json({ logged_in_as: req.jwt?.identity })
    })
  }
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', (error?: Error) => {
      if (error === undefined) resolve(() => (server.address() as AddressInfo).port)
      else reject(error)
    })
  })
}

function honoServer(): Promise<Listening> {
  const app = new Hono()
  const secret = alg === 'HS256' ? keys.secret : keys.publicPem
  app.use('/protected', honoJwt({ secret, alg, verification: { typ: 'at+jwt' } }))
  app.get('/protected', (c) => c.json({ logged_in_as: (c.get('jwtPayload') as { sub: string }).sub }))
  return new Promise((resolve) => {
    serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => {
      resolve(() => info.port)
    })
  })
}

const start: Record<ContenderKind, () => Promise<Listening>> = {
  'fastify-bare': fastifyServer,
  'fastify-jwt': fastifyServer,
  'fastify-jwt-cache': fastifyServer,
  'tessera-fastify': fastifyServer,
  'tessera-fastify-nocache': fastifyServer,
  'tessera-fastify-remote': fastifyServer,
  'tessera-express-nocache': expressServer,
  'express-bare': expressServer,
  'express-jwt': expressServer,
  'tessera-express': expressServer,
  'hono-jwt': honoServer,
  'fastify-crypto': fastifyServer,
  'tessera-server': () => Promise.reject(new Error('tessera-server runs the CLI (bench/lib/shipped.ts)')),
}

const port = (await start[kind]())()
process.on('message', (message: { cmd?: string }) => {
  if (message.cmd === 'cpu') process.send?.({ cpu: process.cpuUsage(), rss: process.memoryUsage().rss })
})
// A normal exit, so that --cpu-prof writes its profile.
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
process.send?.({ port })
