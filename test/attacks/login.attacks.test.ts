// Login attacks over HTTP (issue 8, "Login"): username enumeration by body, status, headers or timing;
// brute force on one account from many IPs and on many accounts from one IP; oversized passwords; SQL
// injection in the username. Sources: OWASP Authentication and Credential Stuffing cheat sheets, OWASP
// ASVS V2.2 (anti-automation), NIST SP 800-63B §5.2.2 (rate limiting).
import { beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  expectError,
  median,
  PASSWORD,
  uniqueName,
  useServer,
  type ApiResponse,
} from '../helpers/server-harness.js'
import { expectRefused } from './tools.js'

/** Headers that legitimately differ between two responses. */
const VOLATILE = new Set(['date', 'keep-alive', 'connection'])
const headerNames = (res: ApiResponse): string[] =>
  [...res.headers.keys()].filter((name) => !VOLATILE.has(name)).sort()

const login = (
  server: { api: (m: 'POST', p: string, o: object) => Promise<ApiResponse> },
  username: string,
  password: string,
  ip?: string,
): Promise<ApiResponse> =>
  server.api('POST', '/auth/login', {
    body: { username, password },
    ...(ip === undefined ? {} : { headers: { 'x-forwarded-for': ip } }),
  })

describe('username enumeration', () => {
  const server = useServer()
  const known = uniqueName('enum-known')
  const disabled = uniqueName('enum-disabled')

  beforeAll(async () => {
    await server.register(known)
    const victim = await server.register(disabled)
    const adminName = uniqueName('enum-admin')
    await server.createUserWithCli(adminName, 'enumeration admin password', true)
    const admin = await server.login(adminName, 'enumeration admin password')
    const res = await server.api('PATCH', `/users/${String(victim.userId)}`, {
      token: admin.access,
      body: { disabled: true },
    })
    expect(res.status).toBe(200)
  })

  it.each([['/auth/login'], ['/login']])(
    'answers an unknown user and a wrong password identically on %s (status, body, header names)',
    async (path) => {
      const unknown = await server.api('POST', path, {
        body: { username: uniqueName('nobody'), password: 'wrong password!' },
      })
      const wrong = await server.api('POST', path, { body: { username: known, password: 'wrong password!' } })
      const wrongDisabled = await server.api('POST', path, {
        body: { username: disabled, password: 'wrong password!' },
      })
      for (const res of [unknown, wrong, wrongDisabled]) {
        expectError(res, 401, 'invalid_credentials')
        expectRefused(res)
      }
      expect(wrong.text).toBe(unknown.text)
      expect(wrongDisabled.text).toBe(unknown.text)
      expect(headerNames(wrong)).toEqual(headerNames(unknown))
      expect(wrong.headers.get('www-authenticate')).toBe(unknown.headers.get('www-authenticate'))
      expect(wrong.headers.get('content-length')).toBe(unknown.headers.get('content-length'))
    },
  )

  it('answers an empty, a whitespace-only and a look-alike unknown username like any unknown user', async () => {
    const reference = await login(server, uniqueName('nobody'), 'wrong password!')
    for (const username of ['   ', `${known}\u200b`, `${known}x`]) {
      const res = await login(server, username, 'wrong password!')
      expect([400, 401]).toContain(res.status)
      if (res.status === 401) expect(res.text).toBe(reference.text)
    }
  })

  // A real difference fails every attempt; a retry only absorbs a burst of load from other test files.
  it(
    'takes the same time for an unknown user as for a wrong password (median paired difference below 5 ms)',
    { retry: 2 },
    async () => {
      // Interleaved pairs so that load from other test files hits both samples alike; bounded samples.
      const samples = Number(process.env.TESSERA_TIMING_SAMPLES ?? 41)
      const bound = Number(process.env.TESSERA_TIMING_BOUND_MS ?? 5)
      const unknownTimes: number[] = []
      const wrongTimes: number[] = []
      const time = async (username: string): Promise<number> => {
        const start = performance.now()
        const res = await login(server, username, 'wrong password!')
        const elapsed = performance.now() - start
        expect(res.status).toBe(401)
        return elapsed
      }
      await time(known) // warm-up
      await time(uniqueName('nobody'))
      for (let i = 0; i < samples; i++) {
        if (i % 2 === 0) {
          unknownTimes.push(await time(uniqueName('nobody')))
          wrongTimes.push(await time(known))
        } else {
          wrongTimes.push(await time(known))
          unknownTimes.push(await time(uniqueName('nobody')))
        }
      }
      const difference = Math.abs(median(unknownTimes) - median(wrongTimes))
      // The median of the paired differences is the statistic tested: pairing cancels the load drift
      // other test files put on both samples alike. The plain difference of medians is reported too.
      const paired = Math.abs(median(unknownTimes.map((u, i) => u - (wrongTimes[i] ?? u))))
      expect(
        paired,
        `medians: unknown ${median(unknownTimes).toFixed(1)} ms, wrong password ${median(wrongTimes).toFixed(1)} ms (difference ${difference.toFixed(1)} ms); median paired difference ${paired.toFixed(1)} ms`,
      ).toBeLessThan(bound)
    },
  )
})

