/**
 * The verified-token cache (`verifyCache`): a token seen again skips only the signature computation.
 * Every property issue 6 asks of a safe cache is checked here as an attack that must still be refused:
 * expiry and nbf on a hit, revocation on a hit, a removed key, a refusal remembered only as a refusal, the bound.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  ConfigurationError,
  createTessera,
  importKey,
  type TesseraKey,
  type TesseraOptions,
} from '../../packages/tessera/src/index.js'
import { CACHEABLE_TOKEN_LENGTH } from '../../packages/tessera/src/core/jws.js'
import { SECRET } from '../helpers/forge.js'

afterEach(() => {
  vi.useRealTimers()
})

/** An HS256 key that counts how often its signature check runs. */
function countingKey(kid = 'k1'): { key: TesseraKey; calls: () => number } {
  const inner = importKey({ alg: 'HS256', kid, secret: SECRET })
  let calls = 0
  const key: TesseraKey = {
    kid: inner.kid,
    alg: inner.alg,
    canSign: inner.canSign,
    publicJwk: inner.publicJwk,
    sign: inner.sign,
    verify: (input, signature) => {
      calls++
      return inner.verify(input, signature)
    },
  }
  return { key, calls: () => calls }
}

function engine(options: Omit<TesseraOptions, 'keys' | 'secret'> = {}) {
  const { key, calls } = countingKey()
  return { auth: createTessera({ keys: key, ...options }), calls }
}

const T0 = new Date('2026-06-01T12:00:00Z')

/** Presents `token` twice, so that the cache admits it: the next verification is a hit. */
async function cached(auth: ReturnType<typeof createTessera>, token: string): Promise<void> {
  await auth.verify(token)
  await auth.verify(token)
}

