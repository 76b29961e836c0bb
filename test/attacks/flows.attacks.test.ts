// Flow attacks over HTTP (issue 8, "Flows"): token type confusion, refresh replay, reuse after logout,
// password change or deletion, mass assignment of a role, privilege escalation on admin routes, hash
// leaks. Sources: RFC 8725 §3.11 (explicit typing), OAuth 2.0 Security BCP §4.14 (refresh token
// rotation and reuse detection), OWASP ASVS V3 (session termination), OWASP API3 (mass assignment).
import { beforeAll, describe, expect, it } from 'vitest'
import {
  claimsOf,
  expectError,
  expectUnauthorized,
  PASSWORD,
  tokensOf,
  uniqueName,
  useServer,
  type ApiResponse,
  type Tokens,
} from '../helpers/server-harness.js'
import { expectRefused, partsOf } from './tools.js'

// Grace 0: a spent refresh token presented again is theft at once (the 10 s default is for two tabs).
const server = useServer({ refreshGraceSeconds: 0 })
const ADMIN = uniqueName('flow-admin')
const ADMIN_PASSWORD = 'admin password for the flow attacks'
let admin: Tokens

beforeAll(async () => {
  await server.createUserWithCli(ADMIN, ADMIN_PASSWORD, true)
  admin = await server.login(ADMIN, ADMIN_PASSWORD)
})

/** Every protected read a stolen token could be used for. */
async function expectDead(access: string, refresh?: string): Promise<void> {
  for (const path of ['/protected', '/auth/me', '/auth/sessions', '/secret']) {
    const res = await server.api('GET', path, { token: access })
    expectUnauthorized(res)
    expectRefused(res)
  }
  if (refresh !== undefined) {
    const res = await server.refresh(refresh)
    expectUnauthorized(res)
    expectRefused(res)
  }
}

describe('token type confusion', () => {
  let user: Tokens
  beforeAll(async () => {
    user = await server.register(uniqueName('flow-types'))
  })

  it.each([
    ['GET', '/protected'],
    ['GET', '/auth/me'],
    ['GET', '/secret'],
    ['GET', '/auth/sessions'],
    ['POST', '/auth/logout'],
    ['POST', '/auth/logout-all'],
    ['POST', '/logout/access'],
  ] as const)(
    'refuses a refresh token used as an access token on %s %s with 401 token_wrong_type',
    async (method, path) => {
      const res = await server.api(method, path, { token: user.refresh })
      expectUnauthorized(res, 'token_wrong_type')
      expectRefused(res)
    },
  )

  it.each([
    ['POST', '/auth/refresh', 'header'],
    ['POST', '/token/refresh', 'header'],
    ['POST', '/logout/refresh', 'header'],
    ['POST', '/auth/refresh', 'body'],
  ] as const)(
    'refuses an access token used as a refresh token on %s %s (%s) with 401 token_wrong_type',
    async (method, path, where) => {
      const res =
        where === 'header'
          ? await server.api(method, path, { token: user.access })
          : await server.api(method, path, { body: { refresh_token: user.access } })
      expectUnauthorized(res, 'token_wrong_type')
      expectRefused(res)
    },
  )

  it('changed nothing: both tokens still work for their own purpose', async () => {
    for (const path of ['/auth/logout', '/auth/logout-all', '/logout/access'])
      expectUnauthorized(await server.api('POST', path, { token: user.refresh }), 'token_wrong_type')
    for (const path of ['/auth/refresh', '/logout/refresh'])
      expectUnauthorized(await server.api('POST', path, { token: user.access }), 'token_wrong_type')
    expect((await server.me(user.access)).status).toBe(200)
    const res = await server.refresh(user.refresh)
    expect(res.status, res.text).toBe(200)
  })
})

