import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigurationError } from '../../packages/tessera/src/index.js'
import { checkServerConfig, loadServerConfig, SETTINGS } from '../../packages/server/src/server/config.js'
import { buildServer, resolveServerConfig } from '../../packages/server/src/server/app.js'
import { baseConfig } from '../helpers/server-harness.js'

describe('server configuration', () => {
  it('has secure, documented defaults', () => {
    const config = loadServerConfig({}, {})
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      dataDir: './data',
      databaseUrl: './data/tessera.db',
      algorithm: 'EdDSA',
      accessTokenTtl: 900,
      refreshTokenTtl: 2_592_000,
      tokenTransport: 'header',
      cookieSecure: 'auto',
      cookieSameSite: 'lax',
      refreshGraceSeconds: 10,
    })
    expect(checkServerConfig(config)).toEqual([])
  })

  it('reads flags over environment variables over defaults', () => {
    const config = loadServerConfig(
      { port: '9000' },
      { TESSERA_PORT: '7000', TESSERA_ACCESS_TOKEN_TTL: '5m', TESSERA_DATA_DIR: '/srv/t' },
    )
    expect(config.port).toBe(9000)
    expect(config.accessTokenTtl).toBe(300)
    expect(config.databaseUrl).toBe('/srv/t/tessera.db')
  })

  it.each([
    [{ TESSERA_PORT: 'eighty' }, 'TESSERA_PORT'],
    [{ TESSERA_PORT: '70000' }, 'TESSERA_PORT'],
    [{ TESSERA_ACCESS_TOKEN_TTL: '15 minutes' }, 'TESSERA_ACCESS_TOKEN_TTL'],
    [{ TESSERA_ALGORITHM: 'none' }, 'TESSERA_ALGORITHM'],
    [{ TESSERA_TOKEN_TRANSPORT: 'query' }, 'TESSERA_TOKEN_TRANSPORT'],
    [{ TESSERA_COOKIE_SECURE: 'maybe' }, 'TESSERA_COOKIE_SECURE'],
    // A hop count: Fastify trusts no proxy for a number, so every client would share the proxy's limit.
    [{ TESSERA_TRUST_PROXY: '1' }, 'TESSERA_TRUST_PROXY'],
    [{ TESSERA_TRUST_PROXY: '10.0.0.0/8,lb.internal' }, 'TESSERA_TRUST_PROXY'],
    // A hop count in a list, and short IPv4 forms (ipaddr.js reads `1` as 0.0.0.1).
    [{ TESSERA_TRUST_PROXY: '1,10.0.0.0/8' }, 'TESSERA_TRUST_PROXY'],
    [{ TESSERA_TRUST_PROXY: '127.1' }, 'TESSERA_TRUST_PROXY'],
    // Origins are scheme, host and port: a path or a trailing slash never matches a browser's Origin.
    [{ TESSERA_TRUSTED_ORIGINS: 'notaurl' }, 'TESSERA_TRUSTED_ORIGINS'],
    [{ TESSERA_TRUSTED_ORIGINS: 'https://app.example.com/' }, 'TESSERA_TRUSTED_ORIGINS'],
    [
      { TESSERA_TRUSTED_ORIGINS: 'https://app.example.com,ftp://files.example.com' },
      'TESSERA_TRUSTED_ORIGINS',
    ],
    [{ TESSERA_REDIS_URL: 'http://redis.internal:6379' }, 'TESSERA_REDIS_URL'],
    [{ TESSERA_REDIS_URL: 'redis://redis.internal :6379' }, 'TESSERA_REDIS_URL'],
  ])('refuses a bad value with a message naming the variable (%o)', (env, name) => {
    let error: unknown
    try {
      loadServerConfig({}, env)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as ConfigurationError).option).toBe(name)
  })

  it('reads trusted origins and Redis URLs', () => {
    const config = loadServerConfig(
      {},
      {
        TESSERA_TRUSTED_ORIGINS: 'https://app.example.com, http://localhost:5173',
        TESSERA_REDIS_URL: 'rediss://user:pw@redis.internal:6380/2',
      },
    )
    expect(config.trustedOrigins).toEqual(['https://app.example.com', 'http://localhost:5173'])
    expect(config.redisUrl).toBe('rediss://user:pw@redis.internal:6380/2')
    // What ioredis also takes: a unix socket, host:port, an upper-case scheme.
    for (const url of ['/run/redis/redis.sock', 'redis.internal:6379', 'REDIS://redis.internal'])
      expect(loadServerConfig({}, { TESSERA_REDIS_URL: url }).redisUrl).toBe(url)
    // A refused value is never echoed (it may hold a password); an origin's message says how to write it.
    expect(() => loadServerConfig({}, { TESSERA_REDIS_URL: 'http://user:s3cret@redis.internal' })).toThrow(
      /^TESSERA_REDIS_URL: expected redis:\/\/.*, not http:\/\/…$/,
    )
    expect(loadServerConfig({}, { TESSERA_COOKIE_DOMAIN: 'example.com' }).cookieDomain).toBe('example.com')
    expect(loadServerConfig({}, {}).cookieDomain).toBeUndefined()
    for (const domain of [
      'https://example.com',
      '.example.com',
      'example.com:8443',
      'Example.com',
      'com',
      'a b.com',
    ]) {
      expect(() => loadServerConfig({}, { TESSERA_COOKIE_DOMAIN: domain }), domain).toThrow(
        /TESSERA_COOKIE_DOMAIN.*is not a cookie domain: a lower-case host name like example.com/,
      )
    }
    expect(() => loadServerConfig({}, { TESSERA_TRUSTED_ORIGINS: 'https://App.example.com:443/' })).toThrow(
      /write it as https:\/\/app\.example\.com$/,
    )
  })

  it('reads TESSERA_TRUST_PROXY as true, false, or addresses and ranges', () => {
    const trust = (value: string) => loadServerConfig({}, { TESSERA_TRUST_PROXY: value }).trustProxy
    expect(trust('TRUE')).toBe(true)
    expect(trust('false')).toBe(false)
    expect(trust(' 10.0.0.0/8, fd00::/8 ,192.0.2.1, loopback ')).toBe(
      '10.0.0.0/8,fd00::/8,192.0.2.1,loopback',
    )
    expect(() => trust('1')).toThrow(/hop count \(1\) is not supported.*10\.0\.0\.0\/8/)
  })

  it('names the flag when the bad value came from a flag', () => {
    expect(() => loadServerConfig({ port: 'x' }, {})).toThrow(/--port/)
  })

  describe('start-up doctor', () => {
    const base = loadServerConfig({}, {})
    const errorsOf = (overrides: object): string[] =>
      checkServerConfig({ ...base, ...overrides })
        .filter((f) => f.level === 'error')
        .map((f) => f.setting)

    it('refuses HS256 without a secret, with a short one, or with a low-variety one', () => {
      expect(errorsOf({ algorithm: 'HS256' })).toEqual(['TESSERA_SECRET'])
      expect(errorsOf({ algorithm: 'HS256', secret: 'short' })).toEqual(['TESSERA_SECRET'])
      expect(errorsOf({ algorithm: 'HS256', secret: 'ab'.repeat(20) })).toEqual(['TESSERA_SECRET'])
      expect(errorsOf({ algorithm: 'HS256', secret: 'k7Q2m9Xv4Lp8Rz1Tn6Wy3Hs5Bd0Fg2Jc' })).toEqual([])
    })

    it('refuses a metrics token that is short, repetitive or not a bearer token', () => {
      expect(errorsOf({ metricsToken: 'scrape-me' })).toEqual(['TESSERA_METRICS_TOKEN'])
      expect(errorsOf({ metricsToken: 'ab'.repeat(20) })).toEqual(['TESSERA_METRICS_TOKEN'])
      expect(errorsOf({ metricsToken: `${'k7Q2m9Xv4Lp8Rz1T'.repeat(2)} x` })).toEqual([
        'TESSERA_METRICS_TOKEN',
      ])
      expect(
        errorsOf({ metricsToken: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }),
      ).toEqual([])
      expect(errorsOf({})).toEqual([])
    })

    it('refuses SameSite=None cookies without Secure', () => {
      expect(errorsOf({ tokenTransport: 'cookie', cookieSameSite: 'none' })).toEqual([
        'TESSERA_COOKIE_SAMESITE',
      ])
      expect(errorsOf({ tokenTransport: 'cookie', cookieSameSite: 'none', cookieSecure: true })).toEqual([])
    })

    it('refuses lifetimes above sane bounds unless explicitly allowed', () => {
      expect(errorsOf({ accessTokenTtl: 7200 })).toEqual(['TESSERA_ACCESS_TOKEN_TTL'])
      expect(errorsOf({ refreshTokenTtl: 365 * 86_400 })).toEqual(['TESSERA_REFRESH_TOKEN_TTL'])
      expect(errorsOf({ accessTokenTtl: 7200, allowLongLifetimes: true })).toEqual([])
      expect(errorsOf({ accessTokenTtl: 600, refreshTokenTtl: 600 })).toEqual(['TESSERA_REFRESH_TOKEN_TTL'])
    })

    it('refuses a routine audit retention longer than the audit retention, which would delete routine events first', () => {
      expect(errorsOf({ auditRoutineRetention: 30 * 86_400 })).toEqual([])
      expect(errorsOf({ auditRoutineRetention: 90 * 86_400 })).toEqual([])
      expect(errorsOf({ auditRoutineRetention: 91 * 86_400 })).toEqual(['TESSERA_AUDIT_ROUTINE_RETENTION'])
      // Set by itself, but the audit retention lowered under it.
      expect(errorsOf({ auditRoutineRetention: 30 * 86_400, auditRetention: 14 * 86_400 })).toEqual([
        'TESSERA_AUDIT_ROUTINE_RETENTION',
      ])
      const [finding] = checkServerConfig({ ...base, auditRoutineRetention: 120 * 86_400 })
      expect(finding?.message).toContain('TESSERA_AUDIT_RETENTION (90d)')
      expect(finding?.message).toContain('at most 90d')
    })

    it('refuses an automatic key rotation more often than daily; 0 turns it off', () => {
      expect(loadServerConfig({}, {}).keyRotationInterval).toBe(90 * 86_400)
      expect(loadServerConfig({}, { TESSERA_KEY_ROTATION_INTERVAL: '0' }).keyRotationInterval).toBe(0)
      expect(errorsOf({ keyRotationInterval: 3600 })).toEqual(['TESSERA_KEY_ROTATION_INTERVAL'])
      expect(errorsOf({ keyRotationInterval: 86_399 })).toEqual(['TESSERA_KEY_ROTATION_INTERVAL'])
      expect(errorsOf({ keyRotationInterval: 86_400 })).toEqual([])
      expect(errorsOf({ keyRotationInterval: 0 })).toEqual([])
      // The rotation runs with the maintenance passes: without them, said at start.
      expect(checkServerConfig({ ...base, maintenanceIntervalMs: 0 })).toEqual([
        expect.objectContaining({ level: 'warning', setting: 'TESSERA_MAINTENANCE_INTERVAL' }) as unknown,
      ])
      expect(checkServerConfig({ ...base, maintenanceIntervalMs: 0, keyRotationInterval: 0 })).toEqual([])
    })

    it('warns when every X-Forwarded-For is trusted (TESSERA_TRUST_PROXY=true)', () => {
      expect(checkServerConfig({ ...base, trustProxy: true })).toEqual([
        expect.objectContaining({ level: 'warning', setting: 'TESSERA_TRUST_PROXY' }) as unknown,
      ])
      expect(checkServerConfig({ ...base, trustProxy: '10.0.0.0/8' })).toEqual([])
    })

    it('warns when listening beyond loopback, and about /metrics open to whoever reaches it there', () => {
      expect(checkServerConfig({ ...base, host: '0.0.0.0' })).toEqual([
        expect.objectContaining({ level: 'warning', setting: 'TESSERA_HOST' }) as unknown,
        expect.objectContaining({ level: 'warning', setting: 'TESSERA_METRICS_TOKEN' }) as unknown,
      ])
      const token = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
      expect(checkServerConfig({ ...base, host: '0.0.0.0', metricsToken: token })).toEqual([
        expect.objectContaining({ level: 'warning', setting: 'TESSERA_HOST' }) as unknown,
      ])
    })

    it('refuses an override given in code whose value does not fit the setting, naming its variable', () => {
      expect(errorsOf({ logLevel: 'loud' })).toEqual(['TESSERA_LOG_LEVEL'])
      expect(errorsOf({ port: '8080', trustedOrigins: 'https://app.example.com' })).toEqual([
        'TESSERA_PORT',
        'TESSERA_TRUSTED_ORIGINS',
      ])
      expect(errorsOf({ accessTokenTtl: '15m' })).toEqual(['TESSERA_ACCESS_TOKEN_TTL'])
      expect(errorsOf({ databaseTimeoutMs: -1, cookieSecure: 'yes' })).toEqual([
        'TESSERA_COOKIE_SECURE',
        'TESSERA_DATABASE_TIMEOUT',
      ])
      // Beyond what the variable accepts is still allowed from code (a load test's rate limits).
      expect(errorsOf({ loginRatePerIp: 1_000_000, trustProxy: '10.0.0.0/8' })).toEqual([])
      let error: unknown
      try {
        resolveServerConfig({ algorithm: 'none' as never }, {})
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(ConfigurationError)
      expect((error as ConfigurationError).option).toBe('TESSERA_ALGORITHM')
    })

    it('stops the server from being built when the doctor finds an error', () => {
      expect(() => resolveServerConfig({ algorithm: 'HS256', secret: 'too-short' }, {})).toThrow(
        ConfigurationError,
      )
    })

    it('names the setting once in the message, and the others beside their findings', () => {
      let error: unknown
      try {
        resolveServerConfig(
          {
            tokenTransport: 'cookie',
            cookieSameSite: 'none',
            cookieSecure: 'auto',
            legacyHsSecret: 'the old app secret, without an end date',
          },
          {},
        )
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(ConfigurationError)
      const { message, option } = error as ConfigurationError
      const findings = checkServerConfig({
        ...loadServerConfig({}, {}),
        tokenTransport: 'cookie',
        cookieSameSite: 'none',
        cookieSecure: 'auto',
        legacyHsSecret: 'the old app secret, without an end date',
      }).filter((f) => f.level === 'error')
      expect(findings.length).toBeGreaterThanOrEqual(2)
      // The first finding's setting once, as the error's prefix; every other finding named in the text.
      expect(message.startsWith(`${option}: `)).toBe(true)
      expect(message.split(`${option}:`)).toHaveLength(2)
      for (const finding of findings.slice(1)) expect(message).toContain(`; ${finding.setting}: `)
    })

    it('reads the cookie settings in cookie mode only: header mode starts whatever they say', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tessera-config-'))
      try {
        const built = await buildServer({ ...baseConfig(dir), cookieSameSite: 'none', cookieSecure: 'auto' })
        await built.close()
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })
  })

  it('reads the operations settings: timeouts in ms or seconds, retentions, the shutdown delay', () => {
    const defaults = loadServerConfig({}, {})
    expect(defaults).toMatchObject({
      databaseTimeoutMs: 5_000,
      maintenanceIntervalMs: 60_000,
      sessionRetention: 7 * 86_400,
      auditRetention: 90 * 86_400,
      auditRoutineRetention: undefined,
      shutdownDelayMs: 5_000,
    })
    const config = loadServerConfig(
      {},
      {
        TESSERA_DATABASE_TIMEOUT: '250ms',
        TESSERA_SHUTDOWN_DELAY: '0',
        TESSERA_MAINTENANCE_INTERVAL: '2m',
        TESSERA_AUDIT_RETENTION: '30d',
        TESSERA_AUDIT_ROUTINE_RETENTION: '7d',
      },
    )
    expect(config).toMatchObject({
      databaseTimeoutMs: 250,
      shutdownDelayMs: 0,
      maintenanceIntervalMs: 120_000,
      auditRetention: 30 * 86_400,
      auditRoutineRetention: 7 * 86_400,
    })
    for (const [name, value] of [
      ['TESSERA_DATABASE_TIMEOUT', '50ms'],
      ['TESSERA_DATABASE_TIMEOUT', '0'],
      ['TESSERA_DATABASE_TIMEOUT', 'soon'],
      ['TESSERA_SHUTDOWN_DELAY', '-1s'],
      ['TESSERA_AUDIT_RETENTION', '0'],
      ['TESSERA_AUDIT_ROUTINE_RETENTION', '0'],
      ['TESSERA_AUDIT_ROUTINE_RETENTION', 'a month'],
      ['TESSERA_MAINTENANCE_INTERVAL', '1ms'],
      ['TESSERA_MAINTENANCE_INTERVAL', '999ms'],
      ['TESSERA_MAINTENANCE_INTERVAL', '2d'],
    ] as const) {
      expect(() => loadServerConfig({}, { [name]: value }), `${name}=${value}`).toThrow(ConfigurationError)
    }
    expect(() => loadServerConfig({}, { TESSERA_MAINTENANCE_INTERVAL: '1ms' })).toThrow(
      'TESSERA_MAINTENANCE_INTERVAL: expected 0 (off) or from 1 s to 86400 s (30s, 5m), got "1ms"',
    )
    expect(loadServerConfig({}, { TESSERA_MAINTENANCE_INTERVAL: '0' }).maintenanceIntervalMs).toBe(0)
    expect(loadServerConfig({}, { TESSERA_MAINTENANCE_INTERVAL: '1s' }).maintenanceIntervalMs).toBe(1000)
  })

  it('warns when PostgreSQL is used without Redis (revocations reach other instances late, limits count per instance)', () => {
    const base = loadServerConfig({}, {})
    const pg = { ...base, databaseUrl: 'postgres://tessera@db.internal/tessera' }
    const findings = checkServerConfig(pg)
    expect(findings).toEqual([expect.objectContaining({ level: 'warning', setting: 'TESSERA_REDIS_URL' })])
    expect(findings[0]?.message).toMatch(
      /next key refresh \(TESSERA_KEY_REFRESH_INTERVAL.*count per instance/,
    )
    expect(checkServerConfig({ ...pg, redisUrl: 'redis://cache:6379' })).toEqual([])
    expect(checkServerConfig(base)).toEqual([])
  })

  it('documents every setting in the README configuration table', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    for (const setting of SETTINGS) {
      expect(readme).toMatch(
        new RegExp(`^\\|\\s*\`${setting.env}\`\\s*\\|\\s*\`--${setting.flag}\`\\s*\\|`, 'm'),
      )
    }
  })
})
