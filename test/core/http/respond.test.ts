import { describe, expect, it } from 'vitest'
import {
  errorResponse,
  flaskRefusal,
  resolveErrorOptions,
} from '../../../packages/tessera/src/core/http/respond.js'
import type { ErrorFormatter } from '../../../packages/tessera/src/core/http/types.js'
import * as tessera from '../../../packages/tessera/src/index.js'
import {
  createTessera,
  errorStatus,
  TesseraError,
  TokenExpiredError,
  TokenMalformedError,
  TokenWrongTypeError,
  type AnyTesseraError,
  type JwtClaims,
  type TesseraErrorCode,
} from '../../../packages/tessera/src/index.js'
import { SECRET } from '../../helpers/forge.js'

type ErrorClass = new (...args: never[]) => AnyTesseraError

// One instance of every concrete error class the core exports.
const errors = new Map<TesseraErrorCode, AnyTesseraError>()
for (const value of Object.values(tessera)) {
  if (typeof value !== 'function' || !(value.prototype instanceof TesseraError)) continue
  try {
    const error = new (value as ErrorClass)(...(['message', { alg: 'HS256' }, { sub: 'alice' }] as never[]))
    if (typeof error.code === 'string') errors.set(error.code, error)
  } catch {
    // abstract bases
  }
}
const codes = Object.keys(errorStatus) as TesseraErrorCode[]

describe('errorResponse', () => {
  const defaults = resolveErrorOptions(undefined, false)

  it('knows an error class for every code', () => {
    expect([...errors.keys()].sort()).toEqual([...codes].sort())
  })

  it.each(codes)('answers %s with its status, code, message and the matching challenge', (code) => {
    const response = errorResponse(errors.get(code)!, defaults)
    expect(response.status).toBe(errorStatus[code])
    expect(response.body).toEqual({ error: code, message: expect.any(String) as string })
    const challenge = response.headers['www-authenticate']
    if (code === 'token_missing') expect(challenge).toBe('Bearer')
    else if (errorStatus[code] === 401) expect(challenge).toMatch(/^Bearer error="invalid_token"/)
    else if (errorStatus[code] === 403) expect(challenge).toMatch(/^Bearer error="insufficient_scope"/)
    else expect(challenge).toBeUndefined()
  })

  it('follows flask-jwt-extended with the preset: msg only, 422 for invalid tokens, 400 for refused claims', () => {
    const flask = resolveErrorOptions(undefined, true)
    const expected: Partial<Record<TesseraErrorCode, number>> = {
      configuration_error: 500,
      token_missing: 401,
      token_expired: 401,
      token_revoked: 401,
      fresh_token_required: 401,
      csrf_missing: 401,
      csrf_mismatch: 401,
      csrf_origin_rejected: 401,
      user_not_found: 401,
      forbidden: 403,
      claims_verification_failed: 400,
      jwks_unavailable: 503,
    }
    for (const code of codes) {
      const response = errorResponse(errors.get(code)!, flask)
      expect([code, response.status]).toEqual([code, expected[code] ?? 422])
      expect(Object.keys(response.body)).toEqual(['msg'])
      if (response.status === 422 || response.status === 400) expect(response.headers).toEqual({})
    }
    expect(errorResponse(errors.get('token_expired')!, flask).body).toEqual({ msg: 'Token has expired' })
    expect(errorResponse(errors.get('csrf_missing')!, flask).body).toEqual({ msg: 'Missing CSRF token' })
  })

  it('keeps the code key in the preset when asked to', () => {
    const flask = resolveErrorOptions({ codeKey: 'error' }, true)
    expect(errorResponse(errors.get('token_malformed')!, flask).body).toEqual({
      error: 'token_malformed',
      msg: expect.any(String) as string,
    })
  })

  it('prefers the per-code formatter over the catch-all', () => {
    const o = resolveErrorOptions(
      {
        formatters: { token_revoked: ((_error, r) => ({ ...r, status: 410 })) satisfies ErrorFormatter },
        format: ((_error, r) => ({ ...r, status: 499 })) satisfies ErrorFormatter,
      },
      false,
    )
    expect(errorResponse(errors.get('token_revoked')!, o).status).toBe(410)
    expect(errorResponse(errors.get('token_expired')!, o).status).toBe(499)
  })
})

