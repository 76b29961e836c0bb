// Moving the Flask tutorial's app to Tessera with the real fixture (../shared/fixtures/flask-jwt-auth):
// its app.db imported with `tessera users import`, its users logging in with their original passwords
// (rehashed to argon2id on that login), its revoked jtis refused, its refresh tokens exchanged once for
// a Tessera session, its access tokens honoured on protected routes until the window closes.
//
// Clock: the server has no injectable clock, so the tokens used must be valid now. The `long-lived`
// variant's tokens (3650 days) are; the `default` variant's access tokens (15 min) are expired, which is
// exactly what the "until their own exp" test needs. No token here is signed by the tests except the
// forgeries of the attack tests.
import { createHmac } from 'node:crypto'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { beforeAll, describe, expect, it } from 'vitest'
import { flaskFixture, type FixtureUser } from '../helpers/flask-fixture.js'
import type { ServerConfig } from '../../packages/server/src/server/config.js'
import { legacyAwareAuth } from '../../packages/server/src/server/legacy.js'
import {
  claimsOf,
  expectError,
  expectUnauthorized,
  tokensOf,
  useServer,
  type E2EServer,
} from '../helpers/server-harness.js'

const fixture = flaskFixture('long-lived')
const old = flaskFixture('default')
const WINDOW_END = Math.floor(Date.now() / 1000) + 30 * 86_400

const importArgs = ['users', 'import', fixture.db, '--legacy-until', String(WINDOW_END), '--progress', 'none']

/**
 * A server for the enclosing file or `describe`, with the fixture imported before its tests. Tests that
 * change what the others rely on (every user rehashed, the window closed) get a server of their own.
 */
function useImportedServer(overrides: Partial<ServerConfig> = {}): E2EServer {
  const imported = useServer({ legacyHsSecret: fixture.secret, legacyUntil: WINDOW_END, ...overrides })
  beforeAll(async () => {
    const { code, output } = await imported.cli(importArgs)
    expect(code, output).toBe(0)
  })
  return imported
}

// No grace window here: a second presentation of an old refresh token is reuse at once. The window's
// answers (two tabs exchanging the same old token) are the business of their own describe below.
const server = useImportedServer({ refreshGraceSeconds: 0 })
const user = (name: string): FixtureUser => {
  const found = fixture.users.find((u) => u.username === name)
  if (found === undefined) throw new Error(`no fixture user ${name}`)
  return found
}

const creds = (name: string): { username: string; password: string } => ({
  username: user(name).username,
  password: user(name).password,
})

function storedHash(username: string, target = server): string | undefined {
  const db = new Database(join(target.dir, 'tessera.db'), { readonly: true })
  try {
    const row = db.prepare('select password_hash from users where username = ?').get(username) as
      { password_hash: string } | undefined
    return row?.password_hash
  } finally {
    db.close()
  }
}

function count(sql: string): number {
  const db = new Database(join(server.dir, 'tessera.db'), { readonly: true })
  try {
    return (db.prepare(sql).get() as { n: number }).n
  } finally {
    db.close()
  }
}

function sign(header: object, payload: object, secret: Buffer | string): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

describe('tessera users import of the fixture', () => {
  it('imported every user but the case-duplicate, and the six revoked jtis', () => {
    expect(count('select count(*) as n from users')).toBe(fixture.users.length - 1)
    expect(count('select count(*) as n from legacy_identities')).toBe(fixture.users.length - 1)
    expect(count("select count(*) as n from revocations where kind = 'token'")).toBe(6)
    expect(storedHash('alice')).toMatch(/^\$pbkdf2-sha256\$29000\$/)
    expect(storedHash('Alice')).toBeUndefined()
  })

  it('a second run imports nothing and lists the duplicate again', async () => {
    const { code, output } = await server.cli(importArgs)
    expect(code, output).toBe(0)
    expect(output).toContain(
      `Imported 0 user(s) of ${fixture.users.length}; ${fixture.users.length - 1} already imported; 1 duplicate(s)`,
    )
    expect(output).toMatch(/id 3 "Alice": its normal form "alice" is already/)
    expect(output).toContain('Revoked tokens: 0 imported')
    expect(count('select count(*) as n from users')).toBe(fixture.users.length - 1)
  })
})

