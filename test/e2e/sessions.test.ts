// The signed-in user's own endpoints: /auth/me, logout, logout-all, password change (fresh tokens only)
// and the session list with its DELETE.
import { beforeEach, describe, expect, it } from 'vitest'
import {
  PASSWORD,
  expectError,
  sleep,
  expectUnauthorized,
  tokensOf,
  uniqueName,
  useServer,
  type Tokens,
} from '../helpers/server-harness.js'

const server = useServer()

describe('GET /auth/me', () => {
  it('answers 200 with id, username, roles and session_id', async () => {
    const username = uniqueName('me')
    const login = await server.register(username)
    const res = await server.me(login.access)
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({
      id: login.userId,
      username,
      roles: [],
      session_id: login.sessionId,
    })
  })

  it('answers without a token with 401 token_missing and a bare Bearer challenge', async () => {
    const res = await server.api('GET', '/auth/me')
    expectUnauthorized(res, 'token_missing')
    expect(res.headers.get('www-authenticate')).not.toContain('error=')
  })
})

describe('POST /auth/logout', () => {
  it('revokes the access token on the very next request and the session refresh token, with 204', async () => {
    const username = uniqueName('bye')
    const login = await server.register(username)
    const other = await server.login(username)
    expect((await server.me(login.access)).status).toBe(200)

    const res = await server.api('POST', '/auth/logout', { token: login.access })
    expect(res.status, res.text).toBe(204)
    expect(res.text).toBe('')

    expectUnauthorized(await server.me(login.access), 'token_revoked')
    expectUnauthorized(await server.api('GET', '/protected', { token: login.access }))
    expectUnauthorized(await server.refresh(login.refresh))
    // A second logout with the same token is a success that changes nothing (idempotent, RFC 7009).
    expect((await server.api('POST', '/auth/logout', { token: login.access })).status).toBe(204)
    expectUnauthorized(await server.me(login.access), 'token_revoked')

    // Only that session ended.
    expect((await server.me(other.access)).status).toBe(200)
    expect((await server.refresh(other.refresh)).status).toBe(200)
  })

  it('with an access token from a refresh, revokes the latest refresh token of the session', async () => {
    const login = await server.register(uniqueName('family'))
    const rotated = tokensOf(await server.refresh(login.refresh))
    expect((await server.api('POST', '/auth/logout', { token: rotated.access })).status).toBe(204)
    expectUnauthorized(await server.me(rotated.access))
    expectUnauthorized(await server.refresh(rotated.refresh))
    expectUnauthorized(await server.refresh(login.refresh))
  })

  it('answers without a token with 401', async () => {
    expectUnauthorized(await server.api('POST', '/auth/logout'), 'token_missing')
  })
})

describe('POST /auth/logout-all', () => {
  it('revokes every session of the user with 204 and leaves other users alone', async () => {
    const username = uniqueName('everywhere')
    const first = await server.register(username)
    const second = await server.login(username)
    const stranger = await server.register(uniqueName('stranger'))

    const res = await server.api('POST', '/auth/logout-all', { token: second.access })
    expect(res.status, res.text).toBe(204)

    for (const session of [first, second]) {
      expectUnauthorized(await server.me(session.access))
      expectUnauthorized(await server.refresh(session.refresh))
    }
    expect((await server.me(stranger.access)).status).toBe(200)

    // A new login after logout-all works.
    const again = await server.login(username)
    expect((await server.me(again.access)).status).toBe(200)
  })

  it('answers without a token with 401', async () => {
    expectUnauthorized(await server.api('POST', '/auth/logout-all'), 'token_missing')
  })
})

