import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  ConfigurationError,
  createTessera,
  generateKey,
  memoryRevocationStore,
  parseDuration,
} from '../../packages/tessera/src/index.js'
import { SECRET } from '../helpers/forge.js'

function configError(fn: () => unknown): ConfigurationError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError)
    return error as ConfigurationError
  }
  throw new Error('expected a ConfigurationError')
}

describe('createTessera configuration', () => {
  it('applies flask-jwt-extended defaults: 15 minutes, 30 days, sub, no leeway, nbf written', () => {
    const { config } = createTessera({ secret: SECRET })
    expect(config.accessTokenTtl).toBe(900)
    expect(config.refreshTokenTtl).toBe(30 * 86_400)
    expect(config.identityClaim).toBe('sub')
    expect(config.leeway).toBe(0)
    expect(config.writeNbf).toBe(true)
    expect(config.maxTokenLength).toBe(8192)
    expect(config.revocation).toBeDefined()
    expect(Object.isFrozen(config)).toBe(true)
  })

  it('accepts lifetimes as seconds or strings with units', () => {
    const { config } = createTessera({
      secret: SECRET,
      accessTokenTtl: '90s',
      refreshTokenTtl: '2w',
      leeway: 30,
    })
    expect([config.accessTokenTtl, config.refreshTokenTtl, config.leeway]).toEqual([90, 1_209_600, 30])
    expect(parseDuration('12h', 'x')).toBe(43_200)
    expect(parseDuration('600', 'x')).toBe(600)
  })

  it.each([
    ['a negative lifetime', { accessTokenTtl: -5 }, 'accessTokenTtl'],
    ['an unparsable lifetime', { refreshTokenTtl: '30 days' }, 'refreshTokenTtl'],
    ['a fractional lifetime', { accessTokenTtl: 1.5 }, 'accessTokenTtl'],
    ['a zero lifetime', { accessTokenTtl: 0 }, 'accessTokenTtl'],
    ['a lifetime of the wrong type', { accessTokenTtl: true }, 'accessTokenTtl'],
    ['a negative leeway', { leeway: '-1' }, 'leeway'],
    ['an empty identity claim', { identityClaim: '' }, 'identityClaim'],
    ['an empty audience list', { audience: [] }, 'audience'],
    ['a non-string issuer', { issuer: 42 }, 'issuer'],
    ['a zero maximum token length', { maxTokenLength: 0 }, 'maxTokenLength'],
    ['a revocation store that is not one', { revocation: {} }, 'revocation'],
    ['a null revocation store', { revocation: null }, 'revocation'],
    ['a hook that is not a function', { additionalClaims: 'roles' }, 'additionalClaims'],
    ['an unknown option', { accessTokenTTL: '5m' }, 'accessTokenTTL'],
  ])('refuses %s and names the option', (_title, options, option) => {
    const error = configError(() => createTessera({ secret: SECRET, ...(options as object) }))
    expect(error.code).toBe('configuration_error')
    expect(error.status).toBe(500)
    expect(error.option).toBe(option)
  })

  it('suggests the right spelling of a mistyped option', () => {
    expect(
      configError(() => createTessera({ secret: SECRET, accesstokenttl: 5 } as never)).message,
    ).toContain('accessTokenTtl')
  })

  it.each([[null], [undefined], [42], ['secret'], [[]], [[{ secret: SECRET }]]])(
    'refuses %j as the options with a ConfigurationError naming them',
    (options) => {
      const error = configError(() => createTessera(options as never))
      expect(error.option).toBe('options')
      expect(error.message).toMatch(/expected an options object/)
    },
  )

  it('requires a key and says how to give one', () => {
    expect(configError(() => createTessera({})).option).toBe('keys')
  })

  it('names "secret" when it was written but is undefined (an unset environment variable)', () => {
    // The README's `createTessera({ secret: process.env.JWT_SECRET })` before JWT_SECRET is set.
    const error = configError(() => createTessera({ secret: undefined }))
    expect(error.option).toBe('secret')
    expect(error.message).toMatch(/^secret: is undefined \(is the environment variable .* set\?\)/)
    expect(error.message).toContain('openssl rand -base64 32')
    // Keys given alongside an undefined secret are the keys.
    expect(() => createTessera({ secret: undefined, keys: { alg: 'HS256', secret: SECRET } })).not.toThrow()
  })

  it('refuses both keys and secret', async () => {
    const keys = await generateKey('HS256')
    expect(configError(() => createTessera({ keys, secret: SECRET })).option).toBe('secret')
  })

  it('refuses an HS256 secret shorter than 32 bytes without echoing it', () => {
    const error = configError(() => createTessera({ secret: 'short-secret-of-31-bytes-xxxxxx' }))
    expect(error.option).toBe('secret')
    expect(error.message).not.toContain('short-secret')
  })

  it('refuses a public key PEM given as the secret, as @fastify/jwt and jsonwebtoken users write it', () => {
    // `secret: readFileSync('public.pem')` would let anyone holding the public key forge HS256 tokens.
    const publicPem = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ format: 'pem', type: 'spki' })
      .toString()
    for (const secret of [publicPem, Buffer.from(publicPem)]) {
      const error = configError(() => createTessera({ secret }))
      expect(error.option).toBe('secret')
      expect(error.message).toMatch(/^secret: the secret is a PEM key or certificate, not an HMAC secret/)
    }
  })

  it('refuses an unknown algorithm with a secret', () => {
    expect(configError(() => createTessera({ secret: SECRET, algorithm: 'HS1024' as never })).option).toBe(
      'algorithm',
    )
    expect(configError(() => createTessera({ secret: SECRET, algorithm: 'RS256' })).option).toBe('algorithm')
  })

  it('refuses an HS512 secret shorter than the hash (RFC 7518 §3.2)', () => {
    expect(configError(() => createTessera({ secret: 'x'.repeat(63), algorithm: 'HS512' })).option).toBe(
      'secret',
    )
    expect(() =>
      createTessera({
        secret: 'q7Vt2mXc9LpR4sWz8NbK1hYd6FgJ3aQe5TuC0oIvXy2Zr8MnPw4HkLs7DjBf9Ge1',
        algorithm: 'HS512',
      }),
    ).not.toThrow()
  })

  it('refuses an algorithm given with keys: each key names its own', async () => {
    const keys = await generateKey('EdDSA')
    expect(configError(() => createTessera({ keys, algorithm: 'EdDSA' })).option).toBe('algorithm')
  })

  it('turns revocation off with false', () => {
    expect(createTessera({ secret: SECRET, revocation: false }).config.revocation).toBeUndefined()
    const store = memoryRevocationStore({ sweepIntervalSeconds: 0 })
    expect(createTessera({ secret: SECRET, revocation: store }).config.revocation).toBe(store)
  })
})