describe('logins with the original passwords', () => {
  describe('on a server of its own (no other test logs its users in first)', () => {
    const fresh = useImportedServer()

    it('every imported fixture user logs in and is rehashed to argon2id on that login', async () => {
      for (const u of fixture.users.filter((x) => x.username !== 'Alice')) {
        expect(storedHash(u.username, fresh), u.username).toMatch(/^\$pbkdf2-sha256\$/)
        const body = { username: u.username, password: u.password }
        const res = await fresh.api('POST', '/login', { body })
        expect(res.status, `${u.username}: ${res.text}`).toBe(200)
        expect(storedHash(u.username, fresh), u.username).toMatch(/^\$argon2id\$/)
      }
    }, 180_000)
  })

  it('the rehashed password keeps working, and a wrong one is refused', async () => {
    // frank's is 6 characters: below the policy for new passwords, kept for this user. The first login
    // rehashes it to argon2id, the second verifies that hash.
    expect((await server.api('POST', '/auth/login', { body: creds('frank') })).status).toBe(200)
    expect(storedHash('frank')).toMatch(/^\$argon2id\$/)
    expect((await server.api('POST', '/auth/login', { body: creds('frank') })).status).toBe(200)
    expectError(
      await server.api('POST', '/auth/login', { body: { username: 'frank', password: 'short2' } }),
      401,
      'invalid_credentials',
    )
  })

  it('lets two logins at once of a user being rehashed both in, and stores one argon2id hash', async () => {
    // Both check the old hash; the first to open its session stores the rehash, and the second finds a
    // new hash: the same password under it, not a password change.
    expect(storedHash('user023')).toMatch(/^\$pbkdf2-sha256\$/)
    const body = creds('user023')
    const both = await Promise.all([
      server.api('POST', '/auth/login', { body }),
      server.api('POST', '/auth/login', { body }),
    ])
    expect(both.map((res) => res.status)).toEqual([200, 200])
    expect(storedHash('user023')).toMatch(/^\$argon2id\$/)
  })

  it('"Alice" was not merged into "alice": her password opens nothing', async () => {
    expectError(await server.api('POST', '/login', { body: creds('Alice') }), 401, 'invalid_credentials')
  })
})

describe('the old app’s refresh tokens (legacy window open)', () => {
  it('a registration refresh token is exchanged for a Tessera session on /token/refresh', async () => {
    const dave = user('dave')
    const res = await server.api('POST', '/token/refresh', { token: dave.refresh_token })
    const exchanged = tokensOf(res)
    expect(res.status, res.text).toBe(200)
    const claims = claimsOf(exchanged.access)
    expect(typeof claims.sid).toBe('string')
    const me = await server.api('GET', '/auth/me', { token: exchanged.access })
    expect(me.status, me.text).toBe(200)
    expect(me.body).toMatchObject({ username: 'dave' })
  })

  it('a second presentation is reuse: refused, and the session it made is revoked', async () => {
    const carol = user('carol')
    const first = await server.api('POST', '/token/refresh', { token: carol.refresh_token })
    expect(first.status, first.text).toBe(200)
    const exchanged = tokensOf(first)
    const again = await server.api('POST', '/token/refresh', { token: carol.refresh_token })
    expectUnauthorized(again, 'refresh_token_reused')
    expectUnauthorized(await server.api('POST', '/auth/refresh', { token: exchanged.refresh }))
  })

  it('works on /auth/refresh too, once', async () => {
    const erin = user('erin')
    const first = await server.api('POST', '/auth/refresh', { token: erin.login!.refresh_token })
    expect(first.status, first.text).toBe(200)
    expectUnauthorized(
      await server.api('POST', '/auth/refresh', { token: erin.login!.refresh_token }),
      'refresh_token_reused',
    )
  })

  it('the fixture’s revoked jtis are refused (the first three users logged out of both tokens)', async () => {
    for (const name of ['alice', 'bob', 'Alice']) {
      const login = user(name).login!
      const refresh = await server.api('POST', '/token/refresh', { token: login.refresh_token })
      expectUnauthorized(refresh)
      expect(refresh.body.error, name).toBe(name === 'Alice' ? 'user_not_found' : 'token_revoked')
      const access = await server.api('GET', '/auth/me', { token: login.access_token })
      expectUnauthorized(access)
    }
    // Their registration tokens were not revoked by the old app.
    expect((await server.api('GET', '/auth/me', { token: user('bob').access_token })).status).toBe(200)
  })

  it('a token of the Flask user "Alice" never reaches the imported "alice"', async () => {
    const res = await server.api('GET', '/auth/me', { token: user('Alice').access_token })
    expectUnauthorized(res, 'user_not_found')
    expectUnauthorized(
      await server.api('POST', '/auth/refresh', { token: user('Alice').refresh_token }),
      'user_not_found',
    )
  })
})

