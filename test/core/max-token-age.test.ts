// maxTokenAge (issue 15): an authentic token whose lifetime (exp − iat) is longer than the engine would
// issue is refused, and revocation entries outlive every token the bound lets through.
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  createTessera,
  memoryRevocationStore,
  revocationExpiry,
  type Tessera,
} from '../../packages/tessera/src/index.js'
import { accessClaims, forge, SECRET } from '../helpers/forge.js'

afterEach(() => {
  vi.useRealTimers()
})

async function rejection(
  promise: Promise<unknown>,
): Promise<{ code: string; status: number; claim?: string }> {
  try {
    await promise
  } catch (error) {
    return error as { code: string; status: number }
  }
  throw new Error('expected a rejection')
}

const sign = (auth: Tessera, payload: Record<string, unknown>, typ = 'at+jwt'): string =>
  forge({ alg: 'HS256', kid: auth.keys.active.kid, typ }, payload, auth.keys.active)

const now = (): number => Math.floor(Date.now() / 1000)

describe('maxTokenAge', () => {
  it('refuses an access token whose exp − iat exceeds the access token lifetime', async () => {
    const auth = createTessera({ secret: SECRET, accessTokenTtl: '15m' })
    const token = sign(auth, accessClaims({ exp: now() + 901 }))
    const error = await rejection(auth.verify(token))
    expect([error.code, error.status]).toEqual(['token_lifetime_exceeded', 401])
  })

  it('names maxTokenAge and both lifetimes, so a verifier set shorter than its issuer is diagnosed', async () => {
    // A resource server left at the default 15m, in front of an issuer handing out 30m tokens.
    const auth = createTessera({ secret: SECRET })
    const t = now()
    const token = sign(auth, accessClaims({ iat: t, nbf: t, exp: t + 1800 }))
    const error = (await rejection(auth.verify(token))) as { code: string; message?: string }
    expect([error.code, error.message]).toEqual([
      'token_lifetime_exceeded',
      'The access token lifetime 30m (exp - iat) exceeds maxTokenAge 15m',
    ])
  })

  it('refuses a token that lives until the year 9999', async () => {
    const auth = createTessera({ secret: SECRET })
    const token = sign(auth, accessClaims({ exp: 253_402_300_799 }))
    expect((await rejection(auth.verify(token))).code).toBe('token_lifetime_exceeded')
  })

  it('accepts a token exactly at the bound, and one leeway beyond it', async () => {
    const auth = createTessera({ secret: SECRET, accessTokenTtl: 900, leeway: 30 })
    await expect(auth.verify(sign(auth, accessClaims({ exp: now() + 900 })))).resolves.toBeDefined()
    await expect(auth.verify(sign(auth, accessClaims({ exp: now() + 930 })))).resolves.toBeDefined()
    const error = await rejection(auth.verify(sign(auth, accessClaims({ exp: now() + 931 }))))
    expect(error.code).toBe('token_lifetime_exceeded')
  })

  it('bounds refresh tokens by the refresh lifetime, not the access one', async () => {
    const auth = createTessera({ secret: SECRET, accessTokenTtl: '15m', refreshTokenTtl: '1d' })
    const refresh = (exp: number): string => sign(auth, accessClaims({ type: 'refresh', exp }), 'refresh+jwt')
    await expect(auth.verify(refresh(now() + 86_400), { type: 'refresh' })).resolves.toBeDefined()
    const error = await rejection(auth.verify(refresh(now() + 86_401), { type: 'refresh' }))
    expect(error.code).toBe('token_lifetime_exceeded')
    // type 'any' judges each token by its own type.
    const longAccess = sign(auth, accessClaims({ exp: now() + 3600 }))
    expect((await rejection(auth.verify(longAccess, { type: 'any' }))).code).toBe('token_lifetime_exceeded')
  })

  it('refuses a token without iat while the bound is on', async () => {
    const auth = createTessera({ secret: SECRET })
    const claims = accessClaims()
    delete claims.iat
    const error = await rejection(auth.verify(sign(auth, claims)))
    expect([error.code, error.claim]).toEqual(['token_claim_missing', 'iat'])
  })

  it('accepts long lifetimes and a missing iat only when the bound is off', async () => {
    const auth = createTessera({ secret: SECRET, maxTokenAge: false })
    const claims = accessClaims({ exp: now() + 10 * 365 * 86_400 })
    await expect(auth.verify(sign(auth, claims))).resolves.toBeDefined()
    delete claims.iat
    await expect(auth.verify(sign(auth, claims))).resolves.toBeDefined()
  })

  it('takes one explicit bound for both types, and issues up to it with expiresIn', async () => {
    const auth = createTessera({ secret: SECRET, accessTokenTtl: '15m', maxTokenAge: '2h' })
    const token = await auth.createAccessToken('alice', { expiresIn: '2h' })
    await expect(auth.verify(token)).resolves.toBeDefined()
    const error = await rejection(auth.verify(sign(auth, accessClaims({ exp: now() + 7201 }))))
    expect(error.code).toBe('token_lifetime_exceeded')
  })

  it('refuses to create a token it would refuse to verify', async () => {
    const auth = createTessera({ secret: SECRET, accessTokenTtl: '15m' })
    const error = await rejection(auth.createAccessToken('alice', { expiresIn: '1h' }))
    expect(error.code).toBe('configuration_error')
    await expect(auth.createAccessToken('alice', { expiresIn: '1h' })).rejects.toThrow(
      /^expiresIn: 3600 s is longer than maxTokenAge allows for access tokens \(900 s\)/,
    )
    await expect(auth.createAccessToken('alice', { expiresIn: '10m' })).resolves.toBeTypeOf('string')
    // One bound shorter than a lifetime of the engine: the message names that lifetime, not expiresIn.
    const short = createTessera({ secret: SECRET, maxTokenAge: '10m' })
    await expect(short.createAccessToken('alice')).rejects.toThrow(
      /^accessTokenTtl: 900 s is longer than maxTokenAge allows for access tokens \(600 s\).*'ttl'/,
    )
    await expect(short.createRefreshToken('alice')).rejects.toThrow(/^refreshTokenTtl: 2592000 s is longer/)
  })

  it('rejects a bad maxTokenAge at start-up', () => {
    expect(() => createTessera({ secret: SECRET, maxTokenAge: 'forever' })).toThrow(/maxTokenAge/)
    expect(() => createTessera({ secret: SECRET, maxTokenAge: 0 })).toThrow(/maxTokenAge/)
  })
})

describe('revocation expiry', () => {
  it('is exp plus the leeway', () => {
    expect(revocationExpiry(1000, 0)).toBe(1000)
    expect(revocationExpiry(1000, 30)).toBe(1030)
  })

  it('keeps a revoked token refused for as long as the leeway lets it pass', async () => {
    vi.useFakeTimers({ now: Date.parse('2026-06-01T12:00:00Z') })
    const store = memoryRevocationStore({ sweepIntervalSeconds: 0 })
    const auth = createTessera({ secret: SECRET, leeway: 60, revocation: store, verifyCache: false })
    const token = await auth.createAccessToken('alice', { expiresIn: 60 })
    const { claims } = await auth.verify(token)
    await auth.revokeToken(claims)
    // 30 s after exp the token is still inside the leeway: it must still be revoked, not accepted.
    vi.setSystemTime((claims.exp + 30) * 1000)
    expect((await rejection(auth.verify(token))).code).toBe('token_revoked')
    store.close()
  })
})