describe('refresh token replay after rotation', () => {
  it('answers the replay with 401 refresh_token_reused and revokes the whole family', async () => {
    const user = await server.register(uniqueName('flow-replay'))
    const first = await server.refresh(user.refresh)
    expect(first.status, first.text).toBe(200)
    const successor = tokensOf(first)
    // The thief replays the spent token.
    const replay = await server.refresh(user.refresh)
    expectError(replay, 401, 'refresh_token_reused')
    expectRefused(replay)
    // Every token of the session is dead: the successor pair, and the original access token.
    await expectDead(successor.access, successor.refresh)
    await expectDead(user.access)
    // The replay does not touch the user's other sessions.
    const other = await server.login(String(claimsOf(user.access).username))
    expect((await server.me(other.access)).status).toBe(200)
  })

  it('refuses a replay of the successor after it was itself rotated, and kills the newest pair', async () => {
    const user = await server.register(uniqueName('flow-replay2'))
    const second = tokensOf(await server.refresh(user.refresh))
    const third = tokensOf(await server.refresh(second.refresh))
    expectError(await server.refresh(second.refresh), 401, 'refresh_token_reused')
    await expectDead(third.access, third.refresh)
  })
})

describe('reuse after the end of a session', () => {
  it('refuses the access and refresh tokens after POST /auth/logout', async () => {
    const user = await server.register(uniqueName('flow-logout'))
    expect((await server.api('POST', '/auth/logout', { token: user.access })).status).toBe(204)
    await expectDead(user.access, user.refresh)
  })

  // Logging out is idempotent (RFC 7009 §2.2): the dead token's second logout is a success that
  // changes nothing — no second event, the tokens stay dead — while a forged or expired token is
  // still refused there.
  it('answers a second logout with the dead token as a success and changes nothing', async () => {
    const user = await server.register(uniqueName('flow-logout-twice'))
    const logouts = async (): Promise<number> => {
      const query = `/audit?user=${String(user.userId)}&type=logout`
      const res = await server.api('GET', query, { token: admin.access })
      expect(res.status, res.text).toBe(200)
      return (res.body.events as unknown[]).length
    }
    expect((await server.api('POST', '/auth/logout', { token: user.access })).status).toBe(204)
    expect(await logouts()).toBe(1)
    for (const [path, token, status] of [
      ['/auth/logout', user.access, 204],
      ['/logout/access', user.access, 200],
      ['/logout/refresh', user.refresh, 200],
    ] as const) {
      const res = await server.api('POST', path, { token })
      expect(res.status, `${path}: ${res.text}`).toBe(status)
    }
    expect(await logouts()).toBe(1)
    await expectDead(user.access, user.refresh)
    expectUnauthorized(await server.api('POST', '/auth/logout', { token: user.refresh }), 'token_wrong_type')
    expectUnauthorized(
      await server.api('POST', '/logout/refresh', { token: user.access }),
      'token_wrong_type',
    )
    const { segments } = partsOf(user.access)
    const forged = `${segments[0]}.${segments[1]}.${'A'.repeat(segments[2].length)}`
    expectUnauthorized(await server.api('POST', '/auth/logout', { token: forged }), 'token_invalid_signature')
  })

  it('refuses every token of the session after POST /logout/refresh', async () => {
    const user = await server.register(uniqueName('flow-logout-refresh'))
    expect((await server.api('POST', '/logout/refresh', { token: user.refresh })).status).toBeLessThan(300)
    await expectDead(user.access, user.refresh)
  })

  it('refuses the tokens of every other session after a password change', async () => {
    const name = uniqueName('flow-password')
    const phone = await server.register(name)
    const laptop = await server.login(name)
    const res = await server.api('POST', '/auth/password', {
      token: laptop.access,
      body: { current_password: PASSWORD, new_password: 'a brand new password 2026' },
    })
    expect(res.status, res.text).toBe(204)
    // The stolen phone tokens are dead, and the old password no longer logs in.
    await expectDead(phone.access, phone.refresh)
    const old = await server.api('POST', '/auth/login', { body: { username: name, password: PASSWORD } })
    expectError(old, 401, 'invalid_credentials')
    expect(old.body.access_token).toBeUndefined()
  })

  it('refuses every token of a deleted user at once, including a refresh', async () => {
    const user = await server.register(uniqueName('flow-deleted'))
    const res = await server.api('DELETE', `/users/${String(user.userId)}`, { token: admin.access })
    expect(res.status, res.text).toBe(204)
    await expectDead(user.access, user.refresh)
  })

  it('refuses every token of a disabled user at once, including a refresh', async () => {
    const user = await server.register(uniqueName('flow-disabled'))
    const res = await server.api('PATCH', `/users/${String(user.userId)}`, {
      token: admin.access,
      body: { disabled: true },
    })
    expect(res.status, res.text).toBe(200)
    await expectDead(user.access, user.refresh)
  })

  it('refuses the tokens of a session ended from another device (DELETE /auth/sessions/:id)', async () => {
    const name = uniqueName('flow-session')
    const stolen = await server.register(name)
    const mine = await server.login(name)
    const res = await server.api('DELETE', `/auth/sessions/${stolen.sessionId}`, { token: mine.access })
    expect(res.status).toBe(204)
    await expectDead(stolen.access, stolen.refresh)
  })

  it("refuses to end another user's session (404) and that session lives on", async () => {
    const victim = await server.register(uniqueName('flow-victim'))
    const attacker = await server.register(uniqueName('flow-attacker'))
    const res = await server.api('DELETE', `/auth/sessions/${victim.sessionId}`, { token: attacker.access })
    expectError(res, 404, 'not_found')
    expect((await server.me(victim.access)).status).toBe(200)
  })
})

