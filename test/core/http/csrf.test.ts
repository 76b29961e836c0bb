import { describe, expect, it } from 'vitest'
import { getCsrfToken } from '../../../packages/tessera/src/core/http/cookies.js'
import {
  checkCsrfClaim,
  checkOrigin,
  readCsrfValue,
  safeEqual,
} from '../../../packages/tessera/src/core/http/csrf.js'
import { resolveAdapterOptions } from '../../../packages/tessera/src/core/http/options.js'
import {
  checkCsrfValue,
  createTessera,
  CsrfMismatchError,
  CsrfMissingError,
  CsrfOriginRejectedError,
} from '../../../packages/tessera/src/index.js'
import { SECRET } from '../../helpers/forge.js'
import { fakeIO, type FakeRequest } from './fake-io.js'

const { csrf } = resolveAdapterOptions({
  csrf: { trustedOrigins: ['https://app.example.com'], checkForm: true },
})
const token = (value?: string) => ({
  header: { alg: 'HS256' },
  claims: { csrf: value } as never,
  identity: 'a',
})

describe('safeEqual', () => {
  it('is true only for identical strings', () => {
    expect(safeEqual('abc', 'abc')).toBe(true)
    expect(safeEqual('abc', 'abd')).toBe(false)
    expect(safeEqual('abc', 'abcd')).toBe(false)
    expect(safeEqual('', '')).toBe(true)
    expect(safeEqual('é', 'e')).toBe(false)
  })
})

describe('readCsrfValue', () => {
  it('prefers the header, falls back to the form field when enabled, and names the header when missing', () => {
    expect(
      readCsrfValue(
        fakeIO,
        { headers: { 'x-csrf-token': 'h' }, body: { csrf_token: 'f' } },
        csrf,
        csrf.access,
      ),
    ).toBe('h')
    expect(readCsrfValue(fakeIO, { body: { csrf_token: 'f' } }, csrf, csrf.access)).toBe('f')
    for (const req of [
      {},
      { body: { csrf_token: 7 } },
      { headers: { 'x-csrf-token': '' } },
      { body: 'csrf_token=f' },
    ] as FakeRequest[]) {
      try {
        readCsrfValue(fakeIO, req, csrf, csrf.access)
        expect.unreachable()
      } catch (error) {
        expect(error).toBeInstanceOf(CsrfMissingError)
        expect((error as CsrfMissingError).headerName).toBe('X-CSRF-TOKEN')
        expect((error as Error).message).toContain('X-CSRF-TOKEN')
      }
    }
  })

  it('ignores the form field unless enabled', () => {
    const { csrf: headerOnly } = resolveAdapterOptions()
    expect(() => readCsrfValue(fakeIO, { body: { csrf_token: 'f' } }, headerOnly, headerOnly.access)).toThrow(
      CsrfMissingError,
    )
  })
})

describe('checkCsrfClaim', () => {
  const sent: FakeRequest = { method: 'POST', headers: { 'x-csrf-token': 'v' } }
  it('passes a matching value and refuses a different or absent claim, naming the header', () => {
    expect(() => {
      checkCsrfClaim(fakeIO, sent, token('v'), 'v', csrf.access, false)
    }).not.toThrow()
    for (const claim of ['w', undefined]) {
      expect(() => {
        checkCsrfClaim(fakeIO, sent, token(claim), 'v', csrf.access, false)
      }).toThrow(expect.objectContaining({ code: 'csrf_mismatch', headerName: 'X-CSRF-TOKEN' }))
    }
    expect(() => {
      checkCsrfClaim(fakeIO, sent, token('w'), 'v', csrf.access, false)
    }).toThrow(CsrfMismatchError)
  })

  it("under the flask-jwt-extended preset refuses a token without the claim as flask's Missing claim: csrf", () => {
    expect(() => {
      checkCsrfClaim(fakeIO, sent, token(undefined), 'v', csrf.access, true)
    }).toThrow(expect.objectContaining({ code: 'token_claim_missing', claim: 'csrf' }))
    expect(() => {
      checkCsrfClaim(fakeIO, sent, token('w'), 'v', csrf.access, true)
    }).toThrow(CsrfMismatchError)
    expect(() => {
      checkCsrfClaim(fakeIO, sent, token('v'), 'v', csrf.access, true)
    }).not.toThrow()
  })

  it('names the form field when the value was read from it, the header being absent', () => {
    for (const headers of [{}, { 'x-csrf-token': '' }] as Record<string, string>[]) {
      const run = () => {
        checkCsrfClaim(fakeIO, { headers, body: { csrf_token: 'v' } }, token('w'), 'v', csrf.access, false)
      }
      expect(run).toThrow(/^The csrf_token form field /)
      expect(run).toThrow(expect.objectContaining({ code: 'csrf_mismatch', headerName: 'X-CSRF-TOKEN' }))
    }
  })
})

