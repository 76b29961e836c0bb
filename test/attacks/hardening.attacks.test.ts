// Issue 15 hardening, attacked over HTTP and through the CLI: weak and common passwords, look-alike
// usernames, guessable HS secrets, and the CLI's silent failure. (Tokens living too long: see
// claims.attacks.test.ts.) Sources: OWASP ASVS 5.0 V6.2, NIST SP 800-63B §3.1.1.2, RFC 8725 §3.5,
// UTS #39.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { startServer } from '../../packages/server/src/server/app.js'
import {
  baseConfig,
  expectError,
  PASSWORD,
  runCli,
  uniqueName,
  useServer,
} from '../helpers/server-harness.js'
import { expectRefused } from './tools.js'

const server = useServer()

describe('weak passwords', () => {
  it.each([
    ['passw0rd'],
    ['12345678'],
    ['qwertyuiop'],
    ['iloveyou'],
    ['P@ssw0rd1'],
    ['letmein123'],
    ['aaaaaaaa'],
    ['abcd1234'],
  ])(
    'refuses to register with %s: 400 weak_password, no account, no echo',
    async (password) => {
      const username = uniqueName('weak')
      const res = await server.api('POST', '/auth/register', { body: { username, password } })
      expectError(res, 400, 'weak_password')
      expectRefused(res, [400])
      expect(res.text.replace(/"error":"weak_password"|password:|password too/g, '')).not.toContain(password)
      const login = await server.api('POST', '/auth/login', { body: { username, password } })
      expectError(login, 401, 'invalid_credentials')
    },
    60_000,
  )

  it('refuses a password built from the username or the service name', async () => {
    const attempts: [string, string][] = [
      ['mallory', 'mallory2026!'],
      ['mallory', 'Mallory.Mallory'],
      ['mallory', 'tessera123'],
    ]
    for (const [username, password] of attempts) {
      const name = `${username}-${uniqueName('')}`
      const res = await server.api('POST', '/auth/register', {
        body: { username: name, password: password.replace('mallory', name).replace('Mallory', name) },
      })
      expectError(res, 400, 'weak_password')
    }
  }, 60_000)

  it('refuses a weak new password on POST /auth/password and keeps the old one', async () => {
    const username = uniqueName('changer')
    const tokens = await server.register(username)
    const res = await server.api('POST', '/auth/password', {
      token: tokens.access,
      body: { current_password: PASSWORD, new_password: 'password123' },
    })
    expectError(res, 400, 'weak_password')
    await server.login(username)
  }, 60_000)
})

describe('look-alike usernames', () => {
  it('refuses a name mixing Latin with a Cyrillic look-alike letter, and creates nothing', async () => {
    const latin = uniqueName('paypal')
    await server.register(latin)
    const spoof = latin.replace('a', '\u0430') // Cyrillic а
    const res = await server.api('POST', '/auth/register', { body: { username: spoof, password: PASSWORD } })
    expectError(res, 400, 'validation_error')
    const login = await server.api('POST', '/auth/login', { body: { username: spoof, password: PASSWORD } })
    expectError(login, 401, 'invalid_credentials')
  })

  // Characters that render as nothing outside the "Other" categories: each would register a second
  // account displayed exactly as the first one in /users, the audit log and /auth/me.
  it.each([['034F'], ['FE0F'], ['FE00'], ['3164'], ['115F']])(
    'refuses a copy of an existing name with the invisible U+%s added, and creates nothing',
    async (hex) => {
      const invisible = String.fromCodePoint(Number.parseInt(hex, 16))
      const name = uniqueName('victim')
      await server.register(name)
      for (const spoof of [`${name}${invisible}`, `${name.slice(0, 2)}${invisible}${name.slice(2)}`]) {
        const res = await server.api('POST', '/auth/register', {
          body: { username: spoof, password: PASSWORD },
        })
        expectError(res, 400, 'validation_error')
        const login = await server.api('POST', '/auth/login', {
          body: { username: spoof, password: PASSWORD },
        })
        expectError(login, 401, 'invalid_credentials')
      }
    },
  )

  it.each([
    ['straße', 'STRASSE'],
    ['σοφος', 'ΣΟΦΟΣ'],
    ['ﬁona', 'FIONA'],
  ])('treats %s and %s as one account: 409 username_taken, login with either', async (first, second) => {
    const suffix = uniqueName('')
    await server.register(`${first}${suffix}`)
    const res = await server.api('POST', '/auth/register', {
      body: { username: `${second}${suffix}`, password: PASSWORD },
    })
    expectError(res, 409, 'username_taken')
    await server.login(`${second}${suffix}`)
  })
})

describe('guessable HS256 secrets', () => {
  it.each([
    ['abcdefghabcdefghabcdefghabcdefgh'],
    ['your-256-bit-secret-your-256-bit'],
    ['super-secret-keysuper-secret-key'],
    ['changemechangemechangemechangeme'],
  ])(
    'refuses to start with the secret %s (nothing listens)',
    async (secret) => {
      const dir = await mkdtemp(join(tmpdir(), 'tessera-weak-secret-'))
      try {
        const started = await startServer({ ...baseConfig(dir), algorithm: 'HS256', secret }).then(
          async (s) => {
            await s.close()
            return true
          },
          (error: unknown) => {
            expect((error as { code?: string }).code).toBe('configuration_error')
            expect((error as Error).message).toMatch(/openssl rand -base64 48/)
            return false
          },
        )
        expect(started).toBe(false)
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    },
    60_000,
  )
})

describe('the CLI', () => {
  it('fails loudly without a password when stdin is no terminal, and creates nothing', async () => {
    const name = uniqueName('cli-eve')
    const run = await runCli(['users', 'create', name, '--data-dir', server.dir])
    expect(run.code).toBe(2)
    expect(run.output).toMatch(/TESSERA_PASSWORD/)
    const login = await server.api('POST', '/auth/login', { body: { username: name, password: '' } })
    expect(login.status).toBeGreaterThanOrEqual(400)
  }, 60_000)

  it('refuses to create an admin with a weak password', async () => {
    const name = uniqueName('cli-root')
    const run = await runCli(['users', 'create', name, '--admin', '--data-dir', server.dir], {
      TESSERA_PASSWORD: 'admin123',
    })
    expect(run.code).toBe(1)
    expect(run.output).toMatch(/weak_password/)
    const login = await server.api('POST', '/auth/login', { body: { username: name, password: 'admin123' } })
    expectError(login, 401, 'invalid_credentials')
  }, 60_000)
})