describe('a legacy window extended later', () => {
  const extended = useImportedServer()

  it('keeps the old app’s logouts and the ends of users’ old tokens until its new end', async () => {
    const name = 'user015'
    const session = tokensOf(await extended.api('POST', '/auth/login', { body: creds(name) }))
    expect((await extended.api('POST', '/auth/logout-all', { token: session.access })).status).toBe(204)
    const later = WINDOW_END + 10 * 86_400
    extended.overrides.legacyUntil = later
    await extended.restart()
    const again = await extended.cli([
      'users',
      'import',
      fixture.db,
      '--legacy-until',
      String(later),
      '--progress',
      'none',
    ])
    expect(again.code, again.output).toBe(0)
    const db = new Database(join(extended.dir, 'tessera.db'), { readonly: true })
    try {
      const ends = db
        .prepare("select id, expires_at from revocations where kind = 'user' and id like 'legacy:%'")
        .all() as { id: string; expires_at: number }[]
      expect(ends).toEqual([{ id: expect.stringMatching(/^legacy:\d+$/) as string, expires_at: later }])
      const imported = db
        .prepare("select count(*) as n from revocations where kind = 'token' and expires_at = ?")
        .get(later) as { n: number }
      expect(imported.n).toBe(6)
    } finally {
      db.close()
    }
    expectUnauthorized(
      await extended.api('GET', '/secret', { token: user(name).access_token }),
      'token_revoked',
    )
  })
})

describe('an old refresh token presented twice within the grace window (two tabs at the cut-over)', () => {
  const graced = useImportedServer()

  it('both presentations get a pair of the one session, with the same refresh token', async () => {
    const old = user('user013').refresh_token
    const [a, b] = await Promise.all([
      graced.api('POST', '/token/refresh', { token: old }),
      graced.api('POST', '/token/refresh', { token: old }),
    ])
    expect([a.status, b.status], `${a.text} ${b.text}`).toEqual([200, 200])
    const [first, second] = [tokensOf(a), tokensOf(b)]
    expect(claimsOf(second.refresh)).toMatchObject({
      sid: claimsOf(first.refresh).sid,
      jti: claimsOf(first.refresh).jti,
      exp: claimsOf(first.refresh).exp,
    })
    for (const pair of [first, second]) {
      expect((await graced.api('GET', '/auth/me', { token: pair.access })).status).toBe(200)
    }
    // The family goes on: one tab rotates, the other follows within the window.
    const rotated = await graced.api('POST', '/auth/refresh', { token: first.refresh })
    expect(rotated.status, rotated.text).toBe(200)
    expect((await graced.api('POST', '/auth/refresh', { token: second.refresh })).status).toBe(200)
  })

  it('once the session has rotated past its first token, the old one is reuse and ends it', async () => {
    const old = user('user014').refresh_token
    const first = tokensOf(await graced.api('POST', '/token/refresh', { token: old }))
    const next = tokensOf(await graced.api('POST', '/auth/refresh', { token: first.refresh }))
    expectUnauthorized(await graced.api('POST', '/token/refresh', { token: old }), 'refresh_token_reused')
    expectUnauthorized(await graced.api('GET', '/auth/me', { token: next.access }), 'token_revoked')
    const metrics = await graced.api('GET', '/metrics')
    expect(metrics.text).toMatch(/tessera_legacy_tokens_total\{kind="exchange",outcome="grace"\} [1-9]/)
    expect(metrics.text).toMatch(/tessera_legacy_tokens_total\{kind="exchange",outcome="reused"\} [1-9]/)
  })
})

