// Option-name hints: one rule (case, separators, a `JWT_` prefix, edit distance, flask-jwt-extended's
// names) for the engine, adapter and route options.
import { describe, expect, it } from 'vitest'
import { resolveAdapterOptions } from '../../packages/tessera/src/core/http/options.js'
import { resolveRoute } from '../../packages/tessera/src/core/http/route.js'
import { editDistance, suggestOption } from '../../packages/tessera/src/core/suggest.js'
import { createTessera } from '../../packages/tessera/src/index.js'
import { SECRET } from '../helpers/forge.js'

const engineError = (options: Record<string, unknown>): unknown => {
  try {
    createTessera({ secret: SECRET, ...options })
  } catch (error) {
    return error
  }
  return undefined
}

describe('engine option hints', () => {
  it.each([
    ['acessTokenTtl', 'accessTokenTtl'],
    ['accesstokenttl', 'accessTokenTtl'],
    ['refreshTokenTTL', 'refreshTokenTtl'],
    ['JWT_ACCESS_TOKEN_EXPIRES', 'accessTokenTtl'],
    ['accessTokenExpires', 'accessTokenTtl'],
    ['JWT_DECODE_LEEWAY', 'leeway'],
    ['JWT_IDENTITY_CLAIM', 'identityClaim'],
    ['JWT_VERIFY_SUB', 'identityFrom'],
    ['identity_claim', 'identityClaim'],
    ['audiance', 'audience'],
    ['JWT_ENCODE_ISSUER', 'issuer'],
    ['verifycache', 'verifyCache'],
  ])('%s → "%s"', (name, hint) => {
    expect(engineError({ [name]: 1 })).toMatchObject({
      code: 'configuration_error',
      option: name,
      message: `${name}: unknown option; did you mean "${hint}"?`,
    })
  })

  it('points adapter settings given to createTessera() at the adapter', () => {
    expect(engineError({ JWT_TOKEN_LOCATION: ['cookies'] })).toMatchObject({
      message: expect.stringContaining('"tokenLocations", an adapter option') as string,
    })
  })

  it('gives no hint for a name close to nothing', () => {
    expect(engineError({ database: 'x' })).toMatchObject({ message: 'database: unknown option' })
  })
})

describe('route option hints', () => {
  const app = resolveAdapterOptions()
  it.each([
    ['role', 'roles'],
    ['scope', 'scopes'],
    ['verify_type', 'verifyType'],
    ['skip_revocation_check', 'skipRevocationCheck'],
    ['Optional', 'optional'],
    ['locaitons', 'locations'],
  ])('%s → "%s"', (name, hint) => {
    expect(() => resolveRoute(app, { [name]: true })).toThrow(
      expect.objectContaining({
        option: `jwtRequired.${name}`,
        message: `jwtRequired.${name}: unknown option; did you mean "${hint}"?`,
      }),
    )
  })

  it('refuses allowExpired on a guard, pointing at auth.verify()', () => {
    expect(() => resolveRoute(app, { allowExpired: true } as never)).toThrow(
      expect.objectContaining({
        option: 'jwtRequired.allowExpired',
        message: expect.stringContaining('auth.verify(token, { allowExpired: true })') as string,
      }),
    )
  })
})

describe('token location value hints', () => {
  it.each([
    [['query_string'], '"query_string" is called "query"'],
    [['headers', 'cookie'], '"cookie" is called "cookies"'],
    ['headers', 'a list: ["headers"]'],
  ])('%j → %s', (value, hint) => {
    expect(() => resolveAdapterOptions({ tokenLocations: value } as never)).toThrow(
      expect.objectContaining({ option: 'tokenLocations', message: expect.stringContaining(hint) as string }),
    )
    expect(() => resolveRoute(resolveAdapterOptions(), { locations: value } as never)).toThrow(
      expect.objectContaining({
        option: 'jwtRequired.locations',
        message: expect.stringContaining(hint) as string,
      }),
    )
  })

  it('gives no hint for a value close to nothing', () => {
    expect(() => resolveAdapterOptions({ tokenLocations: ['url'] } as never)).toThrow(
      'tokenLocations: must be a non-empty list of distinct values among headers, cookies, query, json',
    )
  })
})

describe('suggestOption', () => {
  it('matches across case and separators before distance', () => {
    expect(suggestOption('TOKEN_LOCATIONS', ['tokenLocations'])).toBe('"tokenLocations"')
    expect(suggestOption('tokenLocation', ['tokenLocations', 'header'])).toBe('"tokenLocations"')
  })

  it('names a flask-jwt-extended setting in its section when written there', () => {
    expect(suggestOption('JWT_COOKIE_SECURE', ['secure', 'domain'], 'adapter', 'cookies')).toBe('"secure"')
    expect(suggestOption('JWT_COOKIE_SECURE', ['tokenLocations'], 'adapter', '')).toBe('"cookies.secure"')
  })

  it('allows one edit for short names and two from eight letters', () => {
    expect(suggestOption('rols', ['roles'])).toBe('"roles"')
    expect(suggestOption('rl', ['roles'])).toBeUndefined()
    expect(suggestOption('acessTokenTl', ['accessTokenTtl'])).toBe('"accessTokenTtl"')
    expect(suggestOption('name', ['type'])).toBeUndefined()
  })

  it('computes the optimal string alignment distance', () => {
    expect(editDistance('', 'abc')).toBe(3)
    expect(editDistance('roles', 'role')).toBe(1)
    expect(editDistance('ab', 'ba')).toBe(1)
    expect(editDistance('kitten', 'sitting')).toBe(3)
  })
})
