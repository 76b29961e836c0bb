import { describe, expect, it } from 'vitest'
import {
  clearCookies,
  getCsrfToken,
  isLoopbackHost,
  readCookie,
  resolveCookieOptions,
  serializeCookie,
  tokenCookies,
} from '../../../packages/tessera/src/core/http/cookies.js'
import { resolveAdapterOptions } from '../../../packages/tessera/src/core/http/options.js'
import { ConfigurationError, createTessera } from '../../../packages/tessera/src/index.js'
import { SECRET } from '../../helpers/forge.js'

const auth = createTessera({ secret: SECRET })
const { cookies, csrf } = resolveAdapterOptions()

describe('serializeCookie', () => {
  it('writes the attributes in RFC 6265 form', () => {
    expect(
      serializeCookie('a', 'b', {
        path: '/x',
        domain: 'example.com',
        httpOnly: true,
        secure: true,
        sameSite: 'Strict',
        maxAge: 60,
      }),
    ).toBe('a=b; Path=/x; Domain=example.com; Max-Age=60; HttpOnly; Secure; SameSite=Strict')
    expect(serializeCookie('a', '', { path: '/', httpOnly: false, secure: false, maxAge: 0 })).toBe(
      'a=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT',
    )
  })

  it('percent-encodes a value outside cookie-octet', () => {
    expect(serializeCookie('a', 'b c;d', { path: '/', httpOnly: false, secure: false })).toBe(
      'a=b%20c%3Bd; Path=/',
    )
  })
})

describe('readCookie', () => {
  it.each([
    ['a=1; access_token_cookie=tok; b=2', 'tok'],
    ['access_token_cookie=tok', 'tok'],
    ['  access_token_cookie  =  tok  ;x=y', 'tok'],
    ['access_token_cookie="tok"', 'tok'],
    ['access_token_cookie=a%20b', 'a b'],
    ['access_token_cookie=%E0%A4%A', '%E0%A4%A'],
    ['access_token_cookie=first; access_token_cookie=second', 'first'],
    ['xaccess_token_cookie=no; access_token_cookiex=no', undefined],
    ['access_token_cookie', undefined],
    ['', undefined],
    ['junk; ;;access_token_cookie=tok', 'tok'],
    ['a; b=1; c; access_token_cookie=tok=with=eq; d', 'tok=with=eq'],
    ['a=1; access_token_cookie; b=2', undefined],
  ])('reads %j as %j', (header, expected) => {
    expect(readCookie(header, 'access_token_cookie')).toBe(expected)
  })

  // Correctness only: the scan's cost (once quadratic in such a header) is measured outside the tests.
  it('reads past thousands of segments without a value, before and after the cookie', () => {
    const empty = ';'.repeat(5000)
    expect(readCookie(`${empty}access_token_cookie=tok${empty}`, 'access_token_cookie')).toBe('tok')
    expect(readCookie(`${empty}other=1${empty}`, 'access_token_cookie')).toBeUndefined()
  })

  it('reads nothing from an absent header', () => {
    expect(readCookie(undefined, 'a')).toBeUndefined()
  })
})

describe('isLoopbackHost', () => {
  it.each([
    ['localhost', true],
    ['localhost:3000', true],
    ['app.localhost:8080', true],
    ['127.0.0.1:80', true],
    ['127.1.2.3', true],
    ['[::1]:3000', true],
    ['[::1]', true],
    ['example.com', false],
    ['localhost.example.com', false],
    ['127.0.0.1.nip.io', false],
    [undefined, false],
  ])('%j → %j', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected)
  })
})