describe('POST /auth/password', () => {
  const NEW_PASSWORD = 'a brand new passphrase'
  let username: string
  let current: Tokens
  let other: Tokens
  let refreshed: Tokens

  // A user of its own for every test, with three sessions (one of them refreshed): one test changes
  // the password, the others expect the original one.
  beforeEach(async () => {
    username = uniqueName('changer')
    await server.register(username)
    current = await server.login(username)
    other = await server.login(username)
    const third = await server.login(username)
    refreshed = tokensOf(await server.refresh(third.refresh))
  })

  it('refuses a token from a refresh with 401 fresh_token_required', async () => {
    const res = await server.api('POST', '/auth/password', {
      token: refreshed.access,
      body: { current_password: PASSWORD, new_password: NEW_PASSWORD },
    })
    expectUnauthorized(res, 'fresh_token_required')
  })

  it('refuses a wrong current password with 401 invalid_credentials', async () => {
    const res = await server.api('POST', '/auth/password', {
      token: current.access,
      body: { current_password: 'not my password', new_password: NEW_PASSWORD },
    })
    expectError(res, 401, 'invalid_credentials')
  })

  it.each([
    ['a new password of 1025 bytes', { current_password: PASSWORD, new_password: 'n'.repeat(1025) }],
    ['no new password', { current_password: PASSWORD }],
    ['no current password', { new_password: NEW_PASSWORD }],
    ['an extra field', { current_password: PASSWORD, new_password: NEW_PASSWORD, username: 'x' }],
  ])('refuses %s with 400 validation_error', async (_label, body) => {
    const res = await server.api('POST', '/auth/password', { token: current.access, body })
    expectError(res, 400, 'validation_error')
  })

  it.each([
    ['of 7 bytes', 'short12'],
    ['on the common-password list', 'iloveyou1'],
    ['built from the username', 'USERNAME2026!'],
  ])('refuses a weak new password %s with 400 weak_password and keeps the old one', async (_label, next) => {
    const newPassword = next.replace('USERNAME', username)
    const res = await server.api('POST', '/auth/password', {
      token: current.access,
      body: { current_password: PASSWORD, new_password: newPassword },
    })
    expectError(res, 400, 'weak_password')
    expect(res.text).not.toContain(newPassword)
    expect((await server.api('POST', '/auth/login', { body: { username, password: PASSWORD } })).status).toBe(
      200,
    )
  })

  it('refuses a request without a token with 401', async () => {
    const res = await server.api('POST', '/auth/password', {
      body: { current_password: PASSWORD, new_password: NEW_PASSWORD },
    })
    expectUnauthorized(res, 'token_missing')
  })

  it('still has the old password after the refused attempts', async () => {
    const attempts = [
      { token: refreshed.access, body: { current_password: PASSWORD, new_password: NEW_PASSWORD } },
      { token: current.access, body: { current_password: 'not my password', new_password: NEW_PASSWORD } },
      { token: current.access, body: { current_password: PASSWORD, new_password: 'short12' } },
      { token: current.access, body: { current_password: PASSWORD } },
    ]
    for (const attempt of attempts) {
      const res = await server.api('POST', '/auth/password', attempt)
      expect(res.status, res.text).toBeGreaterThanOrEqual(400)
    }
    await server.login(username)
    const changed = await server.api('POST', '/auth/login', { body: { username, password: NEW_PASSWORD } })
    expectError(changed, 401, 'invalid_credentials')
  })

  it('changes the password with 204, revokes the other sessions and keeps the current one', async () => {
    const res = await server.api('POST', '/auth/password', {
      token: current.access,
      body: { current_password: PASSWORD, new_password: NEW_PASSWORD },
    })
    expect(res.status, res.text).toBe(204)

    // The current session survives, access and refresh.
    expect((await server.me(current.access)).status).toBe(200)
    expect((await server.refresh(current.refresh)).status).toBe(200)
    // Every other session is gone, including the refreshed one.
    for (const session of [other, refreshed]) {
      expectUnauthorized(await server.me(session.access))
      expectUnauthorized(await server.refresh(session.refresh))
    }
  })

  it('logs in with the new password and no longer with the old one', async () => {
    const res = await server.api('POST', '/auth/password', {
      token: current.access,
      body: { current_password: PASSWORD, new_password: NEW_PASSWORD },
    })
    expect(res.status, res.text).toBe(204)
    await server.login(username, NEW_PASSWORD)
    const old = await server.api('POST', '/auth/login', { body: { username, password: PASSWORD } })
    expectError(old, 401, 'invalid_credentials')
  })
})

