// The Fastify plugin: the shared suite through inject and over a real socket, then what only Fastify has
// (route config, decorators, register-time errors, coexistence with @fastify/cookie).
import fastifyCookie from '@fastify/cookie'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { describe, expect, it } from 'vitest'
import { getJwt, tesseraFastify, type AdapterOptions } from '../../packages/tessera/src/adapters/fastify.js'
import { createTessera, type Tessera } from '../../packages/tessera/src/index.js'
import { SECRET } from '../helpers/forge.js'
import {
  cookieCallOptions,
  echo,
  normalise,
  payload,
  ROUTES,
  socketClient,
  type AppSettings,
  type MakeApp,
  type RouteSpec,
} from './harness.js'
import { bearer, runAdapterSuite } from './shared-suite.js'

function handle(spec: RouteSpec) {
  return (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const token = (request.body as { token?: string } | undefined)?.token ?? ''
    const options = cookieCallOptions(request.body)
    switch (spec.action ?? 'echo') {
      case 'set-access':
        return reply.setAccessCookies(token, options).send({ ok: true })
      case 'set-refresh':
        return reply.setRefreshCookies(token, options).send({ ok: true })
      case 'unset':
        return reply.unsetJwtCookies(options).send({ ok: true })
      case 'unset-access':
        return reply.unsetAccessCookies(options).send({ ok: true })
      case 'unset-refresh':
        return reply.unsetRefreshCookies(options).send({ ok: true })
      case 'echo':
        return reply.send(echo(request.jwt))
    }
  }
}

async function build(
  auth: Tessera,
  options: AdapterOptions,
  settings: AppSettings = {},
): Promise<FastifyInstance> {
  const app = Fastify({ trustProxy: settings.trustProxy === true })
  // Form bodies for csrf.checkForm, without pulling in @fastify/formbody.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)))
    },
  )
  try {
    await app.register(tesseraFastify, { auth, ...options })
    // verifyRequest routes live in a context whose error handler answers their failures.
    await app.register((scope, _options, done) => {
      scope.setErrorHandler(app.tessera.errorHandler)
      for (const spec of ROUTES) {
        const { verify } = spec
        if (verify === undefined) continue
        scope.route({
          method: spec.method,
          url: spec.path,
          handler: async (request, reply) => {
            await app.verifyRequest(request, reply, verify)
            return echo(request.jwt)
          },
        })
      }
      done()
    })
    for (const spec of ROUTES) {
      if (spec.verify !== undefined) continue
      app.route({
        method: spec.method,
        url: spec.path,
        ...(spec.guard === undefined
          ? {}
          : {
              preHandler:
                spec.stacked === undefined
                  ? app.jwtRequired(spec.guard)
                  : [app.jwtRequired(spec.guard), app.jwtRequired(spec.stacked)],
            }),
        handler: handle(spec),
      })
    }
    await app.ready()
  } catch (error) {
    await app.close()
    throw error
  }
  return app
}

const viaInject: MakeApp = async (auth, options, settings) => {
  const app = await build(auth, options, settings)
  return {
    close: () => app.close(),
    async request(method, path, options = {}) {
      const { body, contentType } = payload(options)
      const headers = {
        ...options.headers,
        ...(contentType === undefined ? {} : { 'content-type': contentType }),
      }
      const res = await app.inject({
        method: method as 'GET',
        url: path,
        headers,
        ...(body === undefined ? {} : { payload: body }),
      })
      return normalise(res.statusCode, res.headers, res.body)
    },
  }
}

const viaSocket: MakeApp = async (auth, options, settings) => {
  const app = await build(auth, options, settings)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return socketClient(address.port, () => app.close())
}

runAdapterSuite('fastify (inject)', viaInject)
runAdapterSuite('fastify (socket)', viaSocket)

