// refusingVerify / throwingVerify: the adapters' verifier answers a refusal as a value, and must answer
// exactly what verifyInline throws, for every kind of bad token, from every cache state.
import { describe, expect, it } from 'vitest'
import {
  createTessera,
  memoryRevocationStore,
  refusingVerify,
  throwingVerify,
  TokenError,
  TokenRevokedError,
  type RefusingVerify,
  type Tessera,
  type VerifiedToken,
  type VerifyOptions,
} from '../../packages/tessera/src/index.js'
import { accessClaims, forge, SECRET } from '../helpers/forge.js'

const auth = createTessera({ secret: SECRET })
const signer = { hmacSecret: SECRET }
const header = { alg: 'HS256', kid: auth.keys.active.kid, typ: 'at+jwt' }

function thrownCode(verify: () => unknown): string {
  try {
    verify()
  } catch (error) {
    return (error as { code: string }).code
  }
  return 'accepted'
}

async function badTokens(): Promise<Record<string, string>> {
  const valid = await auth.createAccessToken('alice')
  const refresh = await auth.createRefreshToken('alice')
  return {
    token_malformed: 'not.a.jwt!',
    token_invalid_signature: `${valid.slice(0, -3)}${valid.endsWith('AAA') ? 'BBB' : 'AAA'}`,
    token_algorithm_rejected: forge({ ...header, alg: 'none' }, accessClaims(), { signature: '' }),
    token_header_rejected: forge({ ...header, jwk: { kty: 'oct', k: 'AA' } }, accessClaims(), signer),
    token_unknown_key: forge({ ...header, kid: 'no-such-key' }, accessClaims(), signer),
    token_expired: forge(header, accessClaims({ iat: 1, nbf: 1, exp: 2 }), signer),
    token_claim_missing: forge(header, accessClaims({ jti: undefined }), signer),
    token_wrong_type: refresh,
    token_not_yet_valid: forge(header, accessClaims({ nbf: Math.floor(Date.now() / 1000) + 3600 }), signer),
  }
}

describe('refusingVerify', () => {
  it('returns, as a value, the very refusal verifyInline throws, from every cache state', async () => {
    const refusing = refusingVerify(auth)
    for (const [code, token] of Object.entries(await badTokens())) {
      // Three times: a refused signature is remembered after the second.
      for (let i = 0; i < 3; i++) {
        const answer = refusing(token)
        expect(answer, code).toBeInstanceOf(TokenError)
        expect((answer as TokenError).code, code).toBe(code)
        expect(
          thrownCode(() => auth.verifyInline(token)),
          code,
        ).toBe(code)
      }
    }
  })

  it('accepts what verifyInline accepts, with the same claims', async () => {
    const token = await auth.createAccessToken('alice', { claims: { roles: ['admin'] } })
    for (let i = 0; i < 3; i++) {
      const answer = refusingVerify(auth)(token) as VerifiedToken
      expect(answer).not.toBeInstanceOf(TokenError)
      expect(answer.identity).toBe('alice')
      expect(answer.claims).toEqual((auth.verifyInline(token) as VerifiedToken).claims)
    }
  })

  it('is the engine’s own verifier, not a wrapper around the throwing one', () => {
    expect(refusingVerify(auth)).toBe(refusingVerify(auth))
    expect(refusingVerify({ ...auth })).toBe(refusingVerify(auth))
  })

  it('resolves to the refusal when a step is asynchronous, where verifyInline rejects', async () => {
    const memory = memoryRevocationStore()
    const slow = createTessera({
      secret: SECRET,
      revocation: {
        isRevoked: (subject) => Promise.resolve(memory.isRevoked(subject)),
        revokeToken: (jti, expiresAt) => {
          memory.revokeToken(jti, expiresAt)
        },
        revokeSession: (sid, expiresAt) => {
          memory.revokeSession(sid, expiresAt)
        },
        revokeUser: (sub, before, expiresAt) => {
          memory.revokeUser(sub, before, expiresAt)
        },
      },
    })
    const token = await slow.createAccessToken('alice')
    await slow.revokeToken((await slow.verify(token)).claims)
    const pending = refusingVerify(slow)(token)
    expect(pending).toBeInstanceOf(Promise)
    expect(await pending).toBeInstanceOf(TokenRevokedError)
    await expect(slow.verifyInline(token)).rejects.toBeInstanceOf(TokenRevokedError)
  })

  it('catches the refusals a hand-written verifyInline throws, and lets other errors through', async () => {
    const valid = await auth.createAccessToken('alice')
    let calls = 0
    // Written as a method: it is called on its object, `this` intact.
    const wrapped = {
      inner: auth,
      verifyInline(this: { inner: Tessera }, token: unknown, options?: VerifyOptions) {
        calls++
        if (token === 'boom') throw new RangeError('not a refusal')
        return this.inner.verifyInline(token, options)
      },
    } as unknown as Pick<Tessera, 'verifyInline'>
    const refusing = refusingVerify(wrapped)
    expect(refusing('x.y.z')).toBeInstanceOf(TokenError)
    expect(refusing(valid)).toMatchObject({ identity: 'alice' })
    expect(() => refusing('boom')).toThrow(RangeError)
    expect(calls).toBe(3)
  })
})

describe('throwingVerify', () => {
  it('throws what the refusing verifier returns and hands the pair back to refusingVerify', async () => {
    const own = refusingVerify(auth)
    const seen: unknown[] = []
    const verify: RefusingVerify = (token, options) => {
      seen.push(token)
      return own(token, options)
    }
    const verifyInline = throwingVerify(verify)
    expect(refusingVerify({ verifyInline })).toBe(verify)
    expect(thrownCode(() => verifyInline('x.y.z'))).toBe('token_malformed')
    const valid = await auth.createAccessToken('alice')
    expect(verifyInline(valid)).toMatchObject({ identity: 'alice' })
    expect(seen).toEqual(['x.y.z', valid])
  })

  it('turns a promise or thenable settling on a refusal into a rejection, never a success', async () => {
    const refusal = new TokenRevokedError('revoked', {} as never, {} as never)
    const viaPromise = throwingVerify(() => Promise.resolve(refusal))
    await expect(viaPromise('t')).rejects.toBe(refusal)
    const thenable = {
      // A hand-written verifier's own thenable.
      then: (resolve: (value: TokenError) => void) => {
        resolve(refusal)
      },
    }
    const viaThenable = throwingVerify(() => thenable as unknown as Promise<TokenError>)
    await expect(viaThenable('t')).rejects.toBe(refusal)
  })
})