describe('a logout with an old refresh token', () => {
  const graced = useImportedServer()

  function auditOf(name: string): { event: string; detail: Record<string, unknown> }[] {
    const db = new Database(join(graced.dir, 'tessera.db'), { readonly: true })
    try {
      const rows = db
        .prepare(
          'select event, detail from audit_events where user_id = (select id from users where username = ?) order by id',
        )
        .all(name) as { event: string; detail: string | null }[]
      return rows.map((r) => ({
        event: r.event,
        detail: JSON.parse(r.detail ?? '{}') as Record<string, unknown>,
      }))
    } finally {
      db.close()
    }
  }

  it('already exchanged (another tab moved first) ends the session the exchange opened', async () => {
    const name = 'user016'
    const old = user(name).refresh_token
    const tab = tokensOf(await graced.api('POST', '/token/refresh', { token: old }))
    const out = await graced.api('POST', '/logout/refresh', { token: old })
    expect(out.status, out.text).toBe(200)
    expect(out.body).toEqual({ message: 'Refresh token has been revoked' })
    expectUnauthorized(await graced.api('GET', '/auth/me', { token: tab.access }), 'token_revoked')
    expectUnauthorized(await graced.api('POST', '/auth/refresh', { token: tab.refresh }))
    expectUnauthorized(await graced.api('POST', '/token/refresh', { token: old }))
    const logout = auditOf(name).find((e) => e.event === 'logout')
    expect(logout?.detail).toEqual({ session_id: claimsOf(tab.refresh).sid, token: 'refresh', legacy: true })
  })

  it('not exchanged yet: revokes it, ends no other session of the user', async () => {
    const name = 'user017'
    const own = tokensOf(await graced.api('POST', '/auth/login', { body: creds(name) }))
    const old = user(name).refresh_token
    expect((await graced.api('POST', '/logout/refresh', { token: old })).status).toBe(200)
    expectUnauthorized(await graced.api('POST', '/token/refresh', { token: old }), 'token_revoked')
    expect((await graced.api('GET', '/auth/me', { token: own.access })).status).toBe(200)
    expect(auditOf(name).find((e) => e.event === 'logout')?.detail).toEqual({
      session_id: null,
      token: 'refresh',
      legacy: true,
    })
  })

  it('a grace answer and a reuse of an old token are audited as legacy', async () => {
    const name = 'user018'
    const old = user(name).refresh_token
    const first = tokensOf(await graced.api('POST', '/token/refresh', { token: old }))
    expect((await graced.api('POST', '/token/refresh', { token: old })).status).toBe(200)
    expect((await graced.api('POST', '/auth/refresh', { token: first.refresh })).status).toBe(200)
    expectUnauthorized(await graced.api('POST', '/token/refresh', { token: old }), 'refresh_token_reused')
    const events = auditOf(name).filter((e) => e.event !== 'legacy_exchange')
    const sid = claimsOf(first.refresh).sid
    expect(events).toEqual([
      { event: 'refresh', detail: { session_id: sid, outcome: 'grace', legacy: true } },
      { event: 'refresh', detail: { session_id: sid, outcome: 'rotated' } },
      { event: 'refresh_reuse_detected', detail: { session_id: sid, legacy: true } },
    ])
  })
})

