// POST /auth/login: the token pair, enumeration safety (same body, same time), disabled accounts, rate
// limits per account and per IP, validation and injection strings.
import { performance } from 'node:perf_hooks'
import { beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  PASSWORD,
  decode,
  expectError,
  median,
  uniqueName,
  useServer,
  type ApiResponse,
  type E2EServer,
} from '../helpers/server-harness.js'

const ADMIN = 'root'
const ADMIN_PASSWORD = 'root password for e2e'

describe('POST /auth/login', () => {
  const server = useServer()
  const alice = uniqueName('alice')

  beforeAll(async () => {
    await server.register(alice)
    await server.createUserWithCli(ADMIN, ADMIN_PASSWORD)
  })

  it('answers 200 with a fresh at+jwt access token, a refresh token, the user and a message', async () => {
    const res = await server.api('POST', '/auth/login', { body: { username: alice, password: PASSWORD } })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({
      token_type: 'Bearer',
      expires_in: server.config.accessTokenTtl,
      refresh_expires_in: server.config.refreshTokenTtl,
      user: { username: alice, roles: [], disabled: false },
    })
    expect(typeof res.body.message).toBe('string')
    expect(typeof res.body.session_id).toBe('string')

    const access = decode(res.body.access_token!)
    expect(access.header.typ).toBe('at+jwt')
    expect(access.header.alg).toBe(server.config.algorithm)
    expect(access.claims).toMatchObject({
      sub: String(res.body.user?.id),
      username: alice,
      roles: [],
      sid: res.body.session_id,
      fresh: true,
      type: 'access',
    })
    for (const claim of ['iat', 'nbf', 'exp']) expect(typeof access.claims[claim]).toBe('number')
    expect(typeof access.claims.jti).toBe('string')
    expect(Number(access.claims.exp) - Number(access.claims.iat)).toBe(server.config.accessTokenTtl)

    const refresh = decode(res.body.refresh_token!)
    expect(refresh.header.typ).toBe('refresh+jwt')
    expect(refresh.claims).toMatchObject({ sub: String(res.body.user?.id), sid: res.body.session_id })
    expect(refresh.claims.jti).not.toBe(access.claims.jti)
    expect(res.text).not.toContain(PASSWORD)
  })

  it('starts a new session with each login', async () => {
    const first = await server.login(alice)
    const second = await server.login(alice)
    expect(second.sessionId).not.toBe(first.sessionId)
  })

  it('logs in with a look-alike of the username (NFKC, case, spaces)', async () => {
    const canonical = await server.login(alice)
    const lookAlike = await server.login(`  ${alice.toUpperCase()} `)
    expect(lookAlike.userId).toBe(canonical.userId)
  })

  it('answers an unknown user and a wrong password with the same 401 status, headers and body', async () => {
    const unknown = await server.api('POST', '/auth/login', {
      body: { username: uniqueName('nobody'), password: PASSWORD },
    })
    const wrong = await server.api('POST', '/auth/login', {
      body: { username: alice, password: 'not the password' },
    })
    expectError(unknown, 401, 'invalid_credentials')
    expect(wrong.status).toBe(unknown.status)
    expect(wrong.json).toEqual(unknown.json)
    expect(wrong.text).toBe(unknown.text)
    for (const header of ['www-authenticate', 'content-type', 'retry-after']) {
      expect(wrong.headers.get(header), header).toBe(unknown.headers.get(header))
    }
  })

  it('takes the same time for an unknown user as for a wrong password (medians within 25 ms)', async () => {
    const attempt = async (username: string): Promise<number> => {
      const started = performance.now()
      const res = await server.api('POST', '/auth/login', {
        body: { username, password: 'definitely wrong password' },
      })
      const elapsed = performance.now() - started
      expect(res.status).toBe(401)
      return elapsed
    }
    // Warm up both paths (JIT, connection pool, the dummy hash), then interleave the samples so that
    // machine noise hits both series alike.
    await attempt(alice)
    await attempt('warm-up-unknown')
    const known: number[] = []
    const unknown: number[] = []
    for (let i = 0; i < 15; i += 1) {
      known.push(await attempt(alice))
      unknown.push(await attempt(`ghost-${i}`))
    }
    const difference = Math.abs(median(known) - median(unknown))
    expect(
      difference,
      `median wrong password ${median(known).toFixed(1)} ms, unknown user ${median(unknown).toFixed(1)} ms`,
    ).toBeLessThan(25)
  })

  it.each([
    ['an empty object', {}],
    ['no password', { username: 'someone' }],
    ['no username', { password: PASSWORD }],
    ['an empty username', { username: '', password: PASSWORD }],
    ['an empty password', { username: 'someone', password: '' }],
    ['a numeric password', { username: 'someone', password: 12345678 }],
    ['an object as the username', { username: { $ne: null }, password: PASSWORD }],
    ['an array as the password', { username: 'someone', password: [PASSWORD] }],
  ])('refuses a login with %s with 400 validation_error', async (_label, body) => {
    expectError(await server.api('POST', '/auth/login', { body }), 400, 'validation_error')
  })

  it('refuses a malformed JSON body with 400', async () => {
    const res = await server.api('POST', '/auth/login', { raw: `{"username":"${alice}",` })
    expect(res.status, res.text).toBe(400)
    expect(['validation_error', 'invalid_json']).toContain(res.body.error)
  })

  it('refuses an oversized password without a 5xx and without echoing it', async () => {
    const password = 'x'.repeat(20_000)
    const res = await server.api('POST', '/auth/login', { body: { username: alice, password } })
    expect([400, 401, 413]).toContain(res.status)
    expect(res.text).not.toContain(password)
  })

  it.each([
    `' OR '1'='1`,
    `' OR 1=1 --`,
    `admin'--`,
    `root' --`,
    `" OR ""="`,
    `'; DROP TABLE users; --`,
    `1; SELECT * FROM users`,
    `' UNION SELECT password_hash FROM users --`,
    `\\'; --`,
    `%' OR username LIKE '%`,
  ])('answers the injection string %j as a username with 401 or 400, never 5xx', async (username) => {
    const res = await server.api('POST', '/auth/login', { body: { username, password: PASSWORD } })
    expect([400, 401]).toContain(res.status)
    expect(res.body.access_token).toBeUndefined()
  })

  it('stores an injection-looking username literally and the tables survive', async () => {
    const username = `x'); DROP TABLE users; --`
    const registered = await server.api('POST', '/auth/register', {
      body: { username, password: PASSWORD },
    })
    expect([201, 400]).toContain(registered.status)
    if (registered.status === 201) {
      const tokens = await server.login(username)
      expect((await server.me(tokens.access)).body.username).toBe(username)
    }
    // The users table is still there.
    await server.login(alice)
  })

  describe('a disabled account', () => {
    const carol = uniqueName('carol')
    let carolId = 0
    let adminToken = ''

    beforeAll(async () => {
      carolId = (await server.register(carol)).userId
      adminToken = (await server.login(ADMIN, ADMIN_PASSWORD)).access
    })

    // Disabled before every test: one of them enables the account again.
    beforeEach(async () => {
      const res = await server.api('PATCH', `/users/${carolId}`, {
        token: adminToken,
        body: { disabled: true },
      })
      expect(res.status, res.text).toBe(200)
    })

    it('answers the right password with 403 account_disabled and no token', async () => {
      const res = await server.api('POST', '/auth/login', { body: { username: carol, password: PASSWORD } })
      expectError(res, 403, 'account_disabled')
      expect(res.body.access_token).toBeUndefined()
      expect(res.body.refresh_token).toBeUndefined()
    })

    it('answers a wrong password exactly like an unknown user (no hint that the account exists)', async () => {
      const wrong = await server.api('POST', '/auth/login', {
        body: { username: carol, password: 'not the password' },
      })
      const unknown = await server.api('POST', '/auth/login', {
        body: { username: uniqueName('nobody'), password: 'not the password' },
      })
      expectError(wrong, 401, 'invalid_credentials')
      expect(wrong.text).toBe(unknown.text)
    })

    it('logs in again once re-enabled', async () => {
      const res = await server.api('PATCH', `/users/${carolId}`, {
        token: adminToken,
        body: { disabled: false },
      })
      expect(res.status, res.text).toBe(200)
      await server.login(carol)
    })
  })
})

