// Admin endpoints (role `admin`, the first admin from the CLI): 403 for users, the user list without
// hashes, PATCH roles/disabled, DELETE with immediate revocation, and the tutorials' /admin.
import { beforeAll, describe, expect, it, vi } from 'vitest'
import {
  PASSWORD,
  claimsOf,
  expectError,
  expectUnauthorized,
  uniqueName,
  useServer,
  type ApiResponse,
  type Tokens,
  type UserBody,
} from '../helpers/server-harness.js'

const ADMIN = 'root'
const ADMIN_PASSWORD = 'root password for e2e'
const USER_FIELDS = ['id', 'username', 'roles', 'disabled', 'created_at']

const server = useServer()
let admin: Tokens
let user: Tokens
const username = uniqueName('plain')

beforeAll(async () => {
  await server.createUserWithCli(ADMIN, ADMIN_PASSWORD)
  admin = await server.login(ADMIN, ADMIN_PASSWORD)
  user = await server.register(username)
})

function expectForbidden(res: ApiResponse): void {
  expectError(res, 403, 'forbidden')
  expect(res.headers.get('www-authenticate') ?? '').toMatch(/^Bearer\b.*insufficient_scope/)
}

function expectNoHash(res: ApiResponse): void {
  expect(res.text).not.toMatch(/argon2|password_?hash|"password"/i)
}

describe('the CLI-created admin', () => {
  it('carries the admin role in its tokens and in /auth/me', async () => {
    expect(claimsOf(admin.access).roles).toEqual(['admin'])
    const me = await server.me(admin.access)
    expect(me.body).toMatchObject({ username: ADMIN, roles: ['admin'] })
  })
})

describe('admin routes with a user token', () => {
  it.each([
    ['GET', '/users'],
    ['GET', '/users/1'],
    ['PATCH', '/users/1'],
    ['DELETE', '/users/1'],
    ['GET', '/admin'],
  ] as const)('%s %s answers 403 forbidden with an insufficient_scope challenge', async (method, path) => {
    const body = method === 'PATCH' ? { disabled: true } : undefined
    expectForbidden(await server.api(method, path, { token: user.access, body }))
  })

  it('cannot grant itself the admin role', async () => {
    const res = await server.api('PATCH', `/users/${user.userId}`, {
      token: user.access,
      body: { roles: ['admin'] },
    })
    expectForbidden(res)
    const fresh = await server.login(username)
    expect(claimsOf(fresh.access).roles).toEqual([])
  })

  it.each([
    ['GET', '/users'],
    ['GET', '/admin'],
  ] as const)('%s %s answers 401 without a token', async (method, path) => {
    expectUnauthorized(await server.api(method, path), 'token_missing')
  })
})

describe('GET /admin', () => {
  it('welcomes the admin', async () => {
    const res = await server.api('GET', '/admin', { token: admin.access })
    expect(res.status, res.text).toBe(200)
    expect(res.body.message).toBe('Welcome to the admin panel')
  })
})

describe('GET /users', () => {
  const extra = [uniqueName('page'), uniqueName('page'), uniqueName('page')]

  beforeAll(async () => {
    for (const name of extra) await server.register(name)
  })

  it('lists users with total, page and per_page, and no password hash anywhere', async () => {
    const res = await server.api('GET', '/users', { token: admin.access })
    expect(res.status, res.text).toBe(200)
    expect(res.body.page).toBe(1)
    expect(res.body.per_page).toBe(50)
    const users = res.body.users ?? []
    expect(res.body.total).toBe(users.length)
    const names = users.map((u) => u.username)
    for (const name of [ADMIN, username, ...extra]) expect(names).toContain(name)
    for (const u of users) expectUserShape(u)
    expectNoHash(res)
  })

  it('paginates with page and per_page without overlap', async () => {
    const all = await server.api('GET', '/users?page=1&per_page=100', { token: admin.access })
    const total = all.body.total ?? 0
    expect(total).toBeGreaterThanOrEqual(5)

    const first = await server.api('GET', '/users?page=1&per_page=2', { token: admin.access })
    const second = await server.api('GET', '/users?page=2&per_page=2', { token: admin.access })
    for (const res of [first, second]) {
      expect(res.status, res.text).toBe(200)
      expect(res.body.users).toHaveLength(2)
      expect(res.body.total).toBe(total)
      expect(res.body.per_page).toBe(2)
      expectNoHash(res)
    }
    expect(first.body.page).toBe(1)
    expect(second.body.page).toBe(2)
    const ids = [...(first.body.users ?? []), ...(second.body.users ?? [])].map((u) => u.id)
    expect(new Set(ids).size).toBe(4)

    const beyond = await server.api('GET', `/users?page=${total + 1}&per_page=2`, { token: admin.access })
    expect(beyond.status).toBe(200)
    expect(beyond.body.users).toEqual([])
  })

  it.each(['page=0', 'page=-1', 'per_page=0', 'per_page=100000', 'page=abc', 'per_page=1e3'])(
    'answers the pagination %s with 200 or 400, never a 5xx',
    async (query) => {
      const res = await server.api('GET', `/users?${query}`, { token: admin.access })
      expect([200, 400]).toContain(res.status)
      if (res.status === 400) expect(res.body.error).toBe('validation_error')
    },
  )
})