describe('the old app’s access tokens on protected routes', () => {
  it('are accepted until their own exp', async () => {
    const me = await server.api('GET', '/auth/me', { token: user('grace').access_token })
    expect(me.status, me.text).toBe(200)
    expect(me.body).toMatchObject({ username: 'grace', session_id: null })
    expect((await server.api('GET', '/secret', { token: user('grace').access_token })).body.answer).toBe(42)
    // The default variant's 15-minute access tokens (same secret, same users) have expired.
    const expired = old.users.find((u) => u.username === 'grace')!.access_token
    expectUnauthorized(await server.api('GET', '/auth/me', { token: expired }), 'token_expired')
  })

  it('reach routes deeply frozen, as the server’s own verified claims and header do', async () => {
    const auth = legacyAwareAuth(server.running.context)
    const { header, claims } = await auth.verify<{ roles: string[] }>(user('grace').access_token)
    expect(claims.legacy).toBe(true)
    expect(Object.isFrozen(claims)).toBe(true)
    expect(Object.isFrozen(claims.roles)).toBe(true)
    expect(Object.isFrozen(header)).toBe(true)
    expect(() => (claims.roles as string[]).push('admin')).toThrow(TypeError)
  })

  it('keep their type: a refresh token is no access token and the reverse', async () => {
    expectUnauthorized(
      await server.api('GET', '/auth/me', { token: user('heidi').refresh_token }),
      'token_wrong_type',
    )
    expectUnauthorized(
      await server.api('POST', '/auth/refresh', { token: user('heidi').access_token }),
      'token_wrong_type',
    )
  })

  it('are never fresh: a password change needs a Tessera login', async () => {
    const res = await server.api('POST', '/auth/password', {
      token: user('judy').access_token,
      body: { current_password: user('judy').password, new_password: 'a brand new password' },
    })
    expectUnauthorized(res, 'fresh_token_required')
  })

  it('a logout with a legacy access token revokes it', async () => {
    const token = user('ivan').access_token
    expect((await server.api('POST', '/logout/access', { token })).status).toBe(200)
    expectUnauthorized(await server.api('GET', '/auth/me', { token }), 'token_revoked')
  })

  it('are counted in the metrics', async () => {
    const mallory = user('mallory')
    expect((await server.api('POST', '/token/refresh', { token: mallory.refresh_token })).status).toBe(200)
    expectUnauthorized(await server.api('POST', '/token/refresh', { token: mallory.refresh_token }))
    expect((await server.api('GET', '/auth/me', { token: user('oscar').access_token })).status).toBe(200)
    const metrics = await server.api('GET', '/metrics')
    expect(metrics.text).toMatch(/tessera_legacy_tokens_total\{kind="exchange",outcome="exchanged"\} [1-9]/)
    expect(metrics.text).toMatch(/tessera_legacy_tokens_total\{kind="exchange",outcome="reused"\} [1-9]/)
    expect(metrics.text).toMatch(/tessera_legacy_tokens_total\{kind="access",outcome="accepted"\} [1-9]/)
  })
})

