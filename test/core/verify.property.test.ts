// Property-based tests: whatever the input, verification either succeeds on the genuine token or fails
// with one of Tessera's typed errors. Never a TypeError, never a crash, never an accepted forgery.
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { createTessera, generateKey, isTesseraError, type Tessera } from '../../packages/tessera/src/index.js'
import { b64, forge, SECRET } from '../helpers/forge.js'

const RUNS = Number(process.env.TESSERA_FUZZ_RUNS ?? 300)

function outcome(auth: Tessera, token: unknown): string {
  try {
    const result = auth.verifyInline(token)
    if (result instanceof Promise) throw new Error('memory store should answer synchronously')
    return 'accepted'
  } catch (error) {
    if (!isTesseraError(error)) throw error
    return error.code
  }
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')

describe.each(['HS256', 'EdDSA', 'ES256'] as const)('verify under fuzzing (%s)', (alg) => {
  let auth: Tessera
  let token: string

  beforeAll(async () => {
    auth = createTessera({ keys: alg === 'HS256' ? { alg, secret: SECRET } : await generateKey(alg) })
    token = await auth.createAccessToken('alice', { claims: { roles: ['user'] } })
  })

  it('accepts the genuine token', () => {
    expect(outcome(auth, token)).toBe('accepted')
  })

  it('never accepts a token with any character changed, inserted or deleted', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.constantFrom('replace', 'insert', 'delete'),
            at: fc.nat(),
            char: fc.constantFrom(...BASE64URL, '.', '=', '+', '/', ' ', '\u00e9'),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        (edits) => {
          let mutated = token
          for (const { kind, at, char } of edits) {
            const i = at % (mutated.length + 1)
            if (kind === 'replace') mutated = mutated.slice(0, i) + char + mutated.slice(i + 1)
            else if (kind === 'insert') mutated = mutated.slice(0, i) + char + mutated.slice(i)
            else mutated = mutated.slice(0, i) + mutated.slice(i + 1)
          }
          fc.pre(mutated !== token)
          expect(outcome(auth, mutated)).not.toBe('accepted')
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('fails with a typed error on arbitrary strings and values', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.stringMatching(/^[A-Za-z0-9_.-]{0,400}$/), fc.anything()),
        (input) => {
          expect(outcome(auth, input)).not.toBe('accepted')
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('fails with a typed error on arbitrary JSON headers and payloads, signed or not', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), fc.boolean(), (header, payload, signed) => {
        const forged = signed
          ? forge(header, payload, auth.keys.active)
          : `${b64(header)}.${b64(payload)}.${token.split('.')[2]!}`
        expect(outcome(auth, forged)).not.toBe('accepted')
      }),
      { numRuns: RUNS },
    )
  })

  it('checks claims of correctly signed tokens without throwing anything untyped', () => {
    const claim = fc.oneof(fc.jsonValue(), fc.integer(), fc.double(), fc.string())
    fc.assert(
      fc.property(
        fc.record(
          {
            sub: claim,
            iat: claim,
            nbf: claim,
            exp: claim,
            jti: claim,
            type: claim,
            fresh: claim,
            aud: claim,
          },
          { requiredKeys: [] },
        ),
        (claims) => {
          const forged = forge({ alg, kid: auth.keys.active.kid, typ: 'at+jwt' }, claims, auth.keys.active)
          const result = outcome(auth, forged)
          if (result === 'accepted') {
            // Only a structurally valid, unexpired access token may pass.
            expect(typeof claims.sub).toBe('string')
            expect(claims.type).toBe('access')
            expect(typeof claims.exp).toBe('number')
          }
        },
      ),
      { numRuns: RUNS },
    )
  })
})
