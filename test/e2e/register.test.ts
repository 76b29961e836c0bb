// POST /auth/register: the created user and tokens, username normalisation, password bounds in bytes,
// no mass assignment, validation, concurrent registrations and the per-IP rate limit.
import { beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { PASSWORD, claimsOf, decode, expectError, uniqueName, useServer } from '../helpers/server-harness.js'

describe('POST /auth/register', () => {
  const server = useServer()

  it('creates the user and answers 201 with the user, a message and a token pair', async () => {
    const username = uniqueName('newcomer')
    const res = await server.api('POST', '/auth/register', { body: { username, password: PASSWORD } })

    expect(res.status, res.text).toBe(201)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    const { user } = res.body
    expect(user).toMatchObject({ username, roles: [], disabled: false })
    expect(typeof user?.id).toBe('number')
    expect(user?.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
    expect(typeof res.body.message).toBe('string')
    expect(res.body.token_type).toBe('Bearer')
    expect(res.body.expires_in).toBe(server.config.accessTokenTtl)
    expect(res.body.refresh_expires_in).toBe(server.config.refreshTokenTtl)

    const access = decode(res.body.access_token!)
    expect(access.header.typ).toBe('at+jwt')
    expect(access.claims).toMatchObject({
      sub: String(user?.id),
      username,
      roles: [],
      sid: res.body.session_id,
      type: 'access',
    })
    const refresh = decode(res.body.refresh_token!)
    expect(refresh.claims).toMatchObject({ sub: String(user?.id), sid: res.body.session_id, type: 'refresh' })
    expect(refresh.header.typ).toBe('refresh+jwt')

    // The tokens work at once, and the password is never echoed.
    expect((await server.me(res.body.access_token!)).status).toBe(200)
    expect(res.text).not.toContain(PASSWORD)
  })

  it('keeps the username as entered (trimmed) for display', async () => {
    const name = uniqueName('Display')
    const tokens = await server.register(`  ${name}  `)
    expect(tokens.body.user?.username).toBe(name)
  })

  it('refuses a duplicate username with 409 username_taken', async () => {
    const username = uniqueName('dup')
    await server.register(username)
    const res = await server.api('POST', '/auth/register', {
      body: { username, password: 'another password 123' },
    })
    expectError(res, 409, 'username_taken')
    // The first account's password still logs in; the second one never became an account.
    await server.login(username)
    const second = await server.api('POST', '/auth/login', {
      body: { username, password: 'another password 123' },
    })
    expectError(second, 401, 'invalid_credentials')
  })

  describe('with "alice" registered', () => {
    beforeAll(async () => {
      await server.register('alice')
    })

    it.each([
      ['a capitalised form', 'Alice'],
      ['surrounding spaces', ' alice '],
      ['upper case', 'ALICE'],
      ['fullwidth letters', 'ＡＬＩＣＥ'],
      ['fullwidth upper case with spaces', '  ＡＬＩＣＥ  '],
      ['mixed fullwidth and ASCII', 'aＬice'],
    ])('refuses a look-alike (%s) with 409 username_taken', async (_label, lookAlike) => {
      const res = await server.api('POST', '/auth/register', {
        body: { username: lookAlike, password: 'a different password' },
      })
      expectError(res, 409, 'username_taken')
    })
  })

  it('treats "alice", "Alice", " alice " and "ＡＬＩＣＥ" as one account', async () => {
    const base = uniqueName('bob')
    await server.register(base)
    for (const lookAlike of [base.toUpperCase(), ` ${base} `, toFullwidth(base)]) {
      const res = await server.api('POST', '/auth/register', {
        body: { username: lookAlike, password: PASSWORD },
      })
      expectError(res, 409, 'username_taken')
    }
    // And the look-alikes log in to the same account.
    const first = await server.login(base)
    const fullwidth = await server.login(toFullwidth(base.toUpperCase()))
    expect(fullwidth.userId).toBe(first.userId)
  })

  it('refuses an unknown field such as role: "admin" with 400 and creates nothing', async () => {
    const username = uniqueName('mallory')
    const res = await server.api('POST', '/auth/register', {
      body: { username, password: PASSWORD, role: 'admin' },
    })
    expectError(res, 400, 'validation_error')
    expect(res.body.access_token).toBeUndefined()

    // Nothing was stored: the login fails and the name is still free.
    const login = await server.api('POST', '/auth/login', { body: { username, password: PASSWORD } })
    expectError(login, 401, 'invalid_credentials')
    const tokens = await server.register(username)
    expect(tokens.body.user?.roles).toEqual([])
    expect(claimsOf(tokens.access).roles).toEqual([])
    expectError(await server.api('GET', '/admin', { token: tokens.access }), 403, 'forbidden')
  })

  it.each([
    ['roles', { roles: ['admin'] }],
    ['is_admin', { is_admin: true }],
    ['disabled', { disabled: false }],
    ['id', { id: 1 }],
  ])('refuses the extra field %s with 400 validation_error, naming it', async (field, extra) => {
    const username = uniqueName('extra')
    const res = await server.api('POST', '/auth/register', {
      body: { username, password: PASSWORD, ...extra },
    })
    expectError(res, 400, 'validation_error')
    expect(res.body.message).toBe(`body must NOT have additional properties: unknown field "${field}"`)
    const login = await server.api('POST', '/auth/login', { body: { username, password: PASSWORD } })
    expect(login.status).toBe(401)
  })

  it('refuses a password of 7 bytes with 400 weak_password (too short)', async () => {
    const res = await server.api('POST', '/auth/register', {
      body: { username: uniqueName('short'), password: '1234567' },
    })
    expectError(res, 400, 'weak_password')
    expect(res.body.message).toMatch(/too short/)
  })

  it('counts the minimum length in characters (NIST SP 800-63B): 4 two-byte characters are too short', async () => {
    const username = uniqueName('eight')
    const res = await server.api('POST', '/auth/register', { body: { username, password: 'éééé' } })
    expectError(res, 400, 'weak_password')
    expect(res.body.message).toMatch(/too short/)
    await server.register(username, 'éàüößçñø stay')
  })

  it('refuses a password of 1025 ASCII bytes with 400 and does not echo it', async () => {
    const password = 'a'.repeat(1025)
    const res = await server.api('POST', '/auth/register', {
      body: { username: uniqueName('long'), password },
    })
    expectError(res, 400, 'validation_error')
    expect(res.text).not.toContain(password)
  })

  it('accepts a password of exactly 1024 bytes counted in UTF-8 (512 two-byte characters)', async () => {
    const username = uniqueName('maxlen')
    // 512 two-byte letters, varied so that the strength check has nothing to object to.
    const letters = 'éàüößçñøåæðþ'
    const password = Array.from({ length: 512 }, (_, i) => letters[(i * 7 + (i >> 3)) % letters.length]).join(
      '',
    )
    expect(Buffer.byteLength(password)).toBe(1024)
    await server.register(username, password)
    await server.login(username, password)
  })

  it('counts bytes, not characters: 513 two-byte characters (1026 bytes) are refused', async () => {
    const res = await server.api('POST', '/auth/register', {
      body: { username: uniqueName('bytes'), password: 'é'.repeat(513) },
    })
    expectError(res, 400, 'validation_error')
  })

  it('refuses 343 characters that make 1025 UTF-8 bytes', async () => {
    const password = '€'.repeat(341) + 'aa'
    expect(Buffer.byteLength(password)).toBe(1025)
    const res = await server.api('POST', '/auth/register', {
      body: { username: uniqueName('euro'), password },
    })
    expectError(res, 400, 'validation_error')
  })

  it.each([
    ['an empty body object', {}],
    ['no password', { username: 'lonely' }],
    ['no username', { password: PASSWORD }],
    ['an empty username', { username: '', password: PASSWORD }],
    ['a blank username', { username: '   ', password: PASSWORD }],
    ['a numeric username', { username: 42, password: PASSWORD }],
    ['a null password', { username: 'nullpw', password: null }],
    ['a numeric password', { username: 'numpw', password: 12345678 }],
    ['a username of 65 characters', { username: 'u'.repeat(65), password: PASSWORD }],
    ['a username with a zero-width space', { username: 'ali\u200bce', password: PASSWORD }],
  ])('refuses %s with 400 validation_error', async (_label, body) => {
    const res = await server.api('POST', '/auth/register', { body })
    expectError(res, 400, 'validation_error')
  })

  it('accepts a username of exactly 64 characters', async () => {
    const username = `${uniqueName('w')}-`.padEnd(64, 'x')
    expect(username).toHaveLength(64)
    await server.register(username)
  })

  it('refuses a body that is not JSON with 400', async () => {
    const res = await server.api('POST', '/auth/register', { raw: '{"username": "x", "password": ' })
    expect(res.status, res.text).toBe(400)
    expect(['validation_error', 'invalid_json']).toContain(res.body.error)
  })

  it.each([
    ['a JSON array', '["user", "password"]'],
    ['a JSON string', '"user:password"'],
    ['JSON null', 'null'],
  ])('refuses %s as the body with 400', async (_label, raw) => {
    const res = await server.api('POST', '/auth/register', { raw })
    expect(res.status, res.text).toBe(400)
    expect(typeof res.body.error).toBe('string')
  })

  it('refuses a form-encoded body with a 4xx', async () => {
    const res = await server.api('POST', '/auth/register', {
      raw: `username=form&password=${encodeURIComponent(PASSWORD)}`,
      contentType: 'application/x-www-form-urlencoded',
    })
    expect([400, 415]).toContain(res.status)
  })

  it('yields exactly one 201 and nineteen 409 for 20 concurrent registrations of one username', async () => {
    const username = uniqueName('race')
    const passwords = Array.from({ length: 20 }, (_, i) => `race password ${i}`)
    const results = await Promise.all(
      passwords.map((password) => server.api('POST', '/auth/register', { body: { username, password } })),
    )
    const statuses = results.map((r) => r.status)
    expect(statuses.filter((s) => s === 201)).toHaveLength(1)
    expect(statuses.filter((s) => s === 409)).toHaveLength(19)
    for (const res of results) if (res.status === 409) expect(res.body.error).toBe('username_taken')

    // Exactly the winner's password opens the one account.
    const winner = statuses.indexOf(201)
    await server.login(username, passwords[winner])
    const loser = passwords[(winner + 1) % passwords.length]
    const refused = await server.api('POST', '/auth/login', { body: { username, password: loser } })
    expectError(refused, 401, 'invalid_credentials')
  })
})

describe('POST /auth/register rate limit', () => {
  const server = useServer({ registerRatePerIp: 3 })
  // The counters live in memory: a restart gives every test fresh limits.
  beforeEach(server.restart)

  /** Spends this IP's registrations (three accounts exist afterwards); the next one is refused. */
  async function spendRegistrations(headers: Record<string, string> = {}): Promise<string[]> {
    const names = [uniqueName('burst'), uniqueName('burst'), uniqueName('burst')]
    for (const name of names) await server.register(name, PASSWORD, { headers })
    return names
  }

  it('answers 429 rate_limited with Retry-After once one IP exceeds registerRatePerIp', async () => {
    await spendRegistrations()
    const res = await server.api('POST', '/auth/register', {
      body: { username: uniqueName('burst'), password: PASSWORD },
    })
    expectError(res, 429, 'rate_limited')
    const retryAfter = res.headers.get('retry-after')
    expect(retryAfter).toMatch(/^\d+$/)
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1)
    expect(Number(retryAfter)).toBeLessThanOrEqual(60)
    const metrics = await server.api('GET', '/metrics')
    expect(metrics.text).toMatch(/^tessera_registrations_total\{outcome="rate_limited"\} 1$/m)
  })

  it('is not bypassed by a spoofed X-Forwarded-For when no proxy is trusted', async () => {
    await spendRegistrations({ 'x-forwarded-for': '203.0.113.1' })
    const res = await server.api('POST', '/auth/register', {
      body: { username: uniqueName('spoof'), password: PASSWORD },
      headers: { 'x-forwarded-for': '203.0.113.7' },
    })
    expectError(res, 429, 'rate_limited')
  })

  it('does not count against logins', async () => {
    // Three users of this server exist and the registrations are spent; logging in is a different limit.
    const [first] = await spendRegistrations()
    expectError(
      await server.api('POST', '/auth/register', {
        body: { username: uniqueName('burst'), password: PASSWORD },
      }),
      429,
      'rate_limited',
    )
    const res = await server.api('POST', '/auth/login', { body: { username: 'burst-x', password: PASSWORD } })
    expect(res.status).toBe(401)
    await server.login(first!)
  })
})

/** The fullwidth form of ASCII letters, digits and '-' (U+FF01..U+FF5E). */
function toFullwidth(text: string): string {
  return text.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0))
}

describe('registration closed (TESSERA_REGISTRATION=closed)', () => {
  const server = useServer({ registration: 'closed' })

  it("answers 403 registration_closed on /auth/register and the tutorials' aliases, creating no user", async () => {
    const name = uniqueName('closed')
    for (const path of ['/auth/register', '/register', '/registration']) {
      const res = await server.api('POST', path, { body: { username: name, password: PASSWORD } })
      expectError(res, 403, 'registration_closed')
    }
    expect(await server.running.context.stores.users.getByUsername(name)).toBeUndefined()
    // Accounts still come from the CLI, and log in.
    await server.createUserWithCli(name, PASSWORD)
    expect((await server.login(name)).access).toBeTruthy()
  })
})