describe('tokenCookies', () => {
  it('refuses a token of the other type, a token without csrf claim, and a non-string', async () => {
    const refresh = await auth.createRefreshToken('alice', { csrf: true })
    expect(() => tokenCookies('access', refresh, true, cookies, csrf)).toThrow(
      expect.objectContaining({ option: 'setAccessCookies' }),
    )
    const plain = await auth.createAccessToken('alice')
    expect(() => tokenCookies('access', plain, true, cookies, csrf)).toThrow(ConfigurationError)
    expect(() => tokenCookies('refresh', 42 as unknown as string, true, cookies, csrf)).toThrow(
      expect.objectContaining({ option: 'setRefreshCookies' }),
    )
  })

  it('accepts a token without csrf claim when CSRF protection is off', async () => {
    const off = resolveAdapterOptions({ csrf: { protect: false } })
    const plain = await auth.createAccessToken('alice')
    expect(tokenCookies('access', plain, false, off.cookies, off.csrf)).toHaveLength(1)
  })

  it('counts Max-Age from the token exp', async () => {
    const token = await auth.createAccessToken('alice', { csrf: true, expiresIn: 120 })
    const now = Math.floor(Date.now() / 1000)
    const [jwt, csrfCookie] = tokenCookies('access', token, true, cookies, csrf, now + 20)
    expect(jwt).toMatch(/; Max-Age=(99|100); HttpOnly; Secure; SameSite=Lax$/)
    expect(csrfCookie).toBe(
      `csrf_access_token=${getCsrfToken(token)!}; Path=/; Max-Age=${/Max-Age=(\d+)/.exec(jwt!)![1]!}; Secure; SameSite=Lax`,
    )
    expect(tokenCookies('access', token, true, cookies, csrf, now + 500)[0]).toContain('Max-Age=0;')
  })

  it('deletes cookies with the same path and domain they were set with', () => {
    const custom = resolveAdapterOptions({ cookies: { domain: '.example.com', refreshPath: '/r' } })
    expect(clearCookies('refresh', true, custom.cookies, custom.csrf)).toEqual([
      'refresh_token_cookie=; Path=/r; Domain=.example.com; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax',
      'csrf_refresh_token=; Path=/; Domain=.example.com; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; SameSite=Lax',
    ])
  })
})

describe('getCsrfToken', () => {
  it('returns the csrf claim, or undefined', async () => {
    expect(getCsrfToken(await auth.createAccessToken('a', { csrf: 'fixed' }))).toBe('fixed')
    expect(getCsrfToken(await auth.createAccessToken('a'))).toBeUndefined()
  })
})

describe('resolveCookieOptions', () => {
  it('defaults to Lax, auto Secure, persistent cookies, refresh cookie on /auth/refresh', () => {
    expect(resolveCookieOptions(undefined)).toEqual({
      accessName: 'access_token_cookie',
      refreshName: 'refresh_token_cookie',
      accessPath: '/',
      refreshPath: '/auth/refresh',
      domain: undefined,
      secure: 'auto',
      sameSite: 'Lax',
      session: false,
    })
  })

  it('accepts SameSite=None with Secure, and no SameSite at all', () => {
    expect(resolveCookieOptions({ sameSite: 'None', secure: true }).sameSite).toBe('None')
    expect(resolveCookieOptions({ sameSite: false }).sameSite).toBeUndefined()
  })

  // werkzeug's dump_cookie takes `samesite.title()`; Express's res.cookie takes 'lax'.
  it('takes SameSite in any case and writes it capitalised in Set-Cookie', async () => {
    const token = await auth.createAccessToken('alice', { csrf: true })
    for (const [given, written] of [
      ['lax', 'Lax'],
      ['LAX', 'Lax'],
      ['strict', 'Strict'],
      ['sTrIcT', 'Strict'],
    ] as const) {
      const options = resolveCookieOptions({ sameSite: given })
      expect([given, options.sameSite]).toEqual([given, written])
      for (const cookie of tokenCookies('access', token, true, options, csrf))
        expect(cookie).toMatch(new RegExp(`; SameSite=${written}$`))
    }
    expect(resolveCookieOptions({ sameSite: 'none', secure: true }).sameSite).toBe('None')
    expect(() => resolveCookieOptions({ sameSite: 'none' })).toThrow(/SameSite=None requires cookies.secure/)
  })

  it('refuses an unknown SameSite naming the values and what it got', () => {
    for (const [sameSite, got] of [
      ['lenient', '"lenient"'],
      ['Lax ', '"Lax "'],
      ['', '""'],
      [true, 'true'],
      [1, 'number'],
    ] as const) {
      expect(() => resolveCookieOptions({ sameSite })).toThrow(
        expect.objectContaining({
          option: 'cookies.sameSite',
          message: `cookies.sameSite: must be "Strict", "Lax" or "None" (any case) or false, got ${got}`,
        }),
      )
    }
  })

  it.each([
    [{ sameSite: 'None', secure: 'auto' }, 'cookies.sameSite'],
    [{ sameSite: 'Laxx' }, 'cookies.sameSite'],
    [{ refreshName: 'access_token_cookie' }, 'cookies.refreshName'],
    [{ domain: 'exa mple.com' }, 'cookies.domain'],
    [{ accessPath: '/a;b' }, 'cookies.accessPath'],
    [{ accessName: 'a=b' }, 'cookies.accessName'],
    [{ session: 'yes' }, 'cookies.session'],
    [{ path: '/' }, 'cookies.path'],
  ])('refuses %j naming %s', (options, option) => {
    expect(() => resolveCookieOptions(options)).toThrow(expect.objectContaining({ option }))
  })
})