describe('a logout everywhere or a password change ends the old app’s tokens too', () => {
  async function loginAs(name: string): Promise<{ access: string; refresh: string }> {
    const res = await server.api('POST', '/auth/login', { body: creds(name) })
    expect(res.status, res.text).toBe(200)
    return tokensOf(res)
  }

  it('/auth/logout-all: the user’s old access and refresh tokens are refused, another user’s are not', async () => {
    const victim = user('user010')
    const session = await loginAs('user010')
    // The first login (which rehashes the imported password) ends nothing.
    expect((await server.api('GET', '/secret', { token: victim.access_token })).status).toBe(200)
    expect((await server.api('POST', '/auth/logout-all', { token: session.access })).status).toBe(204)
    expectUnauthorized(await server.api('GET', '/secret', { token: victim.access_token }), 'token_revoked')
    expectUnauthorized(
      await server.api('POST', '/token/refresh', { token: victim.refresh_token }),
      'token_revoked',
    )
    expect((await server.api('GET', '/secret', { token: user('user012').access_token })).status).toBe(200)
    // A new login works at once, and its tokens are not caught by the end of the old ones.
    const again = await loginAs('user010')
    expect((await server.api('GET', '/auth/me', { token: again.access })).status).toBe(200)
  })

  it('/auth/password: the old tokens are refused, the caller’s own session goes on', async () => {
    const victim = user('user011')
    const session = await loginAs('user011')
    const res = await server.api('POST', '/auth/password', {
      token: session.access,
      body: { current_password: victim.password, new_password: 'a brand new password' },
    })
    expect(res.status, res.text).toBe(204)
    expectUnauthorized(await server.api('GET', '/auth/me', { token: victim.access_token }), 'token_revoked')
    const refresh = await server.api('POST', '/auth/refresh', { token: victim.refresh_token })
    expectUnauthorized(refresh, 'token_revoked')
    expect(refresh.body.message).toMatch(/logout everywhere or a password change/)
    expect((await server.api('GET', '/auth/me', { token: session.access })).status).toBe(200)
    expect((await server.api('POST', '/auth/refresh', { token: session.refresh })).status).toBe(200)
  })
})

