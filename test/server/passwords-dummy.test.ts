// The dummy hash of unknown-user logins: computed once per parameter set, and computed again on the
// next call when that computation failed (a pool that could not start a thread for a moment must not
// fail every later unknown-user login of the process).
import { describe, expect, it, vi } from 'vitest'
import type * as PoolModule from '../../packages/server/src/server/password-pool.js'
import type { PasswordPool } from '../../packages/server/src/server/password-pool.js'

const pool = vi.hoisted(() => ({ hashCalls: 0, failNextHash: true }))

vi.mock('../../packages/server/src/server/password-pool.js', async (importOriginal) => {
  const original = await importOriginal<typeof PoolModule>()
  const fake: PasswordPool = {
    size: 1,
    hash: () => {
      pool.hashCalls++
      if (pool.failNextHash) {
        pool.failNextHash = false
        return Promise.reject(new original.PasswordPoolError('a password worker thread could not start'))
      }
      return Promise.resolve(
        '$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
      )
    },
    verify: () => Promise.resolve(false),
    verifyForeign: () => Promise.resolve(false),
    strength: () => Promise.reject(new Error('not used')),
    ping: () => Promise.reject(new Error('not used')),
    close: () => Promise.resolve(),
  }
  return { ...original, createPasswordPool: () => fake }
})

const { verifyAgainstDummy } = await import('../../packages/server/src/server/passwords.js')
const { PasswordPoolError } = await import('../../packages/server/src/server/password-pool.js')

describe('verifyAgainstDummy after a failed dummy hash', () => {
  it('computes the dummy hash again on the next call instead of failing forever', async () => {
    const params = { memoryCost: 8192, timeCost: 1, parallelism: 1 }
    await expect(verifyAgainstDummy('first login', params)).rejects.toBeInstanceOf(PasswordPoolError)
    expect(await verifyAgainstDummy('second login', params)).toEqual({ ok: false, needsRehash: false })
    expect(await verifyAgainstDummy('third login', params)).toEqual({ ok: false, needsRehash: false })
    // Retried once after the failure, then cached.
    expect(pool.hashCalls).toBe(2)
  })
})
