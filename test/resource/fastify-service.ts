// A resource service built with Fastify: verifies the auth server's access tokens, shares its
// revocations. Run with `node --import tsx test/resource/fastify-service.ts` (environment: see
// engine.ts, plus PORT); prints `listening <port>` when it answers.
import Fastify from 'fastify'
import { tesseraFastify } from 'tessera/fastify'
import { resourceEngine } from './engine.js'

const { auth, jwks, close } = await resourceEngine()
const app = Fastify()
await app.register(tesseraFastify, { auth })
app.get('/orders', { preHandler: app.jwtRequired() }, (request) => ({
  service: 'fastify',
  sub: request.jwt?.identity,
}))
app.get('/jwks-status', () => jwks.status())
app.addHook('onClose', close)
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
const address = app.server.address()
process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : ''}\n`)
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)))
