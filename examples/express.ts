// Seed 002's quick start on Express: POST /login issues an access token, GET /protected answers
// { logged_in_as }. Run it with `npm run build && npx tsx examples/express.ts`, then:
//   curl -s -X POST localhost:3000/login -H 'content-type: application/json' \
//     -d '{"username":"alice","password":"wonderland"}'
//   curl -s localhost:3000/protected -H 'Authorization: Bearer <access_token>'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { jwtRequired } from 'tessera/express'
import { createTessera } from 'tessera'

// Demo users in clear text, as in the seed; a real app stores password hashes (see the server).
const users = new Map([
  ['alice', 'wonderland'],
  ['bob', 'builder'],
])

// At least 32 bytes for HS256. Set JWT_SECRET outside this demo.
const auth = createTessera({ secret: process.env.JWT_SECRET ?? 'super-secret-key-for-this-demo-only!' })
const app = express()
app.use(express.json())

app.post('/login', async (req, res) => {
  const { username, password } = (req.body ?? {}) as { username?: string; password?: string }
  if (!username || !password) {
    res.status(400).json({ msg: 'Missing username or password' })
    return
  }
  if (users.get(username) !== password) {
    res.status(401).json({ msg: 'Bad username or password' })
    return
  }
  res.json({ access_token: await auth.createAccessToken(username) })
})

app.get('/protected', jwtRequired(auth), (req, res) => {
  res.json({ logged_in_as: req.jwt?.identity })
})

const server = app.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`listening on http://localhost:${(server.address() as AddressInfo).port}`)
})
