import { describe, expect, it, vi } from 'vitest'
import { createHttpAuth } from '../../../packages/tessera/src/core/http/engine.js'
import {
  createTessera,
  TokenExpiredError,
  TokenInvalidSignatureError,
  TokenMalformedError,
  TokenMissingError,
  TokenRevokedError,
  type Tessera,
  type VerifyOptions,
} from '../../../packages/tessera/src/index.js'
import { SECRET } from '../../helpers/forge.js'
import { fakeIO, reply } from './fake-io.js'

const auth = createTessera({ secret: SECRET })

describe('createHttpAuth', () => {
  it('refuses anything but a Tessera engine', () => {
    for (const value of [undefined, null, {}, { verifyInline: 1 }]) {
      expect(() => createHttpAuth(value as unknown as Tessera)).toThrow(
        expect.objectContaining({ option: 'auth' }),
      )
    }
  })

  it('answers synchronously on the hot path: header token, memory store, no hooks', async () => {
    const http = createHttpAuth(auth)
    const route = http.route()
    const token = await auth.createAccessToken('alice')
    const result = http.authenticate(
      fakeIO,
      { headers: { authorization: `Bearer ${token}` } },
      reply(),
      route,
    )
    expect(result).not.toBeInstanceOf(Promise)
    expect(result).toMatchObject({ identity: 'alice', location: 'headers', user: undefined })
  })

  it('returns a missing or refused token as its error, synchronously, never throwing it', async () => {
    const http = createHttpAuth(auth)
    const route = http.route()
    const missing = http.authenticate(fakeIO, {}, reply(), route)
    expect(missing).toBeInstanceOf(TokenMissingError)
    const malformed = http.authenticate(fakeIO, { headers: { authorization: 'Bearer x' } }, reply(), route)
    expect(malformed).toBeInstanceOf(TokenMalformedError)
    const token = await auth.createAccessToken('alice')
    const forged = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`
    // Three times: the second refusal enters the refused-token table, the third comes from it.
    for (let i = 0; i < 3; i++) {
      expect(
        http.authenticate(fakeIO, { headers: { authorization: `Bearer ${forged}` } }, reply(), route),
      ).toBeInstanceOf(TokenInvalidSignatureError)
    }
    const expired = await auth.createAccessToken('alice', { expiresIn: 1 })
    vi.useFakeTimers({ now: Date.now() + 60_000, toFake: ['Date'] })
    try {
      expect(
        http.authenticate(fakeIO, { headers: { authorization: `Bearer ${expired}` } }, reply(), route),
      ).toBeInstanceOf(TokenExpiredError)
    } finally {
      vi.useRealTimers()
    }
    // OPTIONS is authenticated like every method (no exemption: HTTP verb tampering).
    expect(http.authenticate(fakeIO, { method: 'OPTIONS' }, reply(), route)).toBeInstanceOf(TokenMissingError)
    expect(http.authenticate(fakeIO, {}, reply(), http.route({ optional: true }))).toBeNull()
  })

  it('throws the refusal with errors.respond false, for the framework to answer', () => {
    const http = createHttpAuth(auth, { errors: { respond: false } })
    expect(() => http.authenticate(fakeIO, {}, reply(), http.route())).toThrow(TokenMissingError)
  })

  it("calls a hand-written verifyInline wrapper, never the engine's own verifier behind it", async () => {
    const token = await auth.createAccessToken('alice')
    const req = { headers: { authorization: `Bearer ${token}` } }
    const denied = new Set(['alice'])
    // A wrapper that adds a check of its own, built the common way: spread the engine, replace one member.
    const wrapped: Tessera = {
      ...auth,
      verifyInline: ((t: unknown, o?: VerifyOptions) => {
        const v = auth.verifyInline(t, o)
        if (v instanceof Promise) return v
        if (denied.has(v.identity)) throw new TokenRevokedError('Denied by the wrapper', v.header, v.claims)
        return v
      }) as Tessera['verifyInline'],
    }
    const http = createHttpAuth(wrapped)
    const refused = http.authenticate(fakeIO, req, reply(), http.route())
    expect(refused).toBeInstanceOf(TokenRevokedError)
    expect((refused as TokenRevokedError).message).toBe('Denied by the wrapper')
    denied.clear()
    expect(http.authenticate(fakeIO, req, reply(), http.route())).toMatchObject({ identity: 'alice' })
    // Replaced after the adapter was built: the new function is the one called.
    wrapped.verifyInline = () => {
      throw new TokenRevokedError('Replaced later', {} as never, {} as never)
    }
    expect(http.authenticate(fakeIO, req, reply(), http.route())).toMatchObject({ message: 'Replaced later' })
  })

  it('returns a promise only when a step is asynchronous', async () => {
    const store = {
      isRevoked: () => Promise.resolve(false),
      revokeToken() {},
      revokeSession() {},
      revokeUser() {},
    }
    const slow = createTessera({ secret: SECRET, revocation: store })
    const token = await slow.createAccessToken('alice')
    const req = { headers: { authorization: `Bearer ${token}` } }
    const viaStore = createHttpAuth(slow)
    const pending = viaStore.authenticate(fakeIO, req, reply(), viaStore.route())
    expect(pending).toBeInstanceOf(Promise)
    await expect(pending).resolves.toMatchObject({ identity: 'alice' })
    const lookup = vi.fn(() => ({ id: 7 }))
    const viaHook = createHttpAuth(auth, { userLookup: lookup })
    const hooked = viaHook.authenticate(
      fakeIO,
      { headers: { authorization: `Bearer ${await auth.createAccessToken('bob')}` } },
      reply(),
      viaHook.route(),
    )
    await expect(hooked).resolves.toMatchObject({ identity: 'bob', user: { id: 7 } })
    expect(lookup).toHaveBeenCalledWith(expect.objectContaining({ identity: 'bob' }))
  })

  it('does not call the user lookup for requests it refuses earlier', async () => {
    const lookup = vi.fn(() => ({}))
    const http = createHttpAuth(auth, { userLookup: lookup })
    const refused = http.authenticate(
      fakeIO,
      { headers: { authorization: 'Bearer a.b.c' } },
      reply(),
      http.route(),
    )
    expect(refused).toMatchObject({ code: 'token_malformed' })
    await Promise.resolve()
    expect(lookup).not.toHaveBeenCalled()
  })

  it('lets implicitRefresh.claims choose the claims of the re-issued token', async () => {
    const http = createHttpAuth(auth, {
      tokenLocations: ['cookies'],
      implicitRefresh: { window: '1h', claims: () => ({ v: 2 }) },
    })
    const token = await auth.createAccessToken('alice', { csrf: true, claims: { v: 1, secret: 'drop me' } })
    const res = reply()
    await http.authenticate(
      fakeIO,
      { headers: { cookie: `access_token_cookie=${token}` } },
      res,
      http.route(),
    )
    const issued = /^access_token_cookie=([^;]+)/.exec(res.cookies[0] ?? '')?.[1] ?? ''
    const { claims } = await auth.verify(issued)
    expect([claims.v, claims.secret]).toEqual([2, undefined])
  })

  it('marks cookies Secure per request under auto, and always or never when configured', () => {
    const auto = createHttpAuth(auth)
    expect(auto.isSecure(fakeIO, { host: 'localhost:3000' })).toBe(false)
    expect(auto.isSecure(fakeIO, { host: 'localhost:3000', protocol: 'https' })).toBe(true)
    expect(auto.isSecure(fakeIO, { host: 'api.example.com' })).toBe(true)
    expect(
      createHttpAuth(auth, { cookies: { secure: false } }).isSecure(fakeIO, { host: 'api.example.com' }),
    ).toBe(false)
    expect(createHttpAuth(auth, { cookies: { secure: true } }).isSecure(fakeIO, { host: 'localhost' })).toBe(
      true,
    )
  })
})
