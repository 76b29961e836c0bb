// A restart on the same data directory keeps users, sessions, revocations and signing keys (also across
// `tessera keys rotate`); the files under the data directory are private to their owner.
import { beforeAll, describe, expect, it } from 'vitest'
import {
  PASSWORD,
  claimsOf,
  decode,
  expectError,
  expectUnauthorized,
  filesWithModes,
  tokensOf,
  uniqueName,
  useServer,
  type Tokens,
} from '../helpers/server-harness.js'

const server = useServer()
const username = uniqueName('survivor')
const ADMIN = 'root'
const ADMIN_PASSWORD = 'root password for e2e'

let kept: Tokens
let rotated: Tokens
let loggedOut: Tokens
let deletedSession: Tokens
let disabledUser: Tokens
let kidBefore: unknown

beforeAll(async () => {
  await server.createUserWithCli(ADMIN, ADMIN_PASSWORD)
  const admin = await server.login(ADMIN, ADMIN_PASSWORD)
  kept = await server.register(username)
  const toRotate = await server.login(username)
  rotated = tokensOf(await server.refresh(toRotate.refresh))
  loggedOut = await server.login(username)
  expect((await server.api('POST', '/auth/logout', { token: loggedOut.access })).status).toBe(204)
  deletedSession = await server.login(username)
  const del = await server.api('DELETE', `/auth/sessions/${encodeURIComponent(deletedSession.sessionId)}`, {
    token: kept.access,
  })
  expect(del.status).toBe(204)
  const disabledName = uniqueName('disabled')
  disabledUser = await server.register(disabledName)
  const patch = await server.api('PATCH', `/users/${disabledUser.userId}`, {
    token: admin.access,
    body: { disabled: true },
  })
  expect(patch.status).toBe(200)
  kidBefore = decode(kept.access).header.kid

  // `tessera keys rotate --now` while the server runs: nobody is logged out.
  const rotation = await server.cli(['keys', 'rotate', '--now'])
  expect(rotation.code, rotation.output).toBe(0)
  expect((await server.me(kept.access)).status).toBe(200)

  await server.restart()
})

describe('after a restart on the same data directory', () => {
  it('keeps the users: the password still logs in, a wrong one still fails', async () => {
    await server.login(username)
    const wrong = await server.api('POST', '/auth/login', { body: { username, password: 'wrong password' } })
    expectError(wrong, 401, 'invalid_credentials')
  })

  it('keeps the CLI-created admin and its role', async () => {
    const admin = await server.login(ADMIN, ADMIN_PASSWORD)
    expect((await server.api('GET', '/admin', { token: admin.access })).status).toBe(200)
  })

  it('keeps the signing keys: an access token issued before the restart still verifies', async () => {
    const me = await server.me(kept.access)
    expect(me.status, me.text).toBe(200)
    expect(me.body.session_id).toBe(kept.sessionId)
    const jwks = await server.api('GET', '/.well-known/jwks.json')
    expect((jwks.body.keys ?? []).map((k) => k.kid)).toContain(kidBefore)
  })

  it('signs new tokens with the key made by `tessera keys rotate`, and publishes both keys', async () => {
    const fresh = await server.login(username)
    const kidAfter = decode(fresh.access).header.kid
    expect(typeof kidAfter).toBe('string')
    expect(kidAfter).not.toBe(kidBefore)
    const kids = ((await server.api('GET', '/.well-known/jwks.json')).body.keys ?? []).map((k) => k.kid)
    expect(kids).toContain(kidAfter)
    expect(kids).toContain(kidBefore)
    // Tokens of both keys verify.
    expect((await server.me(fresh.access)).status).toBe(200)
    expect((await server.me(kept.access)).status).toBe(200)
  })

  it('keeps the sessions: a refresh token issued before the restart rotates', async () => {
    const res = await server.refresh(rotated.refresh)
    expect(res.status, res.text).toBe(200)
    expect(claimsOf(tokensOf(res).refresh).sid).toBe(rotated.sessionId)
  })

  it('keeps the revocations: a logged-out token stays refused', async () => {
    expectUnauthorized(await server.me(loggedOut.access), 'token_revoked')
    expectUnauthorized(await server.refresh(loggedOut.refresh))
  })

  it('keeps the revocation of a deleted session', async () => {
    expectUnauthorized(await server.me(deletedSession.access))
    expectUnauthorized(await server.refresh(deletedSession.refresh))
  })

  it('keeps a disabled user disabled, with its tokens refused', async () => {
    expectUnauthorized(await server.me(disabledUser.access))
    const login = await server.api('POST', '/auth/login', {
      body: { username: disabledUser.body.user?.username, password: PASSWORD },
    })
    expectError(login, 403, 'account_disabled')
  })

  it('keeps every file under the data directory unreadable by group and others', async () => {
    const files = await filesWithModes(server.dir)
    expect(files.length).toBeGreaterThan(0)
    const exposed = files.filter((f) => (f.mode & 0o044) !== 0).map((f) => `${f.path} ${f.mode.toString(8)}`)
    expect(exposed).toEqual([])
  })
})
