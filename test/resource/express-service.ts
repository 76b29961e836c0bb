// A resource service built with Express: verifies the auth server's access tokens, shares its
// revocations. Run with `node --import tsx test/resource/express-service.ts` (environment: see
// engine.ts, plus PORT); prints `listening <port>` when it answers.
import express from 'express'
import { getJwt, jwtRequired } from 'tessera/express'
import { resourceEngine } from './engine.js'

const { auth, jwks, close } = await resourceEngine()
const app = express()
app.get('/orders', jwtRequired(auth), (req, res) => {
  res.json({ service: 'express', sub: getJwt(req)?.identity })
})
app.get('/jwks-status', (_req, res) => {
  res.json(jwks.status())
})
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : ''}\n`)
})
process.once('SIGTERM', () => {
  server.close(() => void close().then(() => process.exit(0)))
  server.closeAllConnections()
})
