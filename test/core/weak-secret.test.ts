// Weak HMAC secrets (issue 15): published samples (also padded or repeated), repetition, sequences and
// low-entropy text are refused by createTessera; random secrets pass.
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ConfigurationError, createTessera, weakSecretReason } from '../../packages/tessera/src/index.js'

const WEAK: [string, string | Uint8Array][] = [
  ['a repeated 8-character unit', 'abcdefgh'.repeat(4)],
  ['one repeated character', 'a'.repeat(64)],
  ["jwt.io's sample, padded", 'your-256-bit-secret-your-256-bit'],
  ["jwt.io's sample, padded with x", 'your-256-bit-secretxxxxxxxxxxxxx'],
  ['"secret" repeated', 'secret'.repeat(6)],
  ['"changeme" padded with digits', 'changeme123456789012345678901234'],
  ['a seed secret, doubled', 'super-secret-key'.repeat(2)],
  ['a seed secret, padded', 'jwt-secret-string-jwt-secret-str'],
  ['a seed secret in upper case', 'YOUR_SECRET_KEY_YOUR_SECRET_KEY!'],
  ['your_jwt_secret padded', 'your_jwt_secret_0000000000000000'],
  ['supersecretkey padded', 'supersecretkey!!supersecretkey!!'],
  ['the alphabet and digits', 'abcdefghijklmnopqrstuvwxyz0123456789'],
  ['a run of digits', '01234567890123456789012345678901'],
  ['repeated bytes', new Uint8Array(32).fill(7)],
]

describe('weak HMAC secrets', () => {
  it.each(WEAK)('refuses %s, saying how to make a good one', (_label, secret) => {
    const reason = weakSecretReason(secret)
    expect(reason).toMatch(/openssl rand -base64 48/)
    let error: unknown
    try {
      createTessera({ secret })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as ConfigurationError).option).toBe('secret')
    if (typeof secret === 'string') expect((error as Error).message).not.toContain(secret)
  })

  it('refuses a weak secret given as a key of the ring too', () => {
    expect(() => createTessera({ keys: [{ alg: 'HS256', secret: 'secret'.repeat(6) }] })).toThrow(
      /keys\[0\]\.secret/,
    )
  })

  it.each([
    ['openssl rand -base64 48', randomBytes(48).toString('base64')],
    ['openssl rand -hex 16 (32 hex digits)', randomBytes(16).toString('hex')],
    ['openssl rand -hex 32', randomBytes(32).toString('hex')],
    ['32 random bytes', randomBytes(32)],
    ['a random secret that mentions "secret"', `my-app-secret-${randomBytes(30).toString('base64url')}`],
  ])('accepts %s', (_label, secret) => {
    expect(weakSecretReason(secret)).toBeUndefined()
    expect(() => createTessera({ secret })).not.toThrow()
  })

  it('accepts 1000 random hex secrets of 32 digits (no false positives)', () => {
    for (let i = 0; i < 1000; i++) expect(weakSecretReason(randomBytes(16).toString('hex'))).toBeUndefined()
  })
})