describe('GET /users/:id', () => {
  it('answers 200 with the user and no hash', async () => {
    const res = await server.api('GET', `/users/${user.userId}`, { token: admin.access })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ id: user.userId, username, roles: [], disabled: false })
    expectUserShape(res.body as UserBody)
    expectNoHash(res)
  })

  it('answers an unknown id with 404 not_found', async () => {
    expectError(await server.api('GET', '/users/999999', { token: admin.access }), 404, 'not_found')
  })

  it('answers a non-numeric id with 400 or 404', async () => {
    const res = await server.api('GET', "/users/1'%20OR%20'1'='1", { token: admin.access })
    expect([400, 404]).toContain(res.status)
  })
})

describe('PATCH /users/:id', () => {
  it('sets roles: the user gets them with the next login', async () => {
    const name = uniqueName('promoted')
    const target = await server.register(name)
    const res = await server.api('PATCH', `/users/${target.userId}`, {
      token: admin.access,
      body: { roles: ['editor'] },
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ id: target.userId, roles: ['editor'], disabled: false })
    expectNoHash(res)

    const next = await server.login(name)
    expect(claimsOf(next.access).roles).toEqual(['editor'])
    expect((await server.me(next.access)).body.roles).toEqual(['editor'])
  })

  it('makes another admin who can open /admin after logging in again', async () => {
    const name = uniqueName('second-admin')
    const target = await server.register(name)
    expectForbidden(await server.api('GET', '/admin', { token: target.access }))
    const res = await server.api('PATCH', `/users/${target.userId}`, {
      token: admin.access,
      body: { roles: ['admin'] },
    })
    expect(res.status, res.text).toBe(200)
    const next = await server.login(name)
    expect((await server.api('GET', '/admin', { token: next.access })).status).toBe(200)
  })

  it('demotes an admin who logs in again in the same second: the new tokens work, with the new roles', async () => {
    const name = uniqueName('demoted-at-once')
    const target = await server.register(name)
    await server.api('PATCH', `/users/${target.userId}`, { token: admin.access, body: { roles: ['admin'] } })
    const old = await server.login(name)
    expect((await server.api('GET', '/admin', { token: old.access })).status).toBe(200)
    // Early in a second, so the demotion and the next login (one argon2id check) share it: the
    // revocation covers every token issued up to the end of its second.
    while (Date.now() % 1000 > 150) await new Promise((resolve) => setTimeout(resolve, 20))
    const demotedIn = Math.floor(Date.now() / 1000)
    const res = await server.api('PATCH', `/users/${target.userId}`, {
      token: admin.access,
      body: { roles: [] },
    })
    expect(res.status, res.text).toBe(200)
    const next = await server.login(name)
    expect(claimsOf(next.access).roles).toEqual([])
    // Issued after the revocation's second (the login waited for it), so not refused on arrival.
    expect(claimsOf(next.access).iat).toBeGreaterThan(demotedIn)
    expect((await server.api('GET', '/protected', { token: next.access })).status).toBe(200)
    expectForbidden(await server.api('GET', '/admin', { token: next.access }))
    expect((await server.refresh(next.refresh)).status).toBe(200)
    expectUnauthorized(await server.api('GET', '/admin', { token: old.access }), 'token_revoked')
  })

  // The login reads the user, then checks the password for tens of milliseconds: an admin's change
  // committed in between must reach the tokens it issues (the stub runs the change right after the read).
  it.each([
    ['a demotion: the tokens carry the new roles', { roles: [] }, 200],
    ['a disabling: 403 account_disabled', { disabled: true }, 403],
  ] as const)('applies %s, made during the login’s password check', async (_label, patch, status) => {
    const name = uniqueName('changed-mid-login')
    const target = await server.register(name)
    await server.api('PATCH', `/users/${target.userId}`, { token: admin.access, body: { roles: ['admin'] } })
    const { users } = server.running.context.stores
    const read = users.getByUsername.bind(users)
    const stub = vi.spyOn(users, 'getByUsername').mockImplementationOnce(async (normalized) => {
      const found = await read(normalized)
      const res = await server.api('PATCH', `/users/${target.userId}`, { token: admin.access, body: patch })
      expect(res.status, res.text).toBe(200)
      return found
    })
    try {
      const res = await server.api('POST', '/auth/login', { body: { username: name, password: PASSWORD } })
      expect(stub).toHaveBeenCalledOnce()
      if (status === 403) {
        expectError(res, 403, 'account_disabled')
        return
      }
      expect(res.status, res.text).toBe(200)
      const access = String(res.body.access_token)
      expect(claimsOf(access).roles).toEqual([])
      expectForbidden(await server.api('GET', '/admin', { token: access }))
      expect((await server.api('GET', '/protected', { token: access })).status).toBe(200)
    } finally {
      stub.mockRestore()
    }
  })

  it('refuses a login whose password was changed during its password check: 401, the new password works', async () => {
    const name = uniqueName('changed-password-mid-login')
    const target = await server.register(name)
    const { users } = server.running.context.stores
    const read = users.getByUsername.bind(users)
    const stub = vi.spyOn(users, 'getByUsername').mockImplementationOnce(async (normalized) => {
      const found = await read(normalized)
      const res = await server.api('POST', '/auth/password', {
        token: target.access,
        body: { current_password: PASSWORD, new_password: 'the passphrase after the change' },
      })
      expect(res.status, res.text).toBe(204)
      return found
    })
    try {
      const res = await server.api('POST', '/auth/login', { body: { username: name, password: PASSWORD } })
      expect(stub).toHaveBeenCalledOnce()
      expectError(res, 401, 'invalid_credentials')
    } finally {
      stub.mockRestore()
    }
    expect((await server.login(name, 'the passphrase after the change')).userId).toBe(target.userId)
  })

  it("disables a user: the user's existing tokens stop working at once and the login answers 403", async () => {
    const name = uniqueName('disabled')
    const target = await server.register(name)
    const second = await server.login(name)
    const res = await server.api('PATCH', `/users/${target.userId}`, {
      token: admin.access,
      body: { disabled: true },
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ id: target.userId, disabled: true })

    for (const session of [target, second]) {
      expectUnauthorized(await server.me(session.access))
      expectUnauthorized(await server.api('GET', '/protected', { token: session.access }))
      expectUnauthorized(await server.refresh(session.refresh))
    }
    const login = await server.api('POST', '/auth/login', { body: { username: name, password: PASSWORD } })
    expectError(login, 403, 'account_disabled')

    const listed = await server.api('GET', `/users/${target.userId}`, { token: admin.access })
    expect(listed.body.disabled).toBe(true)
  })

  it.each([
    ['a password', { password: 'hijacked password' }],
    ['a username', { username: 'renamed' }],
    ['roles as a string', { roles: 'admin' }],
    ['roles with a non-string', { roles: [1] }],
    ['disabled as a string', { disabled: 'yes' }],
  ])('refuses %s with 400 validation_error and changes nothing', async (_label, body) => {
    const res = await server.api('PATCH', `/users/${user.userId}`, { token: admin.access, body })
    expectError(res, 400, 'validation_error')
    const after = await server.api('GET', `/users/${user.userId}`, { token: admin.access })
    expect(after.body).toMatchObject({ username, roles: [], disabled: false })
  })

  it('still lets the user log in with the original password after the refused patches', async () => {
    for (const body of [{ password: 'hijacked password' }, { username: 'renamed' }]) {
      const res = await server.api('PATCH', `/users/${user.userId}`, { token: admin.access, body })
      expectError(res, 400, 'validation_error')
    }
    await server.login(username)
    const hijacked = await server.api('POST', '/auth/login', {
      body: { username, password: 'hijacked password' },
    })
    expectError(hijacked, 401, 'invalid_credentials')
  })

  it('answers an unknown id with 404 not_found', async () => {
    const res = await server.api('PATCH', '/users/999999', { token: admin.access, body: { disabled: true } })
    expectError(res, 404, 'not_found')
  })
})

