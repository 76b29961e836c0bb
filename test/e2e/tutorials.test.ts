// The three Flask tutorials of ../shared/seeds, followed against Tessera with their own paths and body
// fields: a client written for them runs unchanged.
import { beforeAll, describe, expect, it } from 'vitest'
import { claimsOf, expectUnauthorized, uniqueName, useServer } from '../helpers/server-harness.js'

const server = useServer()

describe('seed 001 (codeburst: /registration, /login, /token/refresh, /logout/*, /secret)', () => {
  const username = uniqueName('test')
  // The tutorial's own "test password" is refused by the password policy (see the seed 002 block).
  const password = 'test passphrase 7f3q'

  // The account the other tests use; the whole-flow test registers one of its own.
  beforeAll(async () => {
    const res = await server.api('POST', '/registration', { body: { username, password } })
    expect(res.status, res.text).toBe(200)
  })

  it('follows the whole flow: register, login, secret, refresh, logout of access and refresh tokens', async () => {
    const username = uniqueName('test')
    // Step 3/4: registration returns 200 (flask-restful's default, as the fixture recorded), the
    // tutorial's message and both tokens.
    const registered = await server.api('POST', '/registration', { body: { username, password } })
    expect(registered.status, registered.text).toBe(200)
    expect(registered.body.message).toBe(`User ${username} was created`)
    expect(typeof registered.body.access_token).toBe('string')
    expect(typeof registered.body.refresh_token).toBe('string')

    // Login: a message and both tokens.
    const login = await server.api('POST', '/login', { body: { username, password } })
    expect(login.status, login.text).toBe(200)
    expect(typeof login.body.message).toBe('string')
    const access = login.body.access_token!
    const refresh = login.body.refresh_token!
    expect(typeof access).toBe('string')
    expect(typeof refresh).toBe('string')

    // SecretResource: { answer: 42 } with Authorization: Bearer <access>.
    const secret = await server.api('GET', '/secret', { token: access })
    expect(secret.status, secret.text).toBe(200)
    expect(secret.body.answer).toBe(42)

    // TokenRefresh: a new access token (Tessera also rotates the refresh token).
    const refreshed = await server.api('POST', '/token/refresh', { token: refresh })
    expect(refreshed.status, refreshed.text).toBe(200)
    const newAccess = refreshed.body.access_token!
    expect(typeof newAccess).toBe('string')
    expect(typeof refreshed.body.refresh_token).toBe('string')
    expect((await server.api('GET', '/secret', { token: newAccess })).body.answer).toBe(42)

    // UserLogoutRefresh on a second session: that refresh token and its session are revoked.
    const other = await server.api('POST', '/login', { body: { username, password } })
    const otherRefresh = other.body.refresh_token!
    const otherAccess = other.body.access_token!
    const logoutRefresh = await server.api('POST', '/logout/refresh', { token: otherRefresh })
    expect(logoutRefresh.status, logoutRefresh.text).toBe(200)
    expect(typeof logoutRefresh.body.message).toBe('string')
    expectUnauthorized(await server.api('POST', '/token/refresh', { token: otherRefresh }))
    expectUnauthorized(await server.api('GET', '/secret', { token: otherAccess }))

    // UserLogoutAccess: the access token is refused on the very next request.
    const logoutAccess = await server.api('POST', '/logout/access', { token: newAccess })
    expect(logoutAccess.status, logoutAccess.text).toBe(200)
    expect(typeof logoutAccess.body.message).toBe('string')
    expectUnauthorized(await server.api('GET', '/secret', { token: newAccess }), 'token_revoked')
  })

  // The Flask app's own sequence (the fixture recorded 200, 200): /logout/access ends the whole
  // session in Tessera, and the refresh token's logout that follows is a success that changes nothing.
  it('logs out the access token, then the refresh token of the same login: 200 and 200', async () => {
    const login = await server.api('POST', '/login', { body: { username, password } })
    expect(login.status, login.text).toBe(200)
    const logoutAccess = await server.api('POST', '/logout/access', { token: login.body.access_token! })
    expect(logoutAccess.status, logoutAccess.text).toBe(200)
    expect(logoutAccess.body).toEqual({ message: 'Access token has been revoked' })
    const logoutRefresh = await server.api('POST', '/logout/refresh', { token: login.body.refresh_token! })
    expect(logoutRefresh.status, logoutRefresh.text).toBe(200)
    expect(logoutRefresh.body).toEqual({ message: 'Refresh token has been revoked' })
    expectUnauthorized(await server.api('POST', '/token/refresh', { token: login.body.refresh_token! }))
    expectUnauthorized(await server.api('GET', '/secret', { token: login.body.access_token! }))
  })

  it('refuses a duplicate registration with 409 instead of the tutorial 500', async () => {
    const res = await server.api('POST', '/registration', { body: { username, password } })
    expect(res.status).toBe(409)
    expect(res.body.error).toBe('username_taken')
  })

  it('refuses a wrong password on /login with 401', async () => {
    const res = await server.api('POST', '/login', { body: { username, password: 'wrong password' } })
    expect(res.status).toBe(401)
    expect(res.body.error).toBe('invalid_credentials')
  })

  it('keeps the token types apart: no refresh token on /secret, no access token on /token/refresh', async () => {
    const login = await server.api('POST', '/login', { body: { username, password } })
    expectUnauthorized(
      await server.api('GET', '/secret', { token: login.body.refresh_token! }),
      'token_wrong_type',
    )
    expectUnauthorized(
      await server.api('POST', '/token/refresh', { token: login.body.access_token! }),
      'token_wrong_type',
    )
    expectUnauthorized(await server.api('GET', '/secret'), 'token_missing')
  })

  // Step 2 has the reader add `Content-Type: application/json` in Postman; a client that sends it on
  // every request (Postman, a fetch wrapper, one Python headers dict) posts to the refresh and logout
  // routes, which read no body, without one. Flask answered them; so must Tessera.
  it('refreshes and logs out with Content-Type: application/json and no body', async () => {
    const json = { 'content-type': 'application/json' }
    const login = await server.api('POST', '/login', { body: { username, password } })
    const refreshed = await server.api('POST', '/token/refresh', {
      token: login.body.refresh_token!,
      headers: json,
    })
    expect(refreshed.status, refreshed.text).toBe(200)
    const access = refreshed.body.access_token!
    const refresh = refreshed.body.refresh_token!
    const logoutAccess = await server.api('POST', '/logout/access', { token: access, headers: json })
    expect(logoutAccess.status, logoutAccess.text).toBe(200)
    const logoutRefresh = await server.api('POST', '/logout/refresh', { token: refresh, headers: json })
    expect(logoutRefresh.status, logoutRefresh.text).toBe(200)
    expectUnauthorized(await server.api('GET', '/secret', { token: access }), 'token_revoked')
    // A route that needs a body still refuses an empty one.
    const empty = await server.api('POST', '/login', { headers: json })
    expect(empty.status, empty.text).toBe(400)
  })

  it('does not offer the tutorial "delete all users" resource to a user', async () => {
    const login = await server.api('POST', '/login', { body: { username, password } })
    const res = await server.api('DELETE', '/users', { token: login.body.access_token! })
    expect([401, 403, 404, 405]).toContain(res.status)
    // The account still exists.
    expect((await server.api('POST', '/login', { body: { username, password } })).status).toBe(200)
  })
})