describe('POST /auth/login rate limit per account', () => {
  const server = useServer({ loginRatePerAccount: 3 })
  const bystander = uniqueName('bystander')

  beforeAll(async () => {
    await server.register(bystander)
  })

  /** Registers a victim (one per test: the counts are per account) and spends its account's attempts; the next attempt is the first refused. */
  async function lockedOutVictim(): Promise<string> {
    const victim = uniqueName('victim')
    await server.register(victim)
    // Look-alike spellings are the same account: they must not reset the count.
    for (const username of [victim, victim.toUpperCase(), ` ${victim} `]) {
      const res = await server.api('POST', '/auth/login', { body: { username, password: 'wrong password!' } })
      expectError(res, 401, 'invalid_credentials')
    }
    return victim
  }

  it('answers 429 rate_limited with Retry-After after loginRatePerAccount attempts on one account', async () => {
    const victim = await lockedOutVictim()
    const limited = await server.api('POST', '/auth/login', {
      body: { username: victim, password: 'wrong password!' },
    })
    expectRateLimited(limited)
  })

  it('keeps refusing the locked account even with the right password', async () => {
    const victim = await lockedOutVictim()
    expectRateLimited(await attempt(server, victim, 'wrong password!'))
    const res = await server.api('POST', '/auth/login', { body: { username: victim, password: PASSWORD } })
    expectRateLimited(res)
    expect(res.body.access_token).toBeUndefined()
  })

  it('still lets another account log in from the same IP', async () => {
    const victim = await lockedOutVictim()
    expectRateLimited(await attempt(server, victim))
    await server.login(bystander)
  })
})