describe('DELETE /users/:id', () => {
  it("deletes the user with 204 and refuses that user's tokens at once", async () => {
    const name = uniqueName('doomed')
    const target = await server.register(name)
    const second = await server.login(name)
    expect((await server.me(target.access)).status).toBe(200)

    const res = await server.api('DELETE', `/users/${target.userId}`, { token: admin.access })
    expect(res.status, res.text).toBe(204)

    for (const session of [target, second]) {
      expectUnauthorized(await server.me(session.access))
      expectUnauthorized(await server.api('GET', '/secret', { token: session.access }))
      expectUnauthorized(await server.refresh(session.refresh))
    }
    expectError(await server.api('GET', `/users/${target.userId}`, { token: admin.access }), 404, 'not_found')
    const login = await server.api('POST', '/auth/login', { body: { username: name, password: PASSWORD } })
    expectError(login, 401, 'invalid_credentials')
  })

  it('does not give a deleted user id (its tokens carry it as sub) to the next account', async () => {
    const doomed = await server.register(uniqueName('gone'))
    expect((await server.api('DELETE', `/users/${doomed.userId}`, { token: admin.access })).status).toBe(204)
    const next = await server.register(uniqueName('next'))
    expect(next.userId).not.toBe(doomed.userId)
    expectUnauthorized(await server.me(doomed.access))
  })

  it('answers a second delete with 404 not_found', async () => {
    const target = await server.register(uniqueName('twice'))
    expect((await server.api('DELETE', `/users/${target.userId}`, { token: admin.access })).status).toBe(204)
    const again = await server.api('DELETE', `/users/${target.userId}`, { token: admin.access })
    expectError(again, 404, 'not_found')
  })

  it('leaves the other users alone', async () => {
    const target = await server.register(uniqueName('removed'))
    expect((await server.api('DELETE', `/users/${target.userId}`, { token: admin.access })).status).toBe(204)
    expect((await server.me(user.access)).status).toBe(200)
    expect((await server.me(admin.access)).status).toBe(200)
  })
})

