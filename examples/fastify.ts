// Seed 002's quick start on Fastify: POST /login issues an access token, GET /protected answers
// { logged_in_as }. Run it with `npm run build && npx tsx examples/fastify.ts`, then:
//   curl -s -X POST localhost:3000/login -H 'content-type: application/json' \
//     -d '{"username":"alice","password":"wonderland"}'
//   curl -s localhost:3000/protected -H 'Authorization: Bearer <access_token>'
import Fastify from 'fastify'
import { tesseraFastify } from 'tessera/fastify'
import { createTessera } from 'tessera'

// Demo users in clear text, as in the seed; a real app stores password hashes (see the server).
const users = new Map([
  ['alice', 'wonderland'],
  ['bob', 'builder'],
])

// At least 32 bytes for HS256. Set JWT_SECRET outside this demo.
const auth = createTessera({ secret: process.env.JWT_SECRET ?? 'super-secret-key-for-this-demo-only!' })
const app = Fastify()
await app.register(tesseraFastify, { auth })

app.post<{ Body: { username?: string; password?: string } | undefined }>('/login', async (request, reply) => {
  const { username, password } = request.body ?? {}
  if (!username || !password) return reply.code(400).send({ msg: 'Missing username or password' })
  if (users.get(username) !== password) return reply.code(401).send({ msg: 'Bad username or password' })
  return { access_token: await auth.createAccessToken(username) }
})

app.get('/protected', { preHandler: app.jwtRequired() }, (request) => ({
  logged_in_as: request.jwt?.identity,
}))

const address = await app.listen({ port: Number(process.env.PORT ?? 3000) })
console.log(`listening on ${address}`)