// A thief holding a session's refresh token rotates it at the very moment the owner ends the session:
// whichever request the server finishes first, no token may come out of the race alive (OWASP ASVS
// 5.0 V7.4.1, session termination; OAuth 2.0 Security BCP §4.14).
describe('races against the end of a session', () => {
  async function expectRaceLeavesNothing(refreshing: Promise<ApiResponse>): Promise<void> {
    const res = await refreshing
    if (res.status === 200) {
      const successor = tokensOf(res)
      await expectDead(successor.access, successor.refresh)
    } else {
      expectUnauthorized(res)
    }
  }

  it('leaves no live token when a refresh races POST /auth/logout', async () => {
    for (let round = 0; round < 3; round++) {
      const user = await server.register(uniqueName('flow-race-logout'))
      const [logout, refreshing] = [
        server.api('POST', '/auth/logout', { token: user.access }),
        server.refresh(user.refresh),
      ]
      expect((await logout).status).toBe(204)
      await expectRaceLeavesNothing(refreshing)
      await expectDead(user.access, user.refresh)
    }
  })

  it('leaves no live token when a refresh of another session races POST /auth/logout-all', async () => {
    for (let round = 0; round < 3; round++) {
      const name = uniqueName('flow-race-all')
      const laptop = await server.register(name)
      const phone = await server.login(name)
      const [logout, refreshing] = [
        server.api('POST', '/auth/logout-all', { token: laptop.access }),
        server.refresh(phone.refresh),
      ]
      expect((await logout).status).toBe(204)
      await expectRaceLeavesNothing(refreshing)
      await expectDead(phone.access, phone.refresh)
    }
  })

  it('leaves the other session dead when its refresh races a password change', async () => {
    for (let round = 0; round < 3; round++) {
      const name = uniqueName('flow-race-password')
      const laptop = await server.register(name)
      const phone = await server.login(name)
      const [change, refreshing] = [
        server.api('POST', '/auth/password', {
          token: laptop.access,
          body: {
            current_password: PASSWORD,
            new_password: `a brand new password 2026 round ${String(round)}`,
          },
        }),
        server.refresh(phone.refresh),
      ]
      expect((await change).status).toBe(204)
      await expectRaceLeavesNothing(refreshing)
      await expectDead(phone.access, phone.refresh)
    }
  })
})

// Verb tampering on the server: Fastify answers HEAD through the GET routes' own guards.
describe('HEAD requests', () => {
  it.each(['/protected', '/auth/me', '/auth/sessions', '/admin', '/users', '/audit'])(
    'answers HEAD %s without a token with 401',
    async (path) => {
      expectUnauthorized(await server.api('HEAD', path))
    },
  )

  it('answers HEAD /admin and /users with a user token with 403', async () => {
    const user = await server.register(uniqueName('flow-head'))
    for (const path of ['/admin', '/users']) {
      expect((await server.api('HEAD', path, { token: user.access })).status).toBe(403)
    }
  })
})