describe('GET /auth/sessions and DELETE /auth/sessions/:id', () => {
  let laptop: Tokens
  let phone: Tokens
  let stranger: Tokens

  // Fresh sessions for every test: one of them ends the phone's session.
  beforeEach(async () => {
    const username = uniqueName('multi')
    await server.register(username)
    laptop = await server.login(username, PASSWORD, { headers: { 'user-agent': 'e2e-laptop/1.0' } })
    phone = await server.login(username, PASSWORD, { headers: { 'user-agent': 'e2e-phone/2.0' } })
    stranger = await server.register(uniqueName('stranger'))
  })

  it('lists my sessions with user agent, IP, times and the current flag', async () => {
    const res = await server.api('GET', '/auth/sessions', { token: laptop.access })
    expect(res.status, res.text).toBe(200)
    const sessions = res.body.sessions ?? []
    const ids = sessions.map((s) => s.id)
    expect(ids).toContain(laptop.sessionId)
    expect(ids).toContain(phone.sessionId)
    expect(ids).not.toContain(stranger.sessionId)

    const mine = sessions.find((s) => s.id === laptop.sessionId)
    expect(mine).toMatchObject({ user_agent: 'e2e-laptop/1.0', current: true })
    expect(mine?.ip).toMatch(/^(::ffff:)?127\.0\.0\.1$/)
    for (const field of ['created_at', 'last_used_at', 'expires_at'] as const) {
      expect(mine?.[field], field).toEqual(expect.stringMatching(/^\d{4}-\d\d-\d\dT/))
    }
    const theirs = sessions.find((s) => s.id === phone.sessionId)
    expect(theirs).toMatchObject({ user_agent: 'e2e-phone/2.0', current: false })
    expect(sessions.filter((s) => s.current)).toHaveLength(1)
  })

  it('answers without a token with 401', async () => {
    expectUnauthorized(await server.api('GET', '/auth/sessions'), 'token_missing')
  })

  it("refuses to delete another user's session with 404 not_found, and that session keeps working", async () => {
    const res = await server.api('DELETE', `/auth/sessions/${encodeURIComponent(stranger.sessionId)}`, {
      token: laptop.access,
    })
    expectError(res, 404, 'not_found')
    expect((await server.me(stranger.access)).status).toBe(200)
    expect((await server.refresh(stranger.refresh)).status).toBe(200)
  })

  it('answers an unknown session id with 404 not_found', async () => {
    const res = await server.api('DELETE', '/auth/sessions/no-such-session', { token: laptop.access })
    expectError(res, 404, 'not_found')
  })

  it.each([100, 101, 128, 4000])(
    'answers a %s-character session id as its schema says (at most 100: longer is validation_error, not echoed)',
    async (length) => {
      const id = 'x'.repeat(length)
      const res = await server.api('DELETE', `/auth/sessions/${id}`, { token: laptop.access })
      if (length <= 100) expectError(res, 404, 'not_found')
      else {
        expectError(res, 400, 'validation_error')
        expect(res.body.message).toBe('A path parameter is longer than 100 characters')
      }
      expect(res.text).not.toContain(id)
    },
  )

  it('ends the deleted session at once with 204, and only that one', async () => {
    const res = await server.api('DELETE', `/auth/sessions/${encodeURIComponent(phone.sessionId)}`, {
      token: laptop.access,
    })
    expect(res.status, res.text).toBe(204)

    expectUnauthorized(await server.me(phone.access))
    expectUnauthorized(await server.refresh(phone.refresh))
    expect((await server.me(laptop.access)).status).toBe(200)

    const list = await server.api('GET', '/auth/sessions', { token: laptop.access })
    expect((list.body.sessions ?? []).map((s) => s.id)).not.toContain(phone.sessionId)
  })
})

// A client that logs in again and again without logging out (a script, a misconfigured integration)
// must not pile up sessions: past TESSERA_MAX_SESSIONS_PER_USER, a login ends the least recently used.
describe('TESSERA_MAX_SESSIONS_PER_USER', () => {
  const limited = useServer({ maxSessionsPerUser: 3 })

  it('ends the least recently used session (its refresh and access tokens) when a login goes past it', async () => {
    // Sessions record their use to the second: a second apart, their order is unambiguous.
    const username = uniqueName('many-logins')
    const first = await limited.register(username)
    await sleep(1_050)
    const second = await limited.login(username)
    await sleep(1_050)
    const third = await limited.login(username)
    await sleep(1_050)
    // The first session is used again: the second becomes the least recently used.
    expect((await limited.refresh(first.refresh)).status).toBe(200)
    const fourth = await limited.login(username)

    const list = await limited.api('GET', '/auth/sessions', { token: fourth.access })
    expect(list.status, list.text).toBe(200)
    const ids = (list.body.sessions ?? []).map((s) => s.id).sort()
    expect(ids).toEqual([first.sessionId, third.sessionId, fourth.sessionId].sort())
    expectUnauthorized(await limited.me(second.access), 'token_revoked')
    expectUnauthorized(await limited.refresh(second.refresh))
    expect((await limited.me(third.access)).status).toBe(200)
  })
})
