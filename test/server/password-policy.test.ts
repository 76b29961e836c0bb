// The new-password policy (issue 15): minimum length, zxcvbn-ts score, context words. The estimates run
// in the real password worker threads.
import { describe, expect, it } from 'vitest'
import {
  checkPasswordStrength,
  serviceNamesOf,
  type PasswordPolicy,
} from '../../packages/server/src/server/password-policy.js'
import { estimateStrength } from '../../packages/server/src/server/passwords.js'

const POLICY: PasswordPolicy = { minLength: 8, minScore: 3 }
const context = {
  username: 'alice',
  serviceNames: serviceNamesOf({ issuer: 'https://auth.acme-corp.example' }),
}
const check = (password: string, policy = POLICY) =>
  checkPasswordStrength(password, policy, context, estimateStrength)

describe('password policy', () => {
  it.each([
    ['password1', 'too_common'],
    ['12345678', 'too_common'],
    ['qwertyuiop', 'too_common'],
    ['iloveyou1', 'too_common'],
    ['P@ssw0rd!', 'too_common'],
    ['alice2024!', 'too_similar'],
    ['aliec123', 'too_similar'],
    ['Alice.Alice', 'too_similar'],
    ['tessera2026', 'too_similar'],
    ['acme-corp-2026', 'too_similar'],
    ['aaaaaaaaaaaa', 'too_guessable'],
    ['abcdefghijkl', 'too_guessable'],
  ])(
    'refuses %s as %s, without echoing it',
    async (password, reason) => {
      const verdict = await check(password)
      expect(verdict).toMatchObject({ ok: false, reason })
      if (!verdict.ok) {
        expect(verdict.message).not.toContain(password)
        expect(verdict.message).toMatch(/^too weak: /)
      }
    },
    120_000,
  )

  // The l33t matcher's search is bounded (l33tMaxSubstitutions in password-pool.ts): these must still
  // be seen through.
  it.each([
    'p@ssw0rd1',
    'P@$$w0rd!',
    'm0nk3y123',
    'dr@g0n12',
    '5up3rm@n',
    '1l0v3y0u',
    'j3nn1f3r',
    'W3lc0m3!',
  ])(
    'refuses the l33t spelling %s',
    async (password) => {
      expect(await check(password)).toMatchObject({ ok: false })
    },
    120_000,
  )

  it('refuses a password shorter than the minimum length, counted in code points', async () => {
    expect(await check('Zq9!xw')).toMatchObject({ ok: false, reason: 'too_short' })
    // 4 code points, 8 UTF-8 bytes: still too short.
    expect(await check('éééé')).toMatchObject({ ok: false, reason: 'too_short' })
    expect(await check('correct horse battery staple', { minLength: 40, minScore: 3 })).toMatchObject({
      ok: false,
      reason: 'too_short',
    })
  })

  it('accepts passphrases and random passwords', async () => {
    for (const password of ['correct horse battery staple', 'Zq9!xw#4Lp$2', 'velvet otter gravel lamp']) {
      expect(await check(password), password).toMatchObject({ ok: true })
    }
  }, 120_000)

  it('judges only the first 100 characters of a long password, and accepts a strong 1024-byte one', async () => {
    const strong = Array.from({ length: 1024 }, (_, i) => String.fromCharCode(33 + ((i * 7919) % 90))).join(
      '',
    )
    expect(await check(strong)).toMatchObject({ ok: true })
    expect(await check('a'.repeat(1024))).toMatchObject({ ok: false })
  }, 120_000)

  it('lets a common password through only with minScore 0, never one built from the username', async () => {
    expect(await check('password', { minLength: 8, minScore: 0 })).toMatchObject({ ok: true })
    expect(await check('alice123', { minLength: 8, minScore: 0 })).toMatchObject({
      ok: false,
      reason: 'too_similar',
    })
  })
})
