import { describe, expectTypeOf, it } from 'vitest'
import {
  createTessera,
  importJwks,
  remoteJwks,
  type KeyInput,
  type KeyRing,
  type PublicJwk,
  type TesseraKey,
  type AnyTesseraError,
  type DeepReadonly,
  type JwtClaims,
  type Tessera,
  type TesseraErrorCode,
  type TokenType,
  type VerifiedToken,
} from '../../packages/tessera/src/index.js'

const auth = createTessera({ secret: 'x'.repeat(32) })

describe('public types', () => {
  it('types verified claims with the registered claims and the app claims given as a generic', async () => {
    const result = await auth.verify<{ roles: string[] }>('token')
    expectTypeOf(result).toEqualTypeOf<VerifiedToken<{ roles: string[] }>>()
    expectTypeOf(result.identity).toBeString()
    expectTypeOf(result.claims.roles).toEqualTypeOf<readonly string[]>()
    expectTypeOf(result.claims.exp).toBeNumber()
    expectTypeOf(result.claims.type).toEqualTypeOf<TokenType>()
    expectTypeOf(result.claims.fresh).toEqualTypeOf<boolean | number>()
    expectTypeOf(result.claims).toExtend<JwtClaims<{ roles: string[] }>>()
  })

  it('types recursive JSON claims, tuples and unions read-only without running out of depth', async () => {
    type Json = string | number | boolean | null | Json[] | { [key: string]: Json }
    const { claims } = await auth.verify<{ data: Json; pair: [string, number] }>('token')
    expectTypeOf(claims.pair).toEqualTypeOf<readonly [string, number]>()
    expectTypeOf(claims.aud).toEqualTypeOf<string | readonly string[] | undefined>()
    // A JSON array inside is a readonly array too.
    expectTypeOf<Extract<typeof claims.data, readonly unknown[]>>().toEqualTypeOf<
      readonly DeepReadonly<Json>[]
    >()
    // @ts-expect-error a frozen tuple
    claims.pair[0] = 'other'
  })

  it('types verified claims and header read-only at every depth, as they are frozen', async () => {
    const { claims, header } = await auth.verify<{ roles: string[]; org: { id: string; teams: string[] } }>(
      'token',
    )
    // @ts-expect-error a verified token's claims are frozen
    claims.sub = 'mallory'
    // Nested arrays too: no push, no index assignment.
    expectTypeOf(claims.roles).not.toHaveProperty('push')
    // @ts-expect-error an element of a frozen array
    claims.roles[0] = 'admin'
    // @ts-expect-error nested objects too
    claims.org.id = 'other'
    // @ts-expect-error and their arrays
    claims.org.teams[0] = 'ops'
    // @ts-expect-error the header as well
    header.alg = 'none'
    // Reading is unchanged, and a copy is the application's own to change.
    expectTypeOf(claims.org.teams).toEqualTypeOf<readonly string[]>()
    expectTypeOf(claims.org.id).toEqualTypeOf<string>()
    // Passed on to a new token as they are: the claims option takes read-only values.
    expectTypeOf(
      auth.createAccessToken('alice', { claims: { roles: claims.roles, org: claims.org } }),
    ).toEqualTypeOf<Promise<string>>()
    const copy = { ...claims, roles: [...claims.roles, 'admin'] }
    copy.roles.push('editor')
    expectTypeOf(copy.roles).toEqualTypeOf<string[]>()
  })

  it('types iat as optional: a token without it verifies while maxTokenAge is off', async () => {
    const lenient = createTessera({ secret: 'x'.repeat(32), maxTokenAge: false })
    const { claims } = await lenient.verify('token')
    expectTypeOf(claims.iat).toEqualTypeOf<number | undefined>()
    expectTypeOf(claims.exp).toEqualTypeOf<number>()
  })

  it('returns promises from token creation', () => {
    expectTypeOf(auth.createAccessToken('alice')).toEqualTypeOf<Promise<string>>()
    expectTypeOf<Parameters<Tessera['createRefreshToken']>[1]>().toExtend<object | undefined>()
  })

  it('lets callers switch exhaustively on error codes', () => {
    const describeError = (error: AnyTesseraError): TesseraErrorCode => {
      switch (error.code) {
        default:
          return error.code
      }
    }
    expectTypeOf(describeError).returns.toEqualTypeOf<TesseraErrorCode>()
  })

  it("takes the engine's own JWKS and PublicJwk back without a cast (resource servers)", () => {
    expectTypeOf(importJwks(auth.jwks())).toEqualTypeOf<TesseraKey[]>()
    expectTypeOf<PublicJwk>().toExtend<NonNullable<KeyInput['publicKey']>>()
    expectTypeOf(remoteJwks('https://auth.example.com/jwks')).toExtend<KeyRing>()
    expectTypeOf(
      createTessera({ keys: remoteJwks.fromIssuer('https://auth.example.com') }),
    ).toEqualTypeOf<Tessera>()
  })

  it('refuses unknown verify options and token types at compile time', () => {
    // @ts-expect-error: 'id' is not a token type
    void auth.verify('t', { type: 'id' })
    // @ts-expect-error: misspelt option
    void auth.verify('t', { skipRevocation: true })
    // @ts-expect-error: keys or secret must be an object/string, not a number
    createTessera({ secret: 42 })
  })
})