function expectUserShape(u: UserBody): void {
  for (const field of USER_FIELDS) expect(u, field).toHaveProperty(field)
  for (const key of Object.keys(u)) expect(key).not.toMatch(/pass|hash|salt/i)
  expect(Array.isArray(u.roles)).toBe(true)
  expect(typeof u.disabled).toBe('boolean')
}

describe('the last enabled admin', () => {
  const alone = useServer()

  it('cannot be demoted, disabled or deleted through the API: 409 last_admin, nothing changed', async () => {
    await alone.createUserWithCli('solo', ADMIN_PASSWORD)
    const solo = await alone.login('solo', ADMIN_PASSWORD)
    const self = `/users/${solo.userId}`
    for (const [method, body] of [
      ['PATCH', { roles: [] }],
      ['PATCH', { roles: ['editor'] }],
      ['PATCH', { disabled: true }],
      ['DELETE', undefined],
    ] as const) {
      const res = await alone.api(method, self, {
        token: solo.access,
        ...(body === undefined ? {} : { body }),
      })
      expectError(res, 409, 'last_admin')
    }
    // Rolled back: the same token still opens /admin, and the user is as it was.
    expect((await alone.api('GET', '/admin', { token: solo.access })).status).toBe(200)
    const stored = await alone.api('GET', self, { token: solo.access })
    expect(stored.body).toMatchObject({ roles: ['admin'], disabled: false })
  })

  it('can be once another enabled admin exists, who then is the last', async () => {
    const solo = await alone.login('solo', ADMIN_PASSWORD)
    const next = await alone.register(uniqueName('successor'))
    // A disabled admin does not count.
    const promoted = await alone.api('PATCH', `/users/${next.userId}`, {
      token: solo.access,
      body: { roles: ['admin'], disabled: true },
    })
    expect(promoted.status, promoted.text).toBe(200)
    expectError(
      await alone.api('PATCH', `/users/${solo.userId}`, { token: solo.access, body: { roles: [] } }),
      409,
      'last_admin',
    )
    expect(
      (await alone.api('PATCH', `/users/${next.userId}`, { token: solo.access, body: { disabled: false } }))
        .status,
    ).toBe(200)
    const demoted = await alone.api('PATCH', `/users/${solo.userId}`, {
      token: solo.access,
      body: { roles: [] },
    })
    expect(demoted.status, demoted.text).toBe(200)
    const successor = await alone.login(next.body.user?.username ?? '')
    expectError(
      await alone.api('DELETE', `/users/${next.userId}`, { token: successor.access }),
      409,
      'last_admin',
    )
    // Demoting or deleting a user who is no admin is not concerned.
    expect((await alone.api('DELETE', `/users/${solo.userId}`, { token: successor.access })).status).toBe(204)
  })
})