describe('injection in path parameters', () => {
  it.each(["1' OR '1'='1", '1 OR 1=1', '-1', '0x1', '1e3', '1;DROP TABLE users', '../1', '%00'])(
    'answers the admin GET /users/%s with 400 or 404 and no user data',
    async (id) => {
      const res = await server.api('GET', `/users/${encodeURIComponent(id)}`, { token: admin.access })
      expectRefused(res, [400, 404])
      expect(res.body.id).toBeUndefined()
    },
  )

  it.each([
    ["' OR '1'='1", "' OR '1'='1"],
    ['%', '%'],
    ['*', '*'],
    ['a 129-character id', 'x'.repeat(129)],
  ])(
    'answers DELETE /auth/sessions/ with %s with 400, 404 or 414 and ends no session',
    async (_label, id) => {
      const user = await server.register(uniqueName('flow-sessions-inj'))
      const res = await server.api('DELETE', `/auth/sessions/${encodeURIComponent(id)}`, {
        token: user.access,
      })
      expect([400, 404, 414]).toContain(res.status)
      expect((await server.me(user.access)).status).toBe(200)
      expect((await server.me(admin.access)).status).toBe(200)
    },
  )
})

describe('role escalation by registration (mass assignment)', () => {
  it.each([
    ['role', { role: 'admin' }],
    ['roles', { roles: ['admin'] }],
    ['is_admin', { is_admin: true }],
    ['admin', { admin: true }],
    ['id', { id: 1 }],
    ['disabled', { disabled: false }],
  ])('refuses a register body with %s with 400 and creates nothing', async (_field, extra) => {
    const username = uniqueName('flow-escalate')
    const res = await server.api('POST', '/auth/register', {
      body: { username, password: PASSWORD, ...extra },
    })
    expectError(res, 400, 'validation_error')
    expectRefused(res, [400])
    const login = await server.api('POST', '/auth/login', { body: { username, password: PASSWORD } })
    expectError(login, 401, 'invalid_credentials')
  })

  it.each([
    [
      '__proto__',
      (u: string) => `{"username":"${u}","password":"${PASSWORD}","__proto__":{"roles":["admin"]}}`,
    ],
    [
      'constructor',
      (u: string) =>
        `{"username":"${u}","password":"${PASSWORD}","constructor":{"prototype":{"roles":["admin"]}}}`,
    ],
  ])('refuses a %s pollution body and no later account is an admin', async (_label, body) => {
    const res = await server.api('POST', '/auth/register', { raw: body(uniqueName('flow-proto')) })
    expectRefused(res, [400])
    const later = await server.register(uniqueName('flow-after-proto'))
    expect(claimsOf(later.access).roles).toEqual([])
    expectError(await server.api('GET', '/admin', { token: later.access }), 403, 'forbidden')
  })
})

describe('admin routes with a user token', () => {
  let user: Tokens
  beforeAll(async () => {
    user = await server.register(uniqueName('flow-user'))
  })

  it.each([
    ['GET', '/admin', undefined],
    ['GET', '/users', undefined],
    ['GET', '/users?page=1&per_page=200', undefined],
    ['GET', '/users/1', undefined],
    ['PATCH', '/users/self', { roles: ['admin'] }],
    ['PATCH', '/users/1', { disabled: true }],
    ['DELETE', '/users/1', undefined],
  ] as const)('answers %s %s with 403 forbidden', async (method, rawPath, body) => {
    const path = rawPath.replace('self', String(user.userId))
    const res = await server.api(method, path, {
      token: user.access,
      ...(body === undefined ? {} : { body }),
    })
    expectError(res, 403, 'forbidden')
    expectRefused(res, [403])
    expect(res.headers.get('www-authenticate') ?? '').toMatch(/insufficient_scope/)
  })

  it('changed nothing: the user is still not an admin, the admin is still enabled and still an admin', async () => {
    const attempts = [
      ['PATCH', `/users/${user.userId}`, { roles: ['admin'] }],
      ['PATCH', `/users/${admin.userId}`, { disabled: true }],
      ['PATCH', `/users/${admin.userId}`, { roles: [] }],
      ['DELETE', `/users/${admin.userId}`, undefined],
    ] as const
    for (const [method, path, body] of attempts) {
      const res = await server.api(method, path, {
        token: user.access,
        ...(body === undefined ? {} : { body }),
      })
      expectError(res, 403, 'forbidden')
    }
    const me = await server.me(user.access)
    expect(me.body.roles).toEqual([])
    const relogin = await server.login(String(claimsOf(user.access).username))
    expect(claimsOf(relogin.access).roles).toEqual([])
    const adminMe = await server.me(admin.access)
    expect(adminMe.status).toBe(200)
    expect(adminMe.body.roles).toEqual(['admin'])
  })

  it('refuses a user token whose roles were edited by hand (signature) on every admin route', async () => {
    const [h, p, s] = user.access.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
    const edited = `${h}.${Buffer.from(JSON.stringify({ ...claims, roles: ['admin'] })).toString('base64url')}.${s}`
    for (const path of ['/admin', '/users'])
      expectUnauthorized(await server.api('GET', path, { token: edited }))
  })
})

