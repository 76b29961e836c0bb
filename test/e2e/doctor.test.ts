// The start-up doctor, seen from startServer: unsafe settings refuse to start (and leave nothing
// listening); the explicit override lets long lifetimes through.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer } from '../../packages/server/src/server/app.js'
import type { ServerConfig } from '../../packages/server/src/server/config.js'
import { baseConfig } from '../helpers/server-harness.js'

let dir = ''

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-doctor-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Starts a server with `overrides`; closes it again if it started. Resolves with the refusal, if any. */
async function tryStart(overrides: Partial<ServerConfig>): Promise<unknown> {
  // A data directory per attempt: keys of one algorithm never meet a server configured for another.
  const dataDir = await mkdtemp(join(dir, 'run-'))
  try {
    const server = await startServer({ ...baseConfig(dataDir), ...overrides })
    await server.close()
    return undefined
  } catch (error) {
    return error
  }
}

describe('the start-up doctor', () => {
  it.each([
    ['an HS256 secret shorter than 32 bytes', { algorithm: 'HS256', secret: 'too-short-secret' }],
    ['an HS256 algorithm without a secret', { algorithm: 'HS256', secret: undefined }],
    ['an HS256 secret of one repeated character', { algorithm: 'HS256', secret: 'a'.repeat(64) }],
    // Issue 15: low-entropy and well-known secrets of the required length.
    ['a repeated 8-character unit', { algorithm: 'HS256', secret: 'abcdefgh'.repeat(4) }],
    ["jwt.io's sample secret, padded", { algorithm: 'HS256', secret: 'your-256-bit-secret-your-256-bit' }],
    ["a seed's JWT_SECRET_KEY, doubled", { algorithm: 'HS256', secret: 'super-secret-key'.repeat(2) }],
    ['changeme padded with digits', { algorithm: 'HS256', secret: 'changeme123456789012345678901234' }],
    ['a run of letters and digits', { algorithm: 'HS256', secret: 'abcdefghijklmnopqrstuvwxyz0123456789' }],
    ['a phrase of dictionary words', { algorithm: 'HS256', secret: 'thisismyverylongandsecurepassword' }],
    ['a keyboard walk', { algorithm: 'HS256', secret: 'qwertyuiopasdfghjklzxcvbnm1234567890' }],
    [
      'cookie mode with SameSite=None without Secure',
      { tokenTransport: 'cookie', cookieSameSite: 'none', cookieSecure: 'auto' },
    ],
    ['an access token lifetime above 1 hour', { accessTokenTtl: 7200 }],
    ['a refresh token lifetime above 90 days', { refreshTokenTtl: 91 * 86_400 }],
    [
      'a routine audit retention longer than the audit retention',
      { auditRetention: 30 * 86_400, auditRoutineRetention: 60 * 86_400 },
    ],
  ] as [string, Partial<ServerConfig>][])('refuses to start with %s', async (_label, overrides) => {
    const error = await tryStart(overrides)
    expect(error).toBeInstanceOf(Error)
    expect((error as { code?: unknown }).code).toBe('configuration_error')
    if (overrides.secret !== undefined && overrides.secret.length >= 32) {
      expect((error as Error).message).toMatch(/openssl rand -base64 48/)
      expect((error as Error).message).not.toContain(overrides.secret)
    }
  })

  it('starts with long lifetimes when allowLongLifetimes is set', async () => {
    expect(await tryStart({ accessTokenTtl: 7200, allowLongLifetimes: true })).toBeUndefined()
  })

  it('starts with a strong HS256 secret', async () => {
    const secret = 'k9#Qm2$vX7!pL4@wZ8&nR3*tY6^bH1%c'
    expect(await tryStart({ algorithm: 'HS256', secret })).toBeUndefined()
  })

  it('starts with secrets made the way the message says (openssl rand -base64 48, -hex 32)', async () => {
    for (const secret of [randomBytes(48).toString('base64'), randomBytes(32).toString('hex')])
      expect(await tryStart({ algorithm: 'HS256', secret })).toBeUndefined()
  })
})