describe('seed 000 (pythonlore: /register, /login, /protected, /admin)', () => {
  const username = uniqueName('myuser')
  const password = 'my seed passphrase 41'
  const ADMIN = 'seed-admin'
  const ADMIN_PASSWORD = 'seed admin password'

  // The admin, and the account the other tests use; the registration test registers one of its own.
  beforeAll(async () => {
    await server.createUserWithCli(ADMIN, ADMIN_PASSWORD)
    const res = await server.api('POST', '/register', { body: { username, password } })
    expect(res.status, res.text).toBe(201)
  })

  it('registers on /register with 201 and a message', async () => {
    const res = await server.api('POST', '/register', { body: { username: uniqueName('myuser'), password } })
    expect(res.status, res.text).toBe(201)
    expect(typeof res.body.message).toBe('string')
  })

  it('logs in on /login and opens /protected with the Bearer token', async () => {
    const login = await server.api('POST', '/login', { body: { username, password } })
    expect(login.status, login.text).toBe(200)
    const res = await server.api('GET', '/protected', { token: login.body.access_token! })
    expect(res.status, res.text).toBe(200)
    // Seed 000's answer (`message`) beside seed 002's (`logged_in_as`).
    expect(res.body).toEqual({ logged_in_as: username, message: 'This is a protected route' })
    // The payload carries the username and an expiry, as the tutorial's generate_token did.
    const claims = claimsOf(login.body.access_token!)
    expect(claims.username).toBe(username)
    expect(typeof claims.exp).toBe('number')
  })

  it('answers /protected without a token with 401', async () => {
    expectUnauthorized(await server.api('GET', '/protected'), 'token_missing')
  })

  it('answers /admin with 403 for a user and welcomes an admin', async () => {
    const user = await server.api('POST', '/login', { body: { username, password } })
    const refused = await server.api('GET', '/admin', { token: user.body.access_token! })
    expect(refused.status).toBe(403)
    expect(refused.body.error).toBe('forbidden')

    const admin = await server.api('POST', '/login', { body: { username: ADMIN, password: ADMIN_PASSWORD } })
    const welcomed = await server.api('GET', '/admin', { token: admin.body.access_token! })
    expect(welcomed.status, welcomed.text).toBe(200)
    expect(welcomed.body).toMatchObject({ message: 'Welcome to the admin panel' })
  })
})

