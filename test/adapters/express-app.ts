// The Express test app, built with whichever Express the caller passes (5 here; 4 for a compatibility
// run with an aliased install).
import type { AddressInfo } from 'node:net'
import type express from 'express'
import type { NextFunction, Request, Response } from 'express'
import { tesseraExpress } from '../../packages/tessera/src/adapters/express.js'
import { cookieCallOptions, echo, ROUTES, socketClient, type MakeApp, type TestClient } from './harness.js'

type ExpressFactory = typeof express

/** Listens on a free port of 127.0.0.1 and returns a socket client. */
export function listen(app: express.Express): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      const close = (): Promise<void> =>
        new Promise((done) => {
          server.close(() => {
            done()
          })
        })
      resolve(socketClient(port, close))
    })
    server.on('error', reject)
  })
}

/** The shared suite's app factory for one Express version. */
export function makeExpressApp(createApp: ExpressFactory): MakeApp {
  return async (auth, options, settings = {}) => {
    const jwt = tesseraExpress(auth, options)
    const app = createApp()
    if (settings.trustProxy === true) app.set('trust proxy', true)
    app.use(createApp.json())
    app.use(createApp.urlencoded({ extended: false }))
    // verifyRequest routes live on a router whose error middleware answers their failures.
    const verifying = createApp.Router()
    for (const spec of ROUTES) {
      const method = spec.method.toLowerCase() as 'get' | 'post' | 'put' | 'patch' | 'delete' | 'options'
      const { verify } = spec
      if (verify !== undefined) {
        verifying[method](spec.path, (req: Request, res: Response, next: NextFunction) => {
          // .then(…, next): Express 4 does not catch a handler's rejected promise.
          jwt.verifyRequest(req, res, verify).then(() => res.json(echo(req.jwt)), next)
        })
        continue
      }
      const guards = [spec.guard, spec.stacked].flatMap((g) => (g === undefined ? [] : [jwt.required(g)]))
      app[method](spec.path, ...guards, (req: Request, res: Response) => {
        const token = (req.body as { token?: string } | undefined)?.token ?? ''
        const options = cookieCallOptions(req.body)
        switch (spec.action ?? 'echo') {
          case 'set-access':
            jwt.setAccessCookies(res, token, options)
            break
          case 'set-refresh':
            jwt.setRefreshCookies(res, token, options)
            break
          case 'unset':
            jwt.unsetJwtCookies(res, options)
            break
          case 'unset-access':
            jwt.unsetAccessCookies(res, options)
            break
          case 'unset-refresh':
            jwt.unsetRefreshCookies(res, options)
            break
          case 'echo':
            res.json(echo(req.jwt))
            return
        }
        res.json({ ok: true })
      })
    }
    verifying.use(jwt.errorHandler())
    app.use(verifying)
    return listen(app)
  }
}