describe('fastify specifics', () => {
  const auth = createTessera({ secret: SECRET })
  const call = async (
    app: FastifyInstance,
    url: string,
    headers: Record<string, string> = {},
    method: 'GET' | 'POST' = 'GET',
  ) => {
    const res = await app.inject({ method, url, headers })
    return normalise(res.statusCode, res.headers, res.body)
  }

  it('protects routes declared with config.jwt, before their own preHandlers', async () => {
    const app = Fastify()
    await app.register(tesseraFastify, { auth })
    const seen: unknown[] = []
    app.get('/plain', { config: { jwt: true } }, (request) => echo(request.jwt))
    app.get(
      '/admin',
      {
        config: { jwt: { roles: ['admin'] } },
        preHandler: (request, _reply, done) => {
          seen.push(request.jwt?.identity)
          done()
        },
      },
      (request) => echo(request.jwt),
    )
    app.get(
      '/chained',
      {
        config: { jwt: {} },
        preHandler: [
          (request, _reply, done) => {
            seen.push(request.jwt?.identity)
            done()
          },
        ],
      },
      (request) => echo(request.jwt),
    )
    app.get('/off', { config: { jwt: false } }, (request) => echo(request.jwt))
    const token = await auth.createAccessToken('alice', { claims: { roles: ['admin'] } })
    expect((await call(app, '/plain')).body.error).toBe('token_missing')
    expect((await call(app, '/plain', bearer(token))).body.jwt?.identity).toBe('alice')
    expect((await call(app, '/admin', bearer(token))).status).toBe(200)
    expect((await call(app, '/chained', bearer(token))).status).toBe(200)
    expect(seen).toEqual(['alice', 'alice'])
    expect((await call(app, '/off')).body.jwt).toBeNull()
    await app.close()
  })

  // An onRoute hook sees only routes declared after the plugin: earlier ones would keep their config.jwt
  // and answer anyone. They are refused instead (fail closed), and nothing else changes.
  it('refuses a request to a config.jwt route declared before the plugin: 500, never served', async () => {
    const app = Fastify()
    let served = 0
    app.get('/early', { config: { jwt: { roles: ['admin'] } } }, () => ({ secret: ++served }))
    app.get('/early-open', () => ({ open: true }))
    app.get('/early-off', { config: { jwt: false } }, () => ({ off: true }))
    await app.register((child, _options, done) => {
      child.get('/sibling', { config: { jwt: true } }, () => ({ secret: ++served }))
      done()
    })
    await app.register(tesseraFastify, { auth })
    app.get('/late', { config: { jwt: true } }, (request) => echo(request.jwt))
    const token = await auth.createAccessToken('alice', { claims: { roles: ['admin'] } })
    for (const url of ['/early', '/sibling']) {
      for (const headers of [{}, bearer(token)]) {
        const res = await call(app, url, headers)
        expect([url, res.status, res.body.error]).toEqual([url, 500, 'configuration_error'])
        expect(res.body.message).toMatch(/declared before tesseraFastify was registered/)
      }
    }
    expect(served).toBe(0)
    expect((await call(app, '/early-open')).status).toBe(200)
    expect((await call(app, '/early-off')).status).toBe(200)
    expect((await call(app, '/late')).body.error).toBe('token_missing')
    expect((await call(app, '/late', bearer(token))).status).toBe(200)
    await app.close()
  })

  // Found by an outside attack run: the guarded routes were remembered by method and URL, so a later
  // guarded route with the same method and URL (another host or version constraint) vouched for the
  // earlier, unguarded one, which answered anyone.
  it('refuses a config.jwt route declared before the plugin even when a later route shares its method and URL', async () => {
    const app = Fastify()
    let served = 0
    const early = { config: { jwt: true }, constraints: { host: 'admin.example' } }
    app.get('/data', early, () => ({ secret: ++served }))
    app.get('/versioned', { ...early, constraints: { version: '1.0.0' } }, () => ({ secret: ++served }))
    await app.register(tesseraFastify, { auth })
    app.get('/data', { config: { jwt: true } }, (request) => echo(request.jwt))
    app.get('/versioned', { config: { jwt: true } }, (request) => echo(request.jwt))
    const token = await auth.createAccessToken('alice')
    for (const headers of [{}, bearer(token)]) {
      const host = await call(app, '/data', { ...headers, host: 'admin.example' })
      expect([host.status, host.body.error]).toEqual([500, 'configuration_error'])
      const versioned = await call(app, '/versioned', { ...headers, 'accept-version': '1.0.0' })
      expect([versioned.status, versioned.body.error]).toEqual([500, 'configuration_error'])
    }
    expect(served).toBe(0)
    // The later routes are guarded as usual.
    for (const url of ['/data', '/versioned']) {
      expect((await call(app, url)).body.error).toBe('token_missing')
      expect((await call(app, url, bearer(token))).status).toBe(200)
    }
    await app.close()
  })

  it('adds no request hook when it is registered before every route', async () => {
    const app = Fastify()
    await app.register(tesseraFastify, { auth })
    app.get('/late', { config: { jwt: true } }, (request) => echo(request.jwt))
    await app.ready()
    expect(app.printRoutes({ includeHooks: true })).not.toMatch(/tesseraUnguardedRoutes|onRequest/)
    await app.close()
  })

  it('refuses bad route options when the route is declared, naming the route', async () => {
    const app = Fastify()
    await app.register(tesseraFastify, { auth })
    expect(() => app.jwtRequired({ fresh: true, refresh: true })).toThrow(
      expect.objectContaining({ option: 'jwtRequired.fresh' }),
    )
    expect(() => app.get('/x', { config: { jwt: { roles: [] } } }, () => 'x')).toThrow(
      expect.objectContaining({ option: 'GET /x config.jwt.roles' }),
    )
    await app.close()
  })

  it('refuses registration without an engine', async () => {
    const app = Fastify()
    await expect(app.register(tesseraFastify, {} as never)).rejects.toMatchObject({ option: 'auth' })
  })

  it('refuses a second registration in one scope with a rejection, and allows one per encapsulated plugin', async () => {
    const other = createTessera({ secret: 'Zp8Qw3Lr6Tn1Vx4Ys7Ub2Me5Kc9Hf0Jd3Ga6Bh' })
    const twice = Fastify()
    await twice.register(tesseraFastify, { auth })
    await expect(twice.register(tesseraFastify, { auth: other })).rejects.toMatchObject({
      option: 'tesseraFastify',
      message: expect.stringMatching(/already registered in this scope/) as unknown,
    })
    await twice.close()

    const scoped = Fastify()
    for (const [prefix, engine] of [
      ['/a', auth],
      ['/b', other],
    ] as const) {
      await scoped.register(
        async (child) => {
          await child.register(tesseraFastify, { auth: engine })
          child.get('/me', { preHandler: child.jwtRequired() }, (request) => ({ me: request.jwt?.identity }))
        },
        { prefix },
      )
    }
    const get = async (url: string, engine: Tessera) =>
      (await scoped.inject({ url, headers: bearer(await engine.createAccessToken('alice')) })).statusCode
    expect([await get('/a/me', auth), await get('/b/me', other), await get('/b/me', auth)]).toEqual([
      200, 200, 401,
    ])
    await scoped.close()
  })

  it('decorates app.tessera with the engine and the error mapping', async () => {
    const app = Fastify()
    await app.register(tesseraFastify, { auth, compat: 'flask-jwt-extended' })
    expect(app.tessera.auth).toBe(auth)
    expect(typeof app.tessera.jwtRequired).toBe('function')
    const [missing] = await Promise.allSettled([auth.verify('nope')])
    const reason = (missing as PromiseRejectedResult).reason as Parameters<
      typeof app.tessera.errorResponse
    >[0]
    expect(app.tessera.errorResponse(reason)).toMatchObject({
      status: 422,
      body: { msg: expect.any(String) as string },
    })
    await app.close()
  })

  it('types request.jwt through getJwt and keeps null on unprotected routes', async () => {
    const app = Fastify()
    await app.register(tesseraFastify, { auth })
    app.get('/p', { preHandler: app.jwtRequired() }, (request) => ({
      id: getJwt<{ tier: string }>(request)?.claims.tier,
    }))
    app.get('/o', (request) => ({ jwt: request.jwt }))
    const token = await auth.createAccessToken('alice', { claims: { tier: 'gold' } })
    expect((await call(app, '/p', bearer(token))).body).toEqual({ id: 'gold' })
    expect((await call(app, '/o', bearer(token))).body).toEqual({ jwt: null })
    await app.close()
  })

  it('app.tessera.errorHandler answers Tessera errors and hands others to Fastify as before', async () => {
    const app = Fastify()
    await app.register(tesseraFastify, { auth })
    app.setErrorHandler(app.tessera.errorHandler)
    app.get('/verify', async (request, reply) => {
      await app.tessera.verifyRequest(request, reply)
      return echo(request.jwt)
    })
    app.get('/boom', () => {
      throw Object.assign(new Error('teapot'), { statusCode: 418 })
    })
    const missing = await call(app, '/verify')
    expect([missing.status, missing.body.error, missing.headers['www-authenticate']]).toEqual([
      401,
      'token_missing',
      'Bearer',
    ])
    const other = await call(app, '/boom')
    expect([other.status, other.body.message]).toEqual([418, 'teapot'])
    await app.close()
  })

  it('sends its cookies alongside those of @fastify/cookie', async () => {
    const app = Fastify()
    await app.register(fastifyCookie)
    await app.register(tesseraFastify, { auth, tokenLocations: ['cookies'] })
    const token = await auth.createAccessToken('alice', { csrf: true })
    app.post('/login', (_request, reply) =>
      reply.setCookie('theme', 'dark').setAccessCookies(token).send({ ok: true }),
    )
    const res = await call(app, '/login', {}, 'POST')
    expect(res.cookies.map((c) => c.name).sort()).toEqual([
      'access_token_cookie',
      'csrf_access_token',
      'theme',
    ])
    await app.close()
  })
})
