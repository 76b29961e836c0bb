// The Express middleware: the shared suite over a real socket, then what only Express has (the free
// functions, the error middleware, respond: false with the app's own error middleware).
import express, { type NextFunction, type Request, type Response } from 'express'
import { describe, expect, it } from 'vitest'
import {
  getJwt,
  jwtRequired,
  setAccessCookies,
  setRefreshCookies,
  tesseraExpress,
  unsetJwtCookies,
  verifyRequest,
} from '../../packages/tessera/src/adapters/express.js'
import { createTessera, isTesseraError, type Tessera } from '../../packages/tessera/src/index.js'
import { SECRET } from '../helpers/forge.js'
import { listen, makeExpressApp } from './express-app.js'
import { cookieHeader } from './harness.js'
import { bearer, runAdapterSuite } from './shared-suite.js'

runAdapterSuite('express 5 (socket)', makeExpressApp(express))

describe('express specifics', () => {
  const auth = createTessera({ secret: SECRET })

  it('verifyRequest(req, res, auth) uses the default options, and rejects what jwt.errorHandler() answers', async () => {
    const app = express()
    app.get('/maybe', (req, res, next) => {
      verifyRequest(req, res, auth, { optional: true }).then((jwt) => {
        res.json({ who: jwt?.identity ?? null, same: jwt === req.jwt })
      }, next)
    })
    app.get('/bad-source', (req, res, next) => {
      verifyRequest(req, res, {} as never).then(() => res.json({}), next)
    })
    app.use(tesseraExpress(auth).errorHandler())
    const client = await listen(app)
    try {
      expect((await client.request('GET', '/maybe')).body).toEqual({ who: null, same: true })
      const token = await auth.createAccessToken('alice')
      expect((await client.request('GET', '/maybe', { headers: bearer(token) })).body).toEqual({
        who: 'alice',
        same: true,
      })
      const bad = await client.request('GET', '/maybe', { headers: bearer('nope') })
      expect([bad.status, bad.body.error]).toEqual([401, 'token_malformed'])
      const misuse = await client.request('GET', '/bad-source')
      expect([misuse.status, misuse.body.error]).toEqual([500, 'configuration_error'])
    } finally {
      await client.close()
    }
  })

  it('protects routes with jwtRequired(auth) and sets cookies with the free functions', async () => {
    const app = express()
    app.use(express.json())
    app.get('/protected', jwtRequired(auth), (req, res) => {
      res.json({ logged_in_as: req.jwt?.identity, tier: getJwt<{ tier: string }>(req)?.claims.tier })
    })
    app.post('/login', async (_req, res) => {
      setAccessCookies(res, await auth.createAccessToken('alice', { csrf: true }), auth)
      setRefreshCookies(res, await auth.createRefreshToken('alice', { csrf: true }), auth)
      res.json({ ok: true })
    })
    app.post('/logout', (_req, res) => {
      unsetJwtCookies(res, auth)
      res.json({ ok: true })
    })
    const client = await listen(app)
    try {
      const token = await auth.createAccessToken('alice', { claims: { tier: 'gold' } })
      expect((await client.request('GET', '/protected', { headers: bearer(token) })).body).toEqual({
        logged_in_as: 'alice',
        tier: 'gold',
      })
      expect((await client.request('GET', '/protected')).body.error).toBe('token_missing')
      const login = await client.request('POST', '/login')
      expect(login.cookies.map((c) => c.name)).toEqual([
        'access_token_cookie',
        'csrf_access_token',
        'refresh_token_cookie',
        'csrf_refresh_token',
      ])
      expect(cookieHeader(login.cookies)).toContain('access_token_cookie=')
      expect(
        (await client.request('POST', '/logout')).cookies.every((c) => c.attributes['max-age'] === '0'),
      ).toBe(true)
    } finally {
      await client.close()
    }
  })

  it('passes errors to next(err) when respond is false, for the app or jwt.errorHandler() to answer', async () => {
    const jwt = tesseraExpress(auth, { errors: { respond: false, messageKey: 'detail' } })
    const app = express()
    app.get('/custom', jwt.required(), (_req, res) => {
      res.json({})
    })
    app.get('/mapped', jwt.required({ fresh: true }), (_req, res) => {
      res.json({})
    })
    app.use('/custom', (error: unknown, _req: Request, res: Response, next: NextFunction) => {
      if (isTesseraError(error)) res.status(418).json({ caught: error.code })
      else next(error)
    })
    app.use(jwt.errorHandler())
    const client = await listen(app)
    try {
      const custom = await client.request('GET', '/custom')
      expect([custom.status, custom.body.caught]).toEqual([418, 'token_missing'])
      const mapped = await client.request('GET', '/mapped', {
        headers: bearer(await auth.createAccessToken('alice')),
      })
      expect([mapped.status, mapped.body.error, typeof mapped.body.detail]).toEqual([
        401,
        'fresh_token_required',
        'string',
      ])
      expect(mapped.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/)
    } finally {
      await client.close()
    }
  })

  it('lets jwt.errorHandler() pass on errors that are not Tessera errors', async () => {
    const jwt = tesseraExpress(auth)
    const app = express()
    app.get('/boom', () => {
      throw new Error('boom')
    })
    app.use(jwt.errorHandler())
    // Express tells error middleware apart by its four parameters.
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    app.use((_error: unknown, _req: Request, res: Response, _next: NextFunction) => {
      res.status(503).json({ handled: 'elsewhere' })
    })
    const client = await listen(app)
    try {
      expect((await client.request('GET', '/boom')).status).toBe(503)
    } finally {
      await client.close()
    }
  })

  it('exposes the error mapping and a typed getJwt on the integration', async () => {
    const jwt = tesseraExpress<{ tier: string }>(auth, { compat: 'flask-jwt-extended' })
    const error = await auth.verify('nope').catch((reason: unknown) => reason)
    expect(isTesseraError(error) && jwt.errorResponse(error)).toMatchObject({ status: 422 })
    const app = express()
    app.get('/p', jwt.required({ optional: true }), (req, res) => {
      res.json({ tier: jwt.getJwt(req)?.claims.tier ?? null })
    })
    const client = await listen(app)
    try {
      const token = await auth.createAccessToken('alice', { claims: { tier: 'gold' } })
      expect((await client.request('GET', '/p', { headers: bearer(token) })).body).toEqual({ tier: 'gold' })
      expect((await client.request('GET', '/p')).body).toEqual({ tier: null })
    } finally {
      await client.close()
    }
  })

  it('reuses one integration per engine and refuses anything else', () => {
    expect(() => jwtRequired({} as Tessera)).toThrow(expect.objectContaining({ option: 'jwtRequired' }))
    expect(() => tesseraExpress(auth, { tokenLocations: ['body' as 'json'] })).toThrow(
      expect.objectContaining({ option: 'tokenLocations' }),
    )
    expect(() =>
      tesseraExpress(auth).required({ roles: 'admin' as unknown as string[], scopes: [''] }),
    ).toThrow(expect.objectContaining({ option: 'jwtRequired.scopes' }))
  })
})