describe('seed 002 (flask-jwt-extended quick start: /login, /protected)', () => {
  beforeAll(async () => {
    // The quick start's password is a dictionary word: registration refuses it (issue 15) and creates
    // nothing. An operator who lowers the policy can still create the account, and login never judges
    // strength, so users whose password predates the policy are not locked out.
    const res = await server.api('POST', '/register', { body: { username: 'alice', password: 'wonderland' } })
    expect(res.status, res.text).toBe(400)
    expect(res.body.error).toBe('weak_password')
    const created = await server.cli(['users', 'create', 'alice'], {
      TESSERA_PASSWORD: 'wonderland',
      TESSERA_PASSWORD_MIN_SCORE: '0',
    })
    expect(created.code, created.output).toBe(0)
  })

  it('answers POST /login {alice, wonderland} with an access_token and /protected with logged_in_as', async () => {
    const login = await server.api('POST', '/login', { body: { username: 'alice', password: 'wonderland' } })
    expect(login.status, login.text).toBe(200)
    const res = await server.api('GET', '/protected', { token: login.body.access_token! })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ logged_in_as: 'alice' })
  })

  it('answers a missing username or password with 400, as the tutorial does', async () => {
    for (const body of [{ username: 'alice' }, { password: 'wonderland' }, {}]) {
      const res = await server.api('POST', '/login', { body })
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.body.error).toBe('validation_error')
    }
  })

  it('answers a bad username or password with 401', async () => {
    for (const body of [
      { username: 'alice', password: 'not-wonderland' },
      { username: 'carol', password: 'wonderland' },
    ]) {
      const res = await server.api('POST', '/login', { body })
      expect(res.status).toBe(401)
      expect(res.body.error).toBe('invalid_credentials')
    }
  })

  it("refuses the tutorial's bob/builder: 7 bytes is below the password minimum", async () => {
    const res = await server.api('POST', '/register', { body: { username: 'bob', password: 'builder' } })
    expect(res.status).toBe(400)
    expect(res.body.error).toBe('weak_password')
  })
})