describe('verified-token cache', () => {
  it('verifies the signature of a token twice (the second time admits it) and then answers it from the cache', async () => {
    const { auth, calls } = engine()
    const token = await auth.createAccessToken('alice')
    for (let i = 0; i < 5; i++) expect((await auth.verify(token)).identity).toBe('alice')
    expect(calls()).toBe(2)
  })

  it('does not churn: tokens presented once are not kept, and a token presented again is admitted', async () => {
    const { auth, calls } = engine({ verifyCache: 4 })
    const tokens = await Promise.all(
      Array.from({ length: 12 }, (_, i) => auth.createAccessToken(`user${String(i)}`)),
    )
    // More distinct tokens than the cache holds, each presented once: verified once each, none kept —
    // caching each would have left the last four in the cache, and tokens[8] would now be a hit.
    for (const token of tokens) await auth.verify(token)
    expect(calls()).toBe(12)
    await auth.verify(tokens[8] as string)
    expect(calls()).toBe(13)
    // A token presented again is admitted by its second or, if a later token took its slot in the
    // table of first sightings, its third verification, and answered from the cache from then on.
    const last = tokens[11] as string
    for (let i = 0; i < 3; i++) await auth.verify(last)
    const settled = calls()
    expect(settled - 13).toBeLessThanOrEqual(2)
    for (let i = 0; i < 3; i++) expect((await auth.verify(last)).identity).toBe('user11')
    expect(calls()).toBe(settled)
  })

  it('checks the signature on every call when the cache is off (false or 0)', async () => {
    for (const verifyCache of [false, 0] as const) {
      const { auth, calls } = engine({ verifyCache })
      const token = await auth.createAccessToken('alice')
      for (let i = 0; i < 3; i++) await auth.verify(token)
      expect(calls()).toBe(3)
      expect(auth.config.verifyCache).toBe(0)
    }
  })

  it('defaults to 10,000 tokens, and true means the default', () => {
    expect(createTessera({ secret: SECRET }).config.verifyCache).toBe(10_000)
    expect(createTessera({ secret: SECRET, verifyCache: true }).config.verifyCache).toBe(10_000)
    expect(createTessera({ secret: SECRET, verifyCache: 50 }).config.verifyCache).toBe(50)
  })

  it.each([-1, 1.5, Number.NaN, '100', null])(
    'refuses verifyCache: %s with a ConfigurationError',
    (value) => {
      const make = () => createTessera({ secret: SECRET, verifyCache: value as number })
      expect(make).toThrow(ConfigurationError)
      expect(make).toThrow(/verifyCache/)
    },
  )

  it('remembers a bad signature only as a refusal: the same bad token is refused again without the cryptography, and nothing passes', async () => {
    const { auth, calls } = engine()
    const token = await auth.createAccessToken('alice')
    const at = token.lastIndexOf('.') + 1
    const bad = `${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}`
    for (let i = 0; i < 5; i++) {
      await expect(auth.verify(bad)).rejects.toMatchObject({ code: 'token_invalid_signature' })
    }
    // Computed on the first two refusals (the second admits it), answered from the table after.
    expect(calls()).toBe(2)
    // The good token is still verified (twice, then cached) on its own: the refusals admitted nothing.
    for (let i = 0; i < 3; i++) expect((await auth.verify(token)).identity).toBe('alice')
    expect(calls()).toBe(4)
    // And the bad one stays refused after the good one was cached (they share header and payload).
    await expect(auth.verify(bad)).rejects.toMatchObject({ code: 'token_invalid_signature' })
  })

  it('keys remembered refusals by the whole token: a token that only shares the bad signature is verified', async () => {
    const { auth, calls } = engine()
    const token = await auth.createAccessToken('alice')
    const [header, payload, signature = ''] = token.split('.')
    const forged = `${header}.${payload}.${signature.slice(0, -2)}AA`
    for (let i = 0; i < 3; i++)
      await expect(auth.verify(forged)).rejects.toMatchObject({ code: 'token_invalid_signature' })
    expect(calls()).toBe(2)
    // Another payload with the same remembered bad signature: verified (and refused) on its own.
    const other = (await auth.createAccessToken('mallory')).split('.')[1]
    await expect(auth.verify(`${header}.${other}.${signature.slice(0, -2)}AA`)).rejects.toMatchObject({
      code: 'token_invalid_signature',
    })
    expect(calls()).toBe(3)
    // The real token, whose signature differs from the remembered one, verifies.
    expect((await auth.verify(token)).identity).toBe('alice')
  })

  it('forgets remembered refusals when the key ring changes: a token refused under the old keys verifies under a new one', async () => {
    const { key, calls } = countingKey('k1')
    // k0 signs; k1 (the counting key) is a second key of the ring with a secret the issuer does not use.
    const auth = createTessera({ keys: [importKey({ alg: 'HS256', kid: 'k0', secret: SECRET }), key] })
    const issuer = createTessera({ keys: importKey({ alg: 'HS256', kid: 'k1', secret: `${SECRET}-other` }) })
    const token = await issuer.createAccessToken('alice')
    for (let i = 0; i < 3; i++)
      await expect(auth.verify(token)).rejects.toMatchObject({ code: 'token_invalid_signature' })
    expect(calls()).toBe(2)
    // k1 is replaced by the issuer's key: the refusal must not outlive the ring it was made under.
    expect(auth.keys.remove('k1')).toBe(true)
    auth.keys.add(importKey({ alg: 'HS256', kid: 'k1', secret: `${SECRET}-other` }))
    expect((await auth.verify(token)).identity).toBe('alice')
  })

  it('bounds the remembered refusals and computes every refusal when the cache is off', async () => {
    const off = engine({ verifyCache: false })
    const token = await off.auth.createAccessToken('alice')
    const bad = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`
    for (let i = 0; i < 3; i++)
      await expect(off.auth.verify(bad)).rejects.toMatchObject({ code: 'token_invalid_signature' })
    expect(off.calls()).toBe(3)
    // verifyCache 2: at most two refusals remembered, the oldest leaving first.
    const small = engine({ verifyCache: 2 })
    const base = await small.auth.createAccessToken('alice')
    const bads = ['AA', 'BB', 'CC'].map((end) => `${base.slice(0, -2)}${end}`).filter((t) => t !== base)
    for (const t of bads) {
      for (let i = 0; i < 2; i++)
        await expect(small.auth.verify(t)).rejects.toMatchObject({ code: 'token_invalid_signature' })
    }
    const before = small.calls()
    // The first one was evicted by the later two: computed again.
    await expect(small.auth.verify(bads[0] as string)).rejects.toMatchObject({
      code: 'token_invalid_signature',
    })
    expect(small.calls()).toBe(before + 1)
  })

  it('keys the cache by the whole token: a token differing only in its signature is verified', async () => {
    const { auth, calls } = engine()
    const token = await auth.createAccessToken('alice')
    await auth.verify(token)
    // Same header and payload, signature with a trailing character dropped: must not hit the entry.
    await expect(auth.verify(token.slice(0, -1))).rejects.toMatchObject({ code: 'token_invalid_signature' })
    expect(calls()).toBe(2)
    // Same signature, another payload (a forgery reusing a valid signature): refused, not a hit.
    const [header, , signature] = token.split('.')
    const other = await auth.createAccessToken('mallory')
    const spliced = `${header}.${other.split('.')[1]}.${signature}`
    await expect(auth.verify(spliced)).rejects.toMatchObject({ code: 'token_invalid_signature' })
    expect(calls()).toBe(3)
  })

  it('still refuses a cached token once it has expired (exp checked on every hit)', async () => {
    vi.useFakeTimers({ now: T0 })
    const { auth, calls } = engine({ accessTokenTtl: '5m' })
    const token = await auth.createAccessToken('alice')
    await cached(auth, token)
    vi.setSystemTime(T0.getTime() + 5 * 60_000 - 1000)
    await auth.verify(token)
    vi.setSystemTime(T0.getTime() + 5 * 60_000)
    await expect(auth.verify(token)).rejects.toMatchObject({ code: 'token_expired' })
    expect(calls()).toBe(2)
  })

  it('still refuses a cached token before its nbf (the clock moved back)', async () => {
    vi.useFakeTimers({ now: T0 })
    const { auth } = engine()
    const token = await auth.createAccessToken('alice')
    await cached(auth, token)
    vi.setSystemTime(T0.getTime() - 60_000)
    await expect(auth.verify(token)).rejects.toMatchObject({ code: 'token_not_yet_valid' })
  })

  it('still refuses a cached token after it, its session or its user is revoked', async () => {
    const { auth } = engine()
    const one = await auth.createAccessToken('alice')
    const inSession = await auth.createAccessToken('bob', { sid: 's-1' })
    const ofUser = await auth.createAccessToken('carol')
    for (const token of [one, inSession, ofUser]) await cached(auth, token)

    const claims = (await auth.verify(one)).claims
    await auth.revokeToken(claims)
    await auth.revokeSession('s-1')
    await auth.revokeUser('carol', Math.floor(Date.now() / 1000) + 1)
    for (const token of [one, inSession, ofUser]) {
      await expect(auth.verify(token)).rejects.toMatchObject({ code: 'token_revoked' })
    }
  })

  it('applies the per-call rules on a hit: type, freshness and audience', async () => {
    const { auth } = engine()
    const access = await auth.createAccessToken('alice')
    await cached(auth, access)
    await expect(auth.verify(access, { type: 'refresh' })).rejects.toMatchObject({ code: 'token_wrong_type' })
    await expect(auth.verify(access, { fresh: true })).rejects.toMatchObject({
      code: 'fresh_token_required',
    })
    await expect(auth.verify(access, { audience: 'api' })).rejects.toMatchObject({
      code: 'token_claim_missing',
    })
  })

  it('forgets everything when the key ring changes: a removed key no longer verifies its cached tokens', async () => {
    const { key, calls } = countingKey('old')
    const auth = createTessera({ keys: key })
    const token = await auth.createAccessToken('alice')
    await auth.verify(token)
    await auth.verify(token)
    await auth.verify(token)
    expect(calls()).toBe(2)
    await auth.keys.rotate()
    // Rotation keeps the old key for verification; the cache was cleared, so it is checked again.
    await auth.verify(token)
    expect(calls()).toBe(3)
    expect(auth.keys.remove('old')).toBe(true)
    await expect(auth.verify(token)).rejects.toMatchObject({ code: 'token_unknown_key' })
  })

  it('hands out deeply frozen claims and header, so no caller can change what the next one sees', async () => {
    for (const verifyCache of [true, false]) {
      const { auth } = engine({ verifyCache })
      const token = await auth.createAccessToken('alice', { claims: { roles: ['user'] } })
      const first = await auth.verify<{ roles: string[] }>(token)
      expect(Object.isFrozen(first.claims)).toBe(true)
      expect(Object.isFrozen(first.claims.roles)).toBe(true)
      expect(Object.isFrozen(first.header)).toBe(true)
      // Typed read-only at every depth too (test/core/types.test-d.ts): only a cast reaches push.
      expect(() => (first.claims.roles as string[]).push('admin')).toThrow(TypeError)
      expect(() => {
        ;(first.claims as Record<string, unknown>).sub = 'mallory'
      }).toThrow(TypeError)
      expect(() => {
        ;(first.header as Record<string, unknown>).alg = 'none'
      }).toThrow(TypeError)
      const second = await auth.verify<{ roles: string[] }>(token)
      expect(second.claims.roles).toEqual(['user'])
      expect(second.identity).toBe('alice')
      // A copy is the way to build on them.
      expect({ ...second.claims, extra: 1 }).toMatchObject({ sub: 'alice', extra: 1 })
    }
  })

  it('is bounded: beyond its size the oldest token is forgotten and verified again', async () => {
    const { auth, calls } = engine({ verifyCache: 2 })
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((sub) => auth.createAccessToken(sub)))
    // Each verified twice, so each is admitted; a's entry leaves when c's arrives.
    for (const token of [a, b, c]) {
      await auth.verify(token as string)
      await auth.verify(token as string)
    }
    expect(calls()).toBe(6)
    await auth.verify(c as string)
    await auth.verify(b as string)
    expect(calls()).toBe(6)
    await auth.verify(a as string)
    expect(calls()).toBe(7)
  })

  it('refuses a deeply nested header with a token error, not a stack overflow', async () => {
    const auth = createTessera({ secret: SECRET, maxTokenLength: 400_000 })
    const depth = 100_000
    const header = Buffer.from(`{"alg":"HS256","x":${'['.repeat(depth)}${']'.repeat(depth)}}`).toString(
      'base64url',
    )
    const [, payload, signature] = (await auth.createAccessToken('alice')).split('.')
    await expect(auth.verify(`${header}.${String(payload)}.${String(signature)}`)).rejects.toMatchObject({
      code: 'token_invalid_signature',
    })
  })

  it(`does not remember tokens longer than ${String(CACHEABLE_TOKEN_LENGTH)} characters`, async () => {
    const { auth, calls } = engine()
    const big = await auth.createAccessToken('alice', {
      claims: { blob: 'x'.repeat(CACHEABLE_TOKEN_LENGTH) },
    })
    expect(big.length).toBeGreaterThan(CACHEABLE_TOKEN_LENGTH)
    for (let i = 0; i < 3; i++) await auth.verify(big)
    expect(calls()).toBe(3)
  })
})
