import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  createTessera,
  decodeUnverified,
  generateKey,
  memoryRevocationStore,
  TokenExpiredError,
  type RevocationStore,
  type Tessera,
} from '../../packages/tessera/src/index.js'
import { accessClaims, forge, SECRET } from '../helpers/forge.js'

const T0 = Date.parse('2026-06-01T12:00:00Z')

afterEach(() => {
  vi.useRealTimers()
})

async function rejection(
  promise: Promise<unknown>,
): Promise<{ code: string; status: number; message: string }> {
  try {
    await promise
  } catch (error) {
    return error as { code: string; status: number; message: string }
  }
  throw new Error('expected a rejection')
}

const sign = (auth: Tessera, header: Record<string, unknown>, payload: Record<string, unknown>): string =>
  forge({ alg: 'HS256', kid: auth.keys.active.kid, typ: 'at+jwt', ...header }, payload, auth.keys.active)

describe('verify', () => {
  it('returns header, claims and identity of a valid access token', async () => {
    const auth = createTessera({ secret: SECRET })
    const token = await auth.createAccessToken('alice', { claims: { roles: ['admin'] } })
    const result = await auth.verify(token)
    expect(result.identity).toBe('alice')
    expect(result.claims.roles).toEqual(['admin'])
    expect(result.header.typ).toBe('at+jwt')
  })

  it('answers synchronously from verifyInline with the memory store', async () => {
    const auth = createTessera({ secret: SECRET })
    const token = await auth.createAccessToken('alice')
    const result = auth.verifyInline(token)
    expect(result).not.toBeInstanceOf(Promise)
    expect((result as { identity: string }).identity).toBe('alice')
  })

  it('produces token_missing for an empty token and token_malformed for garbage', async () => {
    const auth = createTessera({ secret: SECRET })
    expect((await rejection(auth.verify(''))).code).toBe('token_malformed')
    expect((await rejection(auth.verify('not-a-token'))).code).toBe('token_malformed')
    expect((await rejection(auth.verify(undefined as never))).code).toBe('token_malformed')
  })

  it('refuses a token longer than maxTokenLength before parsing it', async () => {
    const auth = createTessera({ secret: SECRET, maxTokenLength: 200 })
    const token = await auth.createAccessToken('alice', { claims: { pad: 'x'.repeat(300) } })
    const error = await rejection(auth.verify(token))
    expect(error).toMatchObject({ code: 'token_malformed', status: 401 })
  })

  describe('time claims (frozen clock)', () => {
    it('accepts a token until its exp and refuses it from exp on (expired by 1 s)', async () => {
      vi.useFakeTimers({ now: T0 })
      const auth = createTessera({ secret: SECRET, accessTokenTtl: 60 })
      const token = await auth.createAccessToken('alice')
      vi.setSystemTime(T0 + 59_999)
      await expect(auth.verify(token)).resolves.toMatchObject({ identity: 'alice' })
      // RFC 7519 §4.1.4: the current time must be before exp, so a token is refused at exp itself.
      vi.setSystemTime(T0 + 60_000)
      expect((await rejection(auth.verify(token))).code).toBe('token_expired')
      vi.setSystemTime(T0 + 61_000)
      const error = await rejection(auth.verify(token))
      expect(error).toBeInstanceOf(TokenExpiredError)
      expect(error).toMatchObject({ code: 'token_expired', status: 401, claims: { sub: 'alice' } })
    })

    it('tolerates clock skew within the leeway, configured or per call', async () => {
      vi.useFakeTimers({ now: T0 })
      const auth = createTessera({ secret: SECRET, accessTokenTtl: 60, leeway: 10 })
      const token = await auth.createAccessToken('alice')
      vi.setSystemTime(T0 + 65_000)
      await expect(auth.verify(token)).resolves.toBeDefined()
      expect((await rejection(auth.verify(token, { leeway: 0 }))).code).toBe('token_expired')
      vi.setSystemTime(T0 + 71_000)
      expect((await rejection(auth.verify(token))).code).toBe('token_expired')
    })

    it('refuses a token whose nbf is in the future', async () => {
      vi.useFakeTimers({ now: T0 })
      const auth = createTessera({ secret: SECRET })
      const now = T0 / 1000
      const token = sign(auth, {}, accessClaims({ iat: now, nbf: now + 30, exp: now + 900 }))
      expect((await rejection(auth.verify(token))).code).toBe('token_not_yet_valid')
      vi.setSystemTime(T0 + 30_000)
      await expect(auth.verify(token)).resolves.toBeDefined()
    })

    // Another machine's clock a fraction of a second ahead wrote the next whole second as iat and nbf.
    it('accepts iat and nbf up to one second ahead of its clock, with no leeway: not two', async () => {
      vi.useFakeTimers({ now: T0 + 200 })
      const auth = createTessera({ secret: SECRET })
      const now = T0 / 1000
      const fresh = sign(auth, {}, accessClaims({ iat: now + 1, nbf: now + 1, exp: now + 901 }))
      await expect(auth.verify(fresh)).resolves.toBeDefined()
      for (const claims of [
        { iat: now + 2, nbf: undefined },
        { iat: now, nbf: now + 2 },
      ]) {
        const ahead = sign(auth, {}, accessClaims({ ...claims, exp: now + 900 }))
        expect((await rejection(auth.verify(ahead))).code).toBe('token_not_yet_valid')
      }
    })

    it('refuses a token issued in the future (iat)', async () => {
      vi.useFakeTimers({ now: T0 })
      const auth = createTessera({ secret: SECRET })
      const now = T0 / 1000
      const token = sign(auth, {}, accessClaims({ iat: now + 120, nbf: undefined, exp: now + 900 }))
      expect((await rejection(auth.verify(token))).code).toBe('token_not_yet_valid')
    })
  })

  describe('claims', () => {
    it.each(['exp', 'sub', 'jti', 'type'])(
      'refuses a token without %s (token_claim_missing)',
      async (claim) => {
        const auth = createTessera({ secret: SECRET })
        const token = sign(auth, {}, accessClaims({ [claim]: undefined }))
        expect((await rejection(auth.verify(token))).code).toBe('token_claim_missing')
      },
    )

    it.each([
      ['exp as a string', { exp: '9999999999' }],
      ['nbf as a string', { nbf: 'now' }],
      ['iat as null', { iat: null }],
      ['sub as a number', { sub: 42 }],
      ['sub as an object', { sub: { id: 1 } }],
      ['an empty sub', { sub: '' }],
      ['jti as a number', { jti: 7 }],
      ['an unknown type', { type: 'id' }],
      ['fresh as a string', { fresh: 'yes' }],
      ['aud as a number', { aud: 5 }],
    ])('refuses %s (token_claim_invalid)', async (_title, overrides) => {
      const auth = createTessera({ secret: SECRET })
      const token = sign(auth, {}, accessClaims(overrides))
      expect((await rejection(auth.verify(token))).code).toBe('token_claim_invalid')
    })

    it('requires extra claims when asked', async () => {
      const auth = createTessera({ secret: SECRET })
      const token = await auth.createAccessToken('alice')
      expect((await rejection(auth.verify(token, { requiredClaims: ['roles'] }))).code).toBe(
        'token_claim_missing',
      )
    })

    it('reads the identity from a configured identity claim', async () => {
      const auth = createTessera({ secret: SECRET, identityClaim: 'uid' })
      const token = await auth.createAccessToken('alice')
      expect(decodeUnverified(token).payload.uid).toBe('alice')
      expect((await auth.verify(token)).identity).toBe('alice')
    })
  })

  describe('type', () => {
    it('refuses a refresh token where an access token is expected, and the reverse', async () => {
      const auth = createTessera({ secret: SECRET })
      const access = await auth.createAccessToken('alice')
      const refresh = await auth.createRefreshToken('alice')
      expect((await rejection(auth.verify(refresh))).code).toBe('token_wrong_type')
      expect((await rejection(auth.verify(access, { type: 'refresh' }))).code).toBe('token_wrong_type')
      await expect(auth.verify(refresh, { type: 'refresh' })).resolves.toBeDefined()
      await expect(auth.verify(refresh, { type: 'any' })).resolves.toBeDefined()
      await expect(auth.verify(access, { type: 'any' })).resolves.toBeDefined()
    })

    it('refuses a token whose type claim and typ header disagree', async () => {
      const auth = createTessera({ secret: SECRET })
      const refreshClaimAccessTyp = sign(auth, { typ: 'at+jwt' }, accessClaims({ type: 'refresh' }))
      const accessClaimJwtTyp = sign(auth, { typ: 'JWT' }, accessClaims())
      const noTyp = sign(auth, { typ: undefined }, accessClaims())
      for (const token of [refreshClaimAccessTyp, accessClaimJwtTyp, noTyp]) {
        expect((await rejection(auth.verify(token))).code).toBe('token_wrong_type')
      }
      // The message says which part is wrong: the type claim, or the header alone (never echoed).
      expect((await rejection(auth.verify(refreshClaimAccessTyp))).message).toBe(
        'Only access tokens are accepted here',
      )
      for (const token of [accessClaimJwtTyp, noTyp]) {
        expect((await rejection(auth.verify(token))).message).toBe(
          'The token header "typ" is not "at+jwt", the type of access tokens (RFC 9068)',
        )
      }
      expect((await rejection(auth.verify(refreshClaimAccessTyp, { type: 'any' }))).code).toBe(
        'token_wrong_type',
      )
    })

    it('accepts typ in any case and with the application/ prefix (RFC 7515 §4.1.9)', async () => {
      const auth = createTessera({ secret: SECRET })
      await expect(
        auth.verify(sign(auth, { typ: 'application/AT+JWT' }, accessClaims())),
      ).resolves.toBeDefined()
    })
  })

  describe('audience and issuer', () => {
    it('accepts a matching audience (string or list) and refuses another one', async () => {
      const auth = createTessera({ secret: SECRET, audience: ['api', 'admin'] })
      await expect(
        auth.verify(await auth.createAccessToken('alice', { audience: 'admin' })),
      ).resolves.toBeDefined()
      await expect(
        auth.verify(await auth.createAccessToken('alice', { audience: ['x', 'api'] })),
      ).resolves.toBeDefined()
      const other = await auth.createAccessToken('alice', { audience: 'billing' })
      expect((await rejection(auth.verify(other))).code).toBe('token_wrong_audience')
      const none = sign(auth, {}, accessClaims())
      expect((await rejection(auth.verify(none))).code).toBe('token_claim_missing')
    })

    it('refuses a token with an audience when none is expected (RFC 7519 §4.1.3)', async () => {
      const auth = createTessera({ secret: SECRET })
      const token = await auth.createAccessToken('alice', { audience: 'elsewhere' })
      expect((await rejection(auth.verify(token))).code).toBe('token_wrong_audience')
      await expect(auth.verify(token, { audience: 'elsewhere' })).resolves.toBeDefined()
    })

    it('checks the issuer when one is configured', async () => {
      const auth = createTessera({ secret: SECRET, issuer: 'https://auth.example' })
      await expect(auth.verify(await auth.createAccessToken('alice'))).resolves.toBeDefined()
      const wrong = await auth.createAccessToken('alice', { issuer: 'https://evil.example' })
      expect((await rejection(auth.verify(wrong))).code).toBe('token_wrong_issuer')
      expect(await rejection(auth.verify(sign(auth, {}, accessClaims())))).toMatchObject({
        code: 'token_claim_missing',
      })
      expect(await rejection(auth.verify(sign(auth, {}, accessClaims({ iss: 7 }))))).toMatchObject({
        code: 'token_wrong_issuer',
      })
    })
  })

  describe('freshness', () => {
    it('requires fresh: true or an unexpired freshness deadline', async () => {
      vi.useFakeTimers({ now: T0 })
      const auth = createTessera({ secret: SECRET })
      const stale = await auth.createAccessToken('alice')
      const fresh = await auth.createAccessToken('alice', { fresh: true })
      const freshFor = await auth.createAccessToken('alice', { fresh: '5m' })
      expect((await rejection(auth.verify(stale, { fresh: true }))).code).toBe('fresh_token_required')
      await expect(auth.verify(stale)).resolves.toBeDefined()
      await expect(auth.verify(fresh, { fresh: true })).resolves.toBeDefined()
      await expect(auth.verify(freshFor, { fresh: true })).resolves.toBeDefined()
      vi.setSystemTime(T0 + 5 * 60_000)
      expect((await rejection(auth.verify(freshFor, { fresh: true }))).code).toBe('fresh_token_required')
      await expect(auth.verify(fresh, { fresh: true })).resolves.toBeDefined()
    })
  })

  describe('revocation', () => {
    it('refuses a revoked token on the very next verification, and only that token', async () => {
      const auth = createTessera({ secret: SECRET })
      const one = await auth.createAccessToken('alice')
      const two = await auth.createAccessToken('alice')
      await auth.revokeToken((await auth.verify(one)).claims)
      expect((await rejection(auth.verify(one))).code).toBe('token_revoked')
      await expect(auth.verify(two)).resolves.toBeDefined()
      await expect(auth.verify(one, { skipRevocationCheck: true })).resolves.toBeDefined()
    })

    it('revokes every token of a session', async () => {
      const auth = createTessera({ secret: SECRET })
      const access = await auth.createAccessToken('alice', { sid: 's1' })
      const refresh = await auth.createRefreshToken('alice', { sid: 's1' })
      const other = await auth.createAccessToken('alice', { sid: 's2' })
      await auth.revokeSession('s1')
      expect((await rejection(auth.verify(access))).code).toBe('token_revoked')
      expect((await rejection(auth.verify(refresh, { type: 'refresh' }))).code).toBe('token_revoked')
      await expect(auth.verify(other)).resolves.toBeDefined()
    })

    it('takes a token created without a sid as its own session: revokeSession(jti) refuses it alone', async () => {
      const auth = createTessera({ secret: SECRET })
      const lone = await auth.createAccessToken('alice')
      const other = await auth.createAccessToken('alice')
      const { jti } = (await auth.verify(lone)).claims
      await auth.revokeSession(jti)
      expect((await rejection(auth.verify(lone))).code).toBe('token_revoked')
      await expect(auth.verify(other)).resolves.toBeDefined()
      // A token with a session of its own is not its jti's session.
      const withSid = await auth.createAccessToken('alice', { sid: 's9' })
      await auth.revokeSession((await auth.verify(withSid)).claims.jti)
      await expect(auth.verify(withSid)).resolves.toBeDefined()
    })

    it("revokes a user's earlier tokens, including those issued this second, but not other users'", async () => {
      vi.useFakeTimers({ now: T0 + 400 })
      const auth = createTessera({ secret: SECRET })
      const alice = await auth.createAccessToken('alice')
      const bob = await auth.createAccessToken('bob')
      vi.setSystemTime(T0 + 700)
      await auth.revokeUser('alice')
      expect((await rejection(auth.verify(alice))).code).toBe('token_revoked')
      await expect(auth.verify(bob)).resolves.toBeDefined()
      vi.setSystemTime(T0 + 1_500)
      await expect(auth.verify(await auth.createAccessToken('alice'))).resolves.toBeDefined()
    })

    it('awaits an asynchronous store', async () => {
      const revoked = new Set<string>()
      const store: RevocationStore = {
        isRevoked: async ({ jti }) => Promise.resolve(jti !== undefined && revoked.has(jti)),
        revokeToken: async (jti) => {
          revoked.add(jti)
          return Promise.resolve()
        },
        revokeSession: () => undefined,
        revokeUser: () => undefined,
      }
      const auth = createTessera({ secret: SECRET, revocation: store })
      const token = await auth.createAccessToken('alice')
      expect(auth.verifyInline(token)).toBeInstanceOf(Promise)
      await auth.revokeToken((await auth.verify(token)).claims)
      expect((await rejection(auth.verify(token))).code).toBe('token_revoked')
    })

    it('refuses revocation calls when revocation is off', async () => {
      const auth = createTessera({ secret: SECRET, revocation: false })
      await expect(auth.revokeSession('s1')).rejects.toMatchObject({ code: 'configuration_error' })
    })

    it('forgets revocations once the tokens they affect have expired', () => {
      vi.useFakeTimers({ now: T0 })
      const store = memoryRevocationStore({ sweepIntervalSeconds: 0 })
      const now = T0 / 1000
      store.revokeToken('j1', now + 10)
      store.revokeSession('s1', now + 20)
      store.revokeUser('u1', now, now + 30)
      expect(store.size()).toEqual({ tokens: 1, sessions: 1, users: 1 })
      expect(store.isRevoked({ jti: 'j1' })).toBe(true)
      expect(store.sweep(now + 15)).toBe(1)
      expect(store.isRevoked({ jti: 'j1' })).toBe(false)
      vi.setSystemTime(T0 + 25_000)
      expect(store.isRevoked({ sid: 's1' })).toBe(false)
      expect(store.size().sessions).toBe(1) // ignored, not dropped: only a sweep deletes
      expect(store.sweep()).toBe(1)
      expect(store.size().sessions).toBe(0)
      expect(store.isRevoked({ sub: 'u1', iat: now - 1 })).toBe(true)
      expect(store.isRevoked({ sub: 'u1', iat: now })).toBe(false)
      expect(store.isRevoked({ sub: 'u1' })).toBe(true)
      expect(store.sweep(now + 31)).toBe(1)
      expect(store.size()).toEqual({ tokens: 0, sessions: 0, users: 0 })
    })

    // A clock set 400 days ahead and put right again: had the lookup dropped the entries it found
    // expired, the revoked token, the session and the user's older tokens would all pass again.
    it('keeps entries met after their expiry, so a clock set back revokes again', () => {
      vi.useFakeTimers({ now: T0 })
      const store = memoryRevocationStore({ sweepIntervalSeconds: 0 })
      const now = T0 / 1000
      store.revokeToken('j1', now + 900)
      store.revokeSession('s1', now + 900)
      store.revokeUser('u1', now, now + 900)
      vi.setSystemTime(T0 + 400 * 86_400_000)
      expect(store.isRevoked({ jti: 'j1' })).toBe(false)
      expect(store.isRevoked({ sid: 's1' })).toBe(false)
      expect(store.isRevoked({ sub: 'u1', iat: now - 1 })).toBe(false)
      vi.setSystemTime(T0 + 60_000)
      expect(store.isRevoked({ jti: 'j1' })).toBe(true)
      expect(store.isRevoked({ sid: 's1' })).toBe(true)
      expect(store.isRevoked({ sub: 'u1', iat: now - 1 })).toBe(true)
      expect(store.size()).toEqual({ tokens: 1, sessions: 1, users: 1 })
      store.close()
    })

    it('sweeps expired entries on a timer that does not keep the process alive', () => {
      vi.useFakeTimers({ now: T0 })
      const store = memoryRevocationStore({ sweepIntervalSeconds: 5 })
      store.revokeToken('j1', T0 / 1000 + 1)
      vi.advanceTimersByTime(6_000)
      expect(store.size().tokens).toBe(0)
      store.close()
    })
  })

  describe('keys', () => {
    it('verifies tokens signed by a rotated-out key and refuses them once it is removed', async () => {
      const auth = createTessera({ keys: await generateKey('ES256') })
      const old = await auth.createAccessToken('alice')
      const oldKid = auth.keys.active.kid
      await auth.keys.rotate()
      await expect(auth.verify(old)).resolves.toBeDefined()
      await expect(auth.verify(await auth.createAccessToken('alice'))).resolves.toBeDefined()
      auth.keys.remove(oldKid)
      expect((await rejection(auth.verify(old))).code).toBe('token_unknown_key')
    })

    it('verifies a token without kid with the active key only', async () => {
      const auth = createTessera({ secret: SECRET })
      await expect(auth.verify(sign(auth, { kid: undefined }, accessClaims()))).resolves.toBeDefined()
    })
  })
})
