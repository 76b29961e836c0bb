// Password hashing: argon2id with the OWASP parameters, rehash detection, length bounds in bytes and
// enumeration-safe timing for unknown users.
import { performance } from 'node:perf_hooks'
import { describe, expect, it } from 'vitest'
import {
  hashPassword,
  OWASP_ARGON2ID,
  parsePasswordHash,
  PASSWORD_MAX_BYTES,
  PASSWORD_MIN_BYTES,
  validatePassword,
  verifyAgainstDummy,
  verifyPassword,
} from '../../packages/server/src/server/passwords.js'

const CHEAP = { memoryCost: 8192, timeCost: 1, parallelism: 1 }

describe('hashPassword and verifyPassword', () => {
  it('hash with argon2id and the OWASP parameters, with a fresh salt each time', async () => {
    const first = await hashPassword('correct horse battery')
    const second = await hashPassword('correct horse battery')
    expect(first).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
    expect(second).not.toBe(first)
    expect(OWASP_ARGON2ID).toEqual({ memoryCost: 19456, timeCost: 2, parallelism: 1 })
  })

  it('accept the right password and refuse a wrong one', async () => {
    const stored = await hashPassword('correct horse battery')
    expect(await verifyPassword(stored, 'correct horse battery')).toEqual({ ok: true, needsRehash: false })
    expect(await verifyPassword(stored, 'correct horse batterY')).toEqual({ ok: false, needsRehash: false })
    expect(await verifyPassword(stored, '')).toEqual({ ok: false, needsRehash: false })
  })

  it('match one password typed as composed or decomposed characters (NFKC)', async () => {
    const stored = await hashPassword('caf\u00e9-au-lait')
    expect((await verifyPassword(stored, 'cafe\u0301-au-lait')).ok).toBe(true)
  })

  it('ask for a rehash when the stored hash was made with other parameters', async () => {
    const old = await hashPassword('correct horse battery', CHEAP)
    expect(parsePasswordHash(old)).toMatchObject({ memoryCost: 8192, timeCost: 1 })
    expect(await verifyPassword(old, 'correct horse battery')).toEqual({ ok: true, needsRehash: true })
    expect(await verifyPassword(old, 'wrong password!')).toEqual({ ok: false, needsRehash: false })
    expect(await verifyPassword(old, 'correct horse battery', CHEAP)).toEqual({
      ok: true,
      needsRehash: false,
    })
  })

  it('ask for a rehash when the current parameters change', async () => {
    const stored = await hashPassword('correct horse battery')
    const stronger = { ...OWASP_ARGON2ID, timeCost: 3 }
    expect(await verifyPassword(stored, 'correct horse battery', stronger)).toEqual({
      ok: true,
      needsRehash: true,
    })
  })

  it('verify nothing against a malformed hash', async () => {
    for (const stored of [
      '',
      'plaintext',
      '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$',
      '$2b$10$abcdefghijklmnopqrstuv',
    ]) {
      expect(await verifyPassword(stored, 'correct horse battery')).toEqual({ ok: false, needsRehash: false })
    }
  })

  it('refuse to hash a password the validation refuses', async () => {
    await expect(hashPassword('short')).rejects.toThrow(TypeError)
    await expect(hashPassword('x'.repeat(PASSWORD_MAX_BYTES + 1))).rejects.toThrow(TypeError)
  })
})

describe('parsePasswordHash', () => {
  it('reads the algorithm, version, costs and output length of a PHC string', () => {
    expect(
      parsePasswordHash(
        '$argon2i$v=16$m=4096,t=3,p=2$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A',
      ),
    ).toEqual({
      algorithm: 'argon2i',
      version: 16,
      memoryCost: 4096,
      timeCost: 3,
      parallelism: 2,
      outputBytes: 32,
    })
    expect(parsePasswordHash('$argon2id$v=19$m=1,t=1$salt$hash')).toBeUndefined()
  })
})

describe('validatePassword', () => {
  it('counts UTF-8 bytes: 8 to 1024 accepted, 7 and 1025 refused', () => {
    expect(PASSWORD_MIN_BYTES).toBe(8)
    expect(validatePassword('a'.repeat(7))).toEqual({
      ok: false,
      reason: 'too_short',
      minBytes: 8,
      maxBytes: 1024,
    })
    expect(validatePassword('a'.repeat(8))).toEqual({ ok: true })
    expect(validatePassword('a'.repeat(1024))).toEqual({ ok: true })
    expect(validatePassword('a'.repeat(1025))).toMatchObject({ ok: false, reason: 'too_long' })
  })

  it('counts multi-byte characters by their bytes, not their number', () => {
    expect(validatePassword('éééa')).toMatchObject({ ok: false, reason: 'too_short' }) // 4 chars, 7 bytes
    expect(validatePassword('éééé')).toEqual({ ok: true }) // 4 chars, 8 bytes
    expect(validatePassword('😀😀')).toEqual({ ok: true }) // 2 code points, 8 bytes
    expect(validatePassword('€'.repeat(341))).toEqual({ ok: true }) // 1023 bytes
    expect(validatePassword('€'.repeat(342))).toMatchObject({ ok: false, reason: 'too_long' }) // 1026 bytes
  })

  it('refuses what is not a string, lone surrogates and huge input', () => {
    expect(validatePassword(12345678)).toMatchObject({ ok: false, reason: 'not_a_string' })
    expect(validatePassword(undefined)).toMatchObject({ ok: false, reason: 'not_a_string' })
    expect(validatePassword('abcdefgh\ud800')).toMatchObject({ ok: false, reason: 'invalid_unicode' })
    expect(validatePassword('x'.repeat(10_000_000))).toMatchObject({ ok: false, reason: 'too_long' })
  })
})

describe('verifyAgainstDummy', () => {
  const time = async (fn: () => Promise<unknown>): Promise<number> => {
    const samples: number[] = []
    for (let i = 0; i < 3; i++) {
      const start = performance.now()
      await fn()
      samples.push(performance.now() - start)
    }
    return samples.sort((a, b) => a - b)[1]!
  }

  it('always fails', async () => {
    expect(await verifyAgainstDummy('correct horse battery')).toEqual({ ok: false, needsRehash: false })
    expect(await verifyAgainstDummy()).toEqual({ ok: false, needsRehash: false })
  })

  it('costs about what a real verification costs (loosely: within 3x)', async () => {
    const stored = await hashPassword('correct horse battery')
    await verifyAgainstDummy('warm up the thread pool')
    const real = await time(() => verifyPassword(stored, 'wrong password!'))
    const dummy = await time(() => verifyAgainstDummy('wrong password!'))
    expect(dummy).toBeGreaterThan(real / 3)
    expect(dummy).toBeLessThan(real * 3)
  })

  it('uses a dummy hash of the same parameters when they are not the defaults', async () => {
    const parsed = parsePasswordHash(await hashPassword('correct horse battery', CHEAP))
    expect(parsed).toMatchObject(CHEAP)
    expect(await verifyAgainstDummy('correct horse battery', CHEAP)).toEqual({
      ok: false,
      needsRehash: false,
    })
  })
})