describe('brute force on one account from many IPs (behind a trusted proxy)', () => {
  const server = useServer({ trustProxy: true, loginRatePerAccount: 5, loginRatePerIp: 1000 })
  let victim: string

  // A victim of its own for every test, attacked until locked: five wrong guesses from five IPs, and
  // the sixth refused.
  beforeEach(async () => {
    victim = uniqueName('brute-victim')
    await server.register(victim)
    for (let i = 1; i <= 5; i++) {
      expectError(
        await login(server, victim, `guess number ${i}`, `203.0.113.${i}`),
        401,
        'invalid_credentials',
      )
    }
  })

  it('answers 429 rate_limited with Retry-After once the account saw 5 attempts, whatever the IP', async () => {
    const res = await login(server, victim, 'guess number 6', '203.0.113.6')
    expectError(res, 429, 'rate_limited')
    expectRefused(res, [429])
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
  })

  it('keeps refusing with 429 even the right password from a fresh IP, and with look-alike spellings', async () => {
    expectError(await login(server, victim, 'guess number 6', '203.0.113.6'), 429, 'rate_limited')
    for (const [i, username] of [
      victim,
      victim.toUpperCase(),
      ` ${victim} `,
      victim.replace('b', 'ｂ'),
    ].entries()) {
      const res = await login(server, username, PASSWORD, `198.51.100.${i + 1}`)
      expectError(res, 429, 'rate_limited')
      expectRefused(res, [429])
    }
  })

  it('does not lock other accounts', async () => {
    const other = uniqueName('brute-other')
    await server.register(other)
    const res = await login(server, other, PASSWORD, '203.0.113.1')
    expect(res.status, res.text).toBe(200)
  })
})

// A stolen fresh access token must not give an unlimited password oracle (and unlimited argon2id work):
// the current password of a change counts against the same budget as logins.
describe('guessing the current password at POST /auth/password', () => {
  const server = useServer({ loginRatePerAccount: 4, loginRatePerIp: 1000 })

  it('answers 429 past the per-account login limit, even with the right password', async () => {
    const name = uniqueName('pw-guess')
    const { access } = await server.register(name) // a fresh token; registering counts no guess
    const change = (current: string) =>
      server.api('POST', '/auth/password', {
        token: access,
        body: { current_password: current, new_password: 'a brand new passphrase' },
      })
    for (let i = 0; i < 4; i++)
      expectError(await change(`guess number ${String(i)}`), 401, 'invalid_credentials')
    const res = await change(PASSWORD)
    expectError(res, 429, 'rate_limited')
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    // One budget: the account's logins are limited too.
    expectError(await login(server, name, PASSWORD), 429, 'rate_limited')
  })
})

describe('many accounts from one IP (credential stuffing)', () => {
  const server = useServer({ trustProxy: true, loginRatePerIp: 5, loginRatePerAccount: 1000 })

  it('answers 429 once one IP made 5 attempts, whatever the usernames; another IP is not affected', async () => {
    for (let i = 0; i < 5; i++) {
      expectError(
        await login(server, uniqueName('stuffed'), 'leaked password', '192.0.2.7'),
        401,
        'invalid_credentials',
      )
    }
    const res = await login(server, uniqueName('stuffed'), 'leaked password', '192.0.2.7')
    expectError(res, 429, 'rate_limited')
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    expectError(
      await login(server, uniqueName('stuffed'), 'leaked password', '192.0.2.8'),
      401,
      'invalid_credentials',
    )
  })

  // With every X-Forwarded-For trusted (the doctor warns), the "address" is any text: kilobytes of it
  // were a rate-limit key and an audit row each (8 KB × 20,000 registrations: +150 MB of RSS).
  it('keeps a forwarded address that is no address short: one limit per text, 64 characters in the audit log', async () => {
    const junk = 'x'.repeat(8_000)
    for (let i = 0; i < 5; i++)
      expectError(
        await login(server, uniqueName('junk'), 'leaked password', junk),
        401,
        'invalid_credentials',
      )
    expectError(await login(server, uniqueName('junk'), 'leaked password', junk), 429, 'rate_limited')
    const events = await server.running.context.stores.audit.list({ event: 'login_failed', limit: 5 })
    expect(events).toHaveLength(5)
    for (const event of events) expect(event.ip).toBe('x'.repeat(64))
  })
})

// TESSERA_TRUST_PROXY names the proxy (here the loopback range the test client connects from): the
// client address is the one it forwards, so each client has its own per-IP limit.
describe('behind a proxy trusted by address', () => {
  const server = useServer({ trustProxy: 'loopback', loginRatePerIp: 3, loginRatePerAccount: 1000 })

  it('limits each forwarded client on its own, not every client as the proxy', async () => {
    for (let i = 0; i < 3; i++) {
      expectError(
        await login(server, uniqueName('proxied'), 'leaked password', '198.51.100.1'),
        401,
        'invalid_credentials',
      )
    }
    expectError(
      await login(server, uniqueName('proxied'), 'leaked password', '198.51.100.1'),
      429,
      'rate_limited',
    )
    expectError(
      await login(server, uniqueName('proxied'), 'leaked password', '198.51.100.2'),
      401,
      'invalid_credentials',
    )
  })
})