describe('POST /auth/login rate limit per IP', () => {
  const server = useServer({ loginRatePerIp: 3 })
  // The counters live in memory: a restart gives every test fresh limits.
  beforeEach(server.restart)

  it('answers 429 with Retry-After once one IP exceeds loginRatePerIp, whatever the accounts', async () => {
    for (let i = 0; i < 3; i += 1) {
      const res = await server.api('POST', '/auth/login', {
        body: { username: uniqueName('spray'), password: PASSWORD },
      })
      expectError(res, 401, 'invalid_credentials')
    }
    expectRateLimited(await attempt(server, uniqueName('spray')))
  })

  it('is not bypassed by a spoofed X-Forwarded-For when no proxy is trusted', async () => {
    // Each attempt claims another client address: the limit still counts them all against 127.0.0.1.
    for (let i = 0; i < 3; i += 1) {
      const spoofed = { 'x-forwarded-for': `198.51.100.${i + 1}` }
      expectError(await attempt(server, uniqueName('spray'), PASSWORD, spoofed), 401, 'invalid_credentials')
    }
    expectRateLimited(
      await attempt(server, uniqueName('spray'), PASSWORD, { 'x-forwarded-for': '198.51.100.23' }),
    )
  })
})

function attempt(
  server: E2EServer,
  username: string,
  password = PASSWORD,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  return server.api('POST', '/auth/login', { body: { username, password }, headers })
}

function expectRateLimited(res: ApiResponse): void {
  expectError(res, 429, 'rate_limited')
  const retryAfter = res.headers.get('retry-after')
  expect(retryAfter, 'Retry-After').toMatch(/^\d+$/)
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1)
  expect(Number(retryAfter)).toBeLessThanOrEqual(60)
}