describe('checkOrigin', () => {
  it.each<[FakeRequest['headers'], boolean]>([
    [{}, true],
    [{ 'sec-fetch-site': 'none' }, true],
    [{ 'sec-fetch-site': 'same-origin' }, true],
    [{ 'sec-fetch-site': 'same-origin', origin: 'https://elsewhere.example' }, true],
    [{ origin: 'http://localhost:3000' }, true],
    [{ origin: 'https://localhost:3000' }, false],
    [{ origin: 'https://app.example.com', 'sec-fetch-site': 'same-site' }, true],
    [{ origin: 'https://app.example.com.evil.example' }, false],
    [{ origin: 'null' }, false],
    [{ 'sec-fetch-site': 'same-site' }, false],
    [{ 'sec-fetch-site': 'cross-site' }, false],
  ])('%j → %s', (headers, allowed) => {
    const run = () => {
      checkOrigin(fakeIO, { method: 'POST', headers }, csrf)
    }
    if (allowed) expect(run).not.toThrow()
    else expect(run).toThrow(CsrfOriginRejectedError)
  })
})

// flask-jwt-extended's decode_token(encoded_token, csrf_value): tests/test_decode_tokens.py, tokens.py.
describe('checkCsrfValue', () => {
  const auth = createTessera({ secret: SECRET })

  it("accepts the token's own CSRF value, for any token type", async () => {
    for (const token of [
      await auth.createAccessToken('alice', { csrf: true }),
      await auth.createRefreshToken('alice', { csrf: 'chosen-value' }),
    ]) {
      const verified = await auth.verify(token, { type: 'any' })
      expect(() => {
        checkCsrfValue(verified, getCsrfToken(token))
      }).not.toThrow()
    }
  })

  it('refuses another value, and a token without a csrf claim, as csrf_mismatch', async () => {
    const verified = await auth.verify(await auth.createAccessToken('alice', { csrf: true }))
    expect(() => {
      checkCsrfValue(verified, 'not-the-value')
    }).toThrow(CsrfMismatchError)
    const bare = await auth.verify(await auth.createAccessToken('alice'))
    expect(() => {
      checkCsrfValue(bare, 'any-value')
    }).toThrow(expect.objectContaining({ code: 'csrf_mismatch', status: 401, claims: bare.claims }))
  })

  // Called outside a guard, with a value from anywhere (a WebSocket message, a query parameter): the
  // error names no header, and describes the value without echoing it.
  it('describes the value it was given, never a header, and never echoes the value', async () => {
    const verified = await auth.verify(await auth.createAccessToken('alice', { csrf: true }))
    const bare = await auth.verify(await auth.createAccessToken('alice'))
    const thrown = (t: typeof verified, value: unknown): CsrfMissingError | CsrfMismatchError => {
      try {
        checkCsrfValue(t, value)
      } catch (error) {
        return error as CsrfMissingError | CsrfMismatchError
      }
      return expect.unreachable()
    }
    const wrong = thrown(verified, 'value-sent-9f1c')
    const noClaim = thrown(bare, 'value-sent-9f1c')
    for (const error of [wrong, noClaim]) {
      expect(error).toBeInstanceOf(CsrfMismatchError)
      expect([error.code, error.status, error.headerName]).toEqual(['csrf_mismatch', 401, undefined])
      expect(error.message).not.toMatch(/header|X-CSRF-TOKEN|value-sent-9f1c/i)
    }
    // `header` is the token's JOSE header, as on every refusal of an authentic token.
    expect((wrong as CsrfMismatchError).header).toEqual(verified.header)
    // A token made without a CSRF value is told apart from a wrong value.
    expect(noClaim.message).not.toBe(wrong.message)
    const missing = [undefined, null, '', ['value-a-77', 'value-b-77'], 4242, { value: 'value-a-77' }].map(
      (value) => thrown(verified, value),
    )
    for (const error of missing) {
      expect(error).toBeInstanceOf(CsrfMissingError)
      expect([error.code, error.status, error.headerName]).toEqual(['csrf_missing', 401, undefined])
      expect(error.message).not.toMatch(/header|X-CSRF-TOKEN|value-a-77|4242/i)
    }
    // What was passed instead of a value: its kind, not its content.
    expect(new Set(missing.map((error) => error.message)).size).toBe(missing.length)
  })

  it('refuses a missing value as csrf_missing, where flask would skip the check', async () => {
    const verified = await auth.verify(await auth.createAccessToken('alice', { csrf: true }))
    for (const value of [undefined, null, '', ['a', 'b'], 42]) {
      expect(() => {
        checkCsrfValue(verified, value)
      }).toThrow(CsrfMissingError)
    }
  })
})