describe('forgeries (the legacy path never weakens the main one)', () => {
  const flaskClaims = (sub: string, type = 'access'): Record<string, unknown> => {
    const now = Math.floor(Date.now() / 1000)
    return {
      fresh: false,
      iat: now,
      jti: `forged-${now}-${Math.random()}`,
      type,
      sub,
      nbf: now,
      exp: now + 600,
    }
  }

  it('an HS256 token keyed with the server’s public key is refused, with or without its kid', async () => {
    const jwks = (await server.api('GET', '/.well-known/jwks.json')).body as unknown as {
      keys: { kid: string; x?: string }[]
    }
    const key = jwks.keys[0]!
    const secrets = [Buffer.from(key.x ?? '', 'base64url'), JSON.stringify(key), key.x ?? '']
    for (const secret of secrets) {
      for (const header of [
        { alg: 'HS256', typ: 'JWT' },
        { alg: 'HS256', kid: key.kid, typ: 'at+jwt' },
      ]) {
        const claims = { ...flaskClaims('dave'), sub: '1' }
        const res = await server.api('GET', '/auth/me', { token: sign(header, claims, secret) })
        expectUnauthorized(res)
        const asFlask = await server.api('GET', '/auth/me', {
          token: sign(header, flaskClaims('dave'), secret),
        })
        expectUnauthorized(asFlask)
      }
    }
  })

  it('the legacy secret signs nothing with a kid, another alg, or a wrong secret', async () => {
    const claims = flaskClaims('dave')
    const attempts = [
      sign({ alg: 'HS256', typ: 'JWT', kid: 'legacy' }, claims, fixture.secret),
      sign({ alg: 'HS256', typ: 'JWT', jku: 'https://evil.example/jwks' }, claims, fixture.secret),
      sign({ alg: 'HS256', typ: 'JWT' }, claims, 'not-the-secret'),
      `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`,
    ]
    for (const token of attempts) expectUnauthorized(await server.api('GET', '/auth/me', { token }))
    // The control: the same claims signed as the old app did are accepted.
    const genuine = sign({ alg: 'HS256', typ: 'JWT' }, claims, fixture.secret)
    expect((await server.api('GET', '/auth/me', { token: genuine })).status).toBe(200)
  })

  it('headers the legacy path refused are remembered without changing any answer, past the bound too', async () => {
    const claims = flaskClaims('dave')
    const withKid = sign({ alg: 'HS256', typ: 'JWT', kid: 'legacy' }, claims, fixture.secret)
    // The second time, the header is one the legacy path already judged.
    for (let i = 0; i < 2; i++) expectUnauthorized(await server.api('GET', '/auth/me', { token: withKid }))
    // More distinct refused headers than are remembered (1,024): the set starts over.
    for (let i = 0; i < 1100; i++) {
      const token = sign({ alg: 'HS256', typ: 'JWT', kid: `k${i}` }, claims, fixture.secret)
      expectUnauthorized(await server.api('GET', '/auth/me', { token }))
    }
    expectUnauthorized(await server.api('GET', '/auth/me', { token: withKid }))
    // A genuine token's header is never remembered as refused: before and after, it is accepted.
    const genuine = sign({ alg: 'HS256', typ: 'JWT' }, claims, fixture.secret)
    for (let i = 0; i < 2; i++)
      expect((await server.api('GET', '/auth/me', { token: genuine })).status).toBe(200)
  })

  it('flask-jwt-extended 3.x’s "identity" claim is read; nbf and exp are enforced', async () => {
    const { sub, ...rest } = flaskClaims('dave')
    const v3 = sign({ alg: 'HS256', typ: 'JWT' }, { ...rest, identity: sub }, fixture.secret)
    const me = await server.api('GET', '/auth/me', { token: v3 })
    expect(me.status, me.text).toBe(200)
    expect(me.body).toMatchObject({ username: 'dave' })
    const now = Math.floor(Date.now() / 1000)
    const future = sign(
      { alg: 'HS256', typ: 'JWT' },
      { ...flaskClaims('dave'), nbf: now + 3600 },
      fixture.secret,
    )
    expectUnauthorized(await server.api('GET', '/auth/me', { token: future }), 'token_not_yet_valid')
    // The Flask host's clock a fraction of a second ahead wrote the next second: accepted, as the
    // engine accepts its own (one second); two seconds ahead is not.
    const ahead = (by: number): string =>
      sign(
        { alg: 'HS256', typ: 'JWT' },
        { ...flaskClaims('dave'), iat: now + by, nbf: now + by },
        fixture.secret,
      )
    expect((await server.api('GET', '/auth/me', { token: ahead(1) })).status).toBe(200)
    expectUnauthorized(await server.api('GET', '/auth/me', { token: ahead(3) }), 'token_not_yet_valid')
    const expired = sign(
      { alg: 'HS256', typ: 'JWT' },
      { ...flaskClaims('dave'), exp: now - 3600 },
      fixture.secret,
    )
    expectUnauthorized(await server.api('GET', '/auth/me', { token: expired }), 'token_expired')
  })
})

describe('after the window closes', () => {
  // Its own server: closing the window restarts it, which the other tests must not see.
  const closing = useImportedServer()

  it('the same tokens are refused with legacy_token_expired, and without the setting too', async () => {
    const frank = user('frank')
    closing.overrides.legacyUntil = Math.floor(Date.now() / 1000) - 1
    await closing.restart()
    expectUnauthorized(
      await closing.api('POST', '/token/refresh', { token: frank.refresh_token }),
      'legacy_token_expired',
    )
    expectUnauthorized(
      await closing.api('GET', '/auth/me', { token: frank.access_token }),
      'legacy_token_expired',
    )
    closing.overrides.legacyHsSecret = undefined
    closing.overrides.legacyUntil = undefined
    await closing.restart()
    expectUnauthorized(
      await closing.api('POST', '/token/refresh', { token: frank.refresh_token }),
      'legacy_token_expired',
    )
    // Tessera's own sessions are untouched.
    expect((await closing.api('POST', '/auth/login', { body: creds('frank') })).status).toBe(200)
  })
})