// A session's revocation entry lasts only as long as its access tokens (2 s here); its refresh token
// lives on, refused by the sessions table. Presented at a logout after that, it must still change
// nothing: no revocation written, no event (one per request would be free writes for its holder).
describe('a logout with a refresh token whose session ended longer ago than the access lifetime', () => {
  const short = useServer({ accessTokenTtl: 2 })

  it('is a success that writes nothing, for a logged-out user and for a deleted one', async () => {
    await short.createUserWithCli(ADMIN, ADMIN_PASSWORD, true)
    // Access tokens live 2 s: the admin's is fetched right before each use (a loaded machine is slow).
    const boss = async (): Promise<string> => (await short.login(ADMIN, ADMIN_PASSWORD)).access
    const user = await short.register(uniqueName('flow-late-logout'))
    const gone = await short.register(uniqueName('flow-late-deleted'))
    expect((await short.api('POST', '/logout/refresh', { token: user.refresh })).status).toBe(200)
    const deleted = await short.api('DELETE', `/users/${String(gone.userId)}`, { token: await boss() })
    expect(deleted.status, deleted.text).toBe(204)
    const events = async (id: number): Promise<unknown[]> => {
      const res = await short.api('GET', `/audit?user=${String(id)}`, { token: await boss() })
      expect(res.status, res.text).toBe(200)
      return res.body.events as unknown[]
    }
    /** Revocations this instance has published, every grain (tessera_revocations_total). */
    const revocationCount = async (): Promise<number> => {
      const text = (await short.api('GET', '/metrics')).text
      return [...text.matchAll(/^tessera_revocations_total\{[^}]*\} (\d+)$/gm)]
        .map((m) => Number(m[1]))
        .reduce((a, b) => a + b, 0)
    }
    const before = [await events(user.userId), await events(gone.userId)]
    const revoked = await revocationCount()
    expect(revoked).toBeGreaterThan(0)
    // Past every entry's expiry: the session's (logout + 2 s) and the user's (deletion + 1 s + 2 s).
    await new Promise((resolve) => setTimeout(resolve, 4_000))
    // The access token has expired meanwhile: refused at logout like anywhere else.
    expectUnauthorized(await short.api('POST', '/auth/logout', { token: user.access }), 'token_expired')
    for (let i = 0; i < 3; i++) {
      for (const refresh of [user.refresh, gone.refresh]) {
        const res = await short.api('POST', '/logout/refresh', { token: refresh })
        expect(res.status, res.text).toBe(200)
      }
    }
    expect([await events(user.userId), await events(gone.userId)]).toEqual(before)
    expect(await revocationCount()).toBe(revoked)
    expectUnauthorized(await short.refresh(user.refresh))
    expectUnauthorized(await short.refresh(gone.refresh))
  }, 30_000)
})