// An IPv6 client owns a whole /64 (2^64 addresses): counted per address, it would never be limited.
describe('many accounts from one IPv6 network, a new address each time', () => {
  const server = useServer({ trustProxy: true, loginRatePerIp: 5, loginRatePerAccount: 1000 })

  it('answers 429 once the /64 made 5 attempts; another /64 and IPv4 are not affected', async () => {
    const from = (i: number) => `2001:db8:7:7:${(i * 7919).toString(16)}::${String(i + 1)}`
    for (let i = 0; i < 5; i++) {
      expectError(
        await login(server, uniqueName('rotated'), 'leaked password', from(i)),
        401,
        'invalid_credentials',
      )
    }
    for (const ip of [from(5), '2001:0db8:0007:0007:0000:0000:0000:0fff']) {
      const res = await login(server, uniqueName('rotated'), 'leaked password', ip)
      expectError(res, 429, 'rate_limited')
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    }
    for (const ip of ['2001:db8:7:8::1', '192.0.2.77']) {
      expectError(
        await login(server, uniqueName('rotated'), 'leaked password', ip),
        401,
        'invalid_credentials',
      )
    }
  })

  it('counts an IPv4 address written as IPv4-mapped IPv6 with the address itself', async () => {
    for (let i = 0; i < 5; i++) {
      const ip = i % 2 === 0 ? '198.51.100.40' : '::ffff:198.51.100.40'
      expectError(
        await login(server, uniqueName('mapped'), 'leaked password', ip),
        401,
        'invalid_credentials',
      )
    }
    expectError(
      await login(server, uniqueName('mapped'), 'leaked password', '198.51.100.40'),
      429,
      'rate_limited',
    )
  })
})

describe('many accounts from one IP without a trusted proxy', () => {
  const server = useServer({ loginRatePerIp: 5, loginRatePerAccount: 1000 })

  it('is not bypassed by rotating X-Forwarded-For: the socket address is counted', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 7; i++) {
      statuses.push((await login(server, uniqueName('spoof'), 'leaked password', `10.9.8.${i}`)).status)
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401])
    expect(statuses.slice(5)).toEqual([429, 429])
  })
})

describe('oversized passwords and injection strings', () => {
  const server = useServer()
  const name = 'sqli-victim'

  beforeAll(async () => {
    await server.register(name)
  })

  it.each([
    ['1 MB', 'x'.repeat(1024 * 1024), [413]],
    ['100 KB', 'x'.repeat(100 * 1024), [413]],
    ['4,097 characters', 'x'.repeat(4097), [400]],
    ['4,096 four-byte characters (16 KB of UTF-8)', '😀'.repeat(4096), [400, 401]],
    ['4,096 characters', 'x'.repeat(4096), [401]],
  ] as const)(
    'answers a %s password on login with a 4xx, no token and no echo',
    async (_label, password, statuses) => {
      const res = await login(server, name, password)
      expectRefused(res, statuses)
      expect(res.text.length).toBeLessThan(1000)
    },
  )

  it.each([
    ['1,025 bytes', 'x'.repeat(1025), [400]],
    ['1 MB', 'x'.repeat(1024 * 1024), [413]],
    ['lone surrogates', '\ud800\ud800\ud800\ud800\ud800\ud800\ud800\ud800', [400]],
  ] as const)(
    'refuses a %s password on register with a 4xx and creates nothing',
    async (_label, password, statuses) => {
      const username = uniqueName('oversized-new')
      const res = await server.api('POST', '/auth/register', { body: { username, password } })
      expectRefused(res, statuses)
      expectError(await login(server, username, PASSWORD), 401, 'invalid_credentials')
    },
  )

  const INJECTIONS = [
    "' OR '1'='1",
    "' OR 1=1 --",
    `${name}' --`,
    `${name}'/*`,
    "admin'; DROP TABLE users; --",
    '" OR ""="',
    "') OR ('a'='a",
    '%',
    '_',
    `${name.slice(0, 4)}%`,
    '*',
    '\\',
    "1' UNION SELECT password_hash FROM users --",
  ]

  it.each(INJECTIONS)('answers the username %j on login with 401 invalid_credentials', async (username) => {
    const res = await login(server, username, PASSWORD)
    expectError(res, 401, 'invalid_credentials')
    expectRefused(res)
  })

  it('stores injection strings literally at registration, and the tables survive', async () => {
    const username = `${uniqueName('inj')}'; DROP TABLE users; --`
    const created = await server.register(username)
    expect(created.body.user?.username).toBe(username)
    expect((await login(server, username, PASSWORD)).status).toBe(200)
    expect((await login(server, name, PASSWORD)).status).toBe(200)
  })
})