describe('errorResponse challenges', () => {
  const defaults = resolveErrorOptions(undefined, false)
  const api = resolveErrorOptions({ realm: 'api' }, false)

  it('gives the same challenge wwwAuthenticate builds, per realm and per message, when answered again', () => {
    for (const round of [1, 2]) {
      for (const code of codes) {
        const error = errors.get(code)!
        expect([round, errorResponse(error, defaults).headers['www-authenticate']]).toEqual([
          round,
          errorStatus[code] === 500 ? undefined : tessera.wwwAuthenticate(error),
        ])
        expect(errorResponse(error, api).headers['www-authenticate']).toBe(
          errorStatus[code] === 500 ? undefined : tessera.wwwAuthenticate(error, 'api'),
        )
      }
    }
  })

  it('builds a new challenge when the message differs, and stays correct past its bound', () => {
    for (let i = 0; i < 600; i++) {
      const error = new tessera.CsrfOriginRejectedError(
        `Cross-site request refused (Sec-Fetch-Site: "x${i}")`,
      )
      expect(errorResponse(error, defaults).headers['www-authenticate']).toBe(
        `Bearer error="invalid_token", error_description="Cross-site request refused (Sec-Fetch-Site: 'x${i}')"`,
      )
    }
  })
})

describe('resolveErrorOptions', () => {
  it.each([
    [{ respond: 'no' }, 'errors.respond'],
    [{ messageKey: '' }, 'errors.messageKey'],
    [{ codeKey: 'has space' }, 'errors.codeKey'],
    [{ status: { token_expired: 301 } }, 'errors.status.token_expired'],
    [{ status: { nope: 401 } }, 'errors.status.nope'],
    [{ formatters: { token_expired: 'x' } }, 'errors.formatters.token_expired'],
    [{ format: 1 }, 'errors.format'],
    [{ realm: '' }, 'errors.realm'],
    [{ unknown: true }, 'errors.unknown'],
  ])('refuses %j naming %s', (options, option) => {
    expect(() => resolveErrorOptions(options, false)).toThrow(expect.objectContaining({ option }))
  })
})

describe('flaskRefusal', () => {
  const refusal = flaskRefusal(createTessera({ secret: SECRET }).config)
  const now = Math.floor(Date.now() / 1000)
  const claims = (extra: Record<string, unknown>) =>
    ({ sub: 'alice', jti: 'j', iat: now - 900, exp: now - 60, ...extra }) as JwtClaims

  it('turns an expired token refused for its type into token_expired, keeping header and claims', () => {
    const header = { alg: 'HS256', typ: 'refresh+jwt' }
    const wrong = new TokenWrongTypeError(
      'Only access tokens are accepted here',
      header,
      claims({ type: 'refresh' }),
    )
    const answer = refusal(wrong)
    expect(answer).toBeInstanceOf(TokenExpiredError)
    expect(answer).toMatchObject({ header, claims: wrong.claims })
  })

  it('keeps the wrong type for a live token, for a header typ that contradicts its type, and other errors as they are', () => {
    const live = new TokenWrongTypeError(
      'Only access tokens are accepted here',
      { alg: 'HS256', typ: 'refresh+jwt' },
      claims({ type: 'refresh', exp: now + 60 }),
    )
    expect(refusal(live)).toBe(live)
    // flask-jwt-extended has no typ check: Tessera's refusal of a plain JWT stands.
    const plain = new TokenWrongTypeError('typ', { alg: 'HS256', typ: 'JWT' }, claims({ type: 'access' }))
    expect(refusal(plain)).toBe(plain)
    const malformed = new TokenMalformedError('not a JWT')
    expect(refusal(malformed)).toBe(malformed)
  })
})