// A token carries its roles: demoting a user from the CLI (the only tool besides the API) must revoke
// them on the running server too, as PATCH /users/:id does — here without Redis, so the server learns
// of the CLI's write by reading the revocations table again (every key refresh interval, 1 s here).
describe('demotion from the CLI while the server runs', () => {
  const live = useServer({ keyRefreshInterval: 1 })

  it('refuses the demoted admin’s tokens within the key refresh interval; promotion revokes nothing', async () => {
    const name = uniqueName('cli-demoted')
    await live.createUserWithCli(name, ADMIN_PASSWORD, true)
    const before = await live.login(name, ADMIN_PASSWORD)
    expect((await live.api('GET', '/admin', { token: before.access })).status).toBe(200)

    const promoted = await live.cli(['users', 'set-roles', name, 'admin,auditor'])
    expect(promoted.code, promoted.output).toBe(0)
    expect(promoted.output).toMatch(/granted roles reach their tokens at the next refresh/)
    expect((await live.api('GET', '/admin', { token: before.access })).status).toBe(200)

    const demoted = await live.cli(['users', 'set-roles', name, '', '--yes'])
    expect(demoted.code, demoted.output).toBe(0)
    expect(demoted.output).toMatch(/every token of the user is revoked \(1 session\(s\) ended\)/)
    expect(demoted.output).toMatch(/without Redis apply it within TESSERA_KEY_REFRESH_INTERVAL/)
    const deadline = Date.now() + 10_000
    let res = await live.api('GET', '/admin', { token: before.access })
    while (res.status === 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      res = await live.api('GET', '/admin', { token: before.access })
    }
    expectUnauthorized(res, 'token_revoked')
    expectUnauthorized(await live.api('GET', '/protected', { token: before.access }), 'token_revoked')
    expectUnauthorized(await live.refresh(before.refresh))
    // A new login at once carries the new roles, and is not caught by the revocation (which covers
    // tokens issued up to the end of the second it was written in: the login waits for the next one).
    const after = await live.login(name, ADMIN_PASSWORD)
    expect(claimsOf(after.access).roles).toEqual([])
    expect((await live.api('GET', '/admin', { token: after.access })).status).toBe(403)
    expect((await live.api('GET', '/protected', { token: after.access })).status).toBe(200)
  }, 60_000)

  it('exits 1 when it was told to announce through a Redis it cannot reach, and keeps the change', async () => {
    const name = uniqueName('cli-no-redis')
    await live.createUserWithCli(name, ADMIN_PASSWORD, true)
    const before = await live.login(name, ADMIN_PASSWORD)
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const run = await live.cli(['users', 'set-roles', name, '', '--yes'], {
      TESSERA_REDIS_URL: 'redis://127.0.0.1:1',
    })
    expect(run.code, run.output).toBe(1)
    expect(run.output).toMatch(/saved, but Redis was not told/)
    expect(run.output).toMatch(/every token of the user is revoked/)
    // Saved: this server (no Redis) reads it from the database.
    const refused = async () => (await live.api('GET', '/admin', { token: before.access })).status === 401
    const deadline = Date.now() + 10_000
    while (!(await refused()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
    expectUnauthorized(await live.api('GET', '/admin', { token: before.access }), 'token_revoked')
  }, 60_000)
})

describe('user data leaks', () => {
  it('lists users without any password hash or credential-like field (the harness checks every body too)', async () => {
    await server.register(uniqueName('flow-leak'))
    const res = await server.api('GET', '/users?per_page=200', { token: admin.access })
    expect(res.status).toBe(200)
    expect(res.text).not.toMatch(/\$argon2|password_?hash|"salt"/i)
    for (const user of res.body.users ?? []) {
      expect(Object.keys(user).sort()).toEqual(['created_at', 'disabled', 'id', 'roles', 'username'])
    }
  })

  it('answers /users/:id, /auth/me, register and login without a hash', async () => {
    const name = uniqueName('flow-leak2')
    const created = await server.register(name)
    const login = await server.login(name)
    for (const res of [
      await server.api('GET', `/users/${String(created.userId)}`, { token: admin.access }),
      await server.me(login.access),
    ]) {
      expect(res.status).toBe(200)
      expect(res.text).not.toMatch(/\$argon2|password_?hash|"salt"/i)
    }
    expect(JSON.stringify(created.body)).not.toMatch(/\$argon2|password_?hash|"salt"/i)
  })
})
