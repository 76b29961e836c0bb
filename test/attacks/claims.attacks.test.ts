// Claim attacks over HTTP (issue 8, "Claims"). These tokens carry a *valid signature by the server's own
// key* (the harness signs with the running server's active key): they model a token that is authentic
// but whose claims must still be refused — expired, not yet valid, wrongly typed, for another audience
// or issuer. Sources: RFC 7519 §4.1, RFC 8725 §3.8–3.11, OWASP JWT cheat sheet (token expiry).
import { beforeAll, describe, expect, it } from 'vitest'
import { expectUnauthorized, uniqueName, useServer, type Tokens } from '../helpers/server-harness.js'
import { b64, expectRefused, now, partsOf, signedBy } from './tools.js'

const AUDIENCE = 'https://api.tessera.test'
const ISSUER = 'https://auth.tessera.test'
const server = useServer({ audience: AUDIENCE, issuer: ISSUER })
let alice: Tokens
let bob: Tokens
let header: Record<string, unknown>
let claims: Record<string, unknown>
let refreshHeader: Record<string, unknown>
let refreshClaims: Record<string, unknown>

beforeAll(async () => {
  alice = await server.register(uniqueName('claims-alice'))
  bob = await server.register(uniqueName('claims-bob'))
  ;({ header, claims } = partsOf(alice.access))
  ;({ header: refreshHeader, claims: refreshClaims } = partsOf(alice.refresh))
  expect(claims.aud).toBe(AUDIENCE)
  expect(claims.iss).toBe(ISSUER)
})

/** Alice's access claims with `changes` applied (`undefined` deletes a claim), signed by the server key. */
function authentic(changes: Record<string, unknown>, h: Record<string, unknown> = header): string {
  const payload: Record<string, unknown> = { ...claims, jti: `attack-${Math.random()}` }
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) Reflect.deleteProperty(payload, name)
    else payload[name] = value
  }
  return signedBy(server.signingKey, h, payload)
}

/** A server-signed token whose payload is the raw JSON text given (duplicate keys, odd numbers). */
function authenticRaw(payloadJson: string, h: Record<string, unknown> = header): string {
  const input = `${b64(h)}.${b64(payloadJson)}`
  return `${input}.${server.signingKey.sign(input)}`
}

/** The claims of Alice's token as JSON members, without the braces, minus `omit`. */
function members(omit: readonly string[] = []): string {
  return Object.entries(claims)
    .filter(([name]) => !omit.includes(name))
    .map(([name, value]) => `${JSON.stringify(name)}:${JSON.stringify(value)}`)
    .join(',')
}

const t = now()
const REFUSED: [string, () => string, string][] = [
  [
    'expired (exp one minute ago)',
    () => authentic({ exp: t - 60, iat: t - 960, nbf: t - 960 }),
    'token_expired',
  ],
  ['expired exactly now (exp = now)', () => authentic({ exp: now() }), 'token_expired'],
  ['nbf in the future', () => authentic({ nbf: t + 3600 }), 'token_not_yet_valid'],
  ['iat in the future', () => authentic({ iat: t + 3600, nbf: undefined }), 'token_not_yet_valid'],
  ['no exp', () => authentic({ exp: undefined }), 'token_claim_missing'],
  ['no sub', () => authentic({ sub: undefined }), 'token_claim_missing'],
  ['no jti', () => authentic({ jti: undefined }), 'token_claim_missing'],
  ['no type', () => authentic({ type: undefined }), 'token_claim_missing'],
  ['exp as a string', () => authentic({ exp: String(t + 900) }), 'token_claim_invalid'],
  ['exp as null', () => authentic({ exp: null }), 'token_claim_invalid'],
  ['exp as true', () => authentic({ exp: true }), 'token_claim_invalid'],
  ['exp as an array', () => authentic({ exp: [t + 900] }), 'token_claim_invalid'],
  ['exp as a huge number (1e300)', () => authentic({ exp: 1e300 }), 'token_claim_invalid'],
  ['exp above 2^53', () => authentic({ exp: 2 ** 60 }), 'token_claim_invalid'],
  ['exp after the year 9999', () => authentic({ exp: 253402300800 }), 'token_claim_invalid'],
  [
    'exp as 1e400 (Infinity once parsed)',
    () => authenticRaw(`{${members(['exp'])},"exp":1e400}`),
    'token_claim_invalid',
  ],
  ['exp negative', () => authentic({ exp: -1 }), 'token_claim_invalid'],
  ['nbf as a string', () => authentic({ nbf: 'now' }), 'token_claim_invalid'],
  ['iat as an object', () => authentic({ iat: {} }), 'token_claim_invalid'],
  ['sub as a number', () => authentic({ sub: alice.userId }), 'token_claim_invalid'],
  ['sub as an array', () => authentic({ sub: [String(alice.userId)] }), 'token_claim_invalid'],
  ['sub as an object', () => authentic({ sub: { id: alice.userId } }), 'token_claim_invalid'],
  ['sub as null', () => authentic({ sub: null }), 'token_claim_invalid'],
  ['an empty sub', () => authentic({ sub: '' }), 'token_claim_invalid'],
  ['jti as a number', () => authentic({ jti: 1 }), 'token_claim_invalid'],
  ['type "id"', () => authentic({ type: 'id' }), 'token_claim_invalid'],
  ['type "refresh" under an access typ', () => authentic({ type: 'refresh' }), 'token_wrong_type'],
  ['typ "JWT" (untyped)', () => authentic({}, { ...header, typ: 'JWT' }), 'token_wrong_type'],
  ['no typ', () => authentic({}, { alg: header.alg, kid: header.kid }), 'token_wrong_type'],
  ['fresh as a string', () => authentic({ fresh: 'yes' }), 'token_claim_invalid'],
  ['another audience', () => authentic({ aud: 'https://other.example' }), 'token_wrong_audience'],
  [
    'a list of other audiences',
    () => authentic({ aud: ['https://a.example', 'https://b.example'] }),
    'token_wrong_audience',
  ],
  ['no aud', () => authentic({ aud: undefined }), 'token_claim_missing'],
  ['aud as a number', () => authentic({ aud: 1 }), 'token_claim_invalid'],
  ['aud as a list holding a non-string', () => authentic({ aud: [AUDIENCE, 1] }), 'token_claim_invalid'],
  ['the audience as a prefix', () => authentic({ aud: `${AUDIENCE}.evil.example` }), 'token_wrong_audience'],
  ['another issuer', () => authentic({ iss: 'https://evil.example' }), 'token_wrong_issuer'],
  ['no iss', () => authentic({ iss: undefined }), 'token_claim_missing'],
  ['iss as a list', () => authentic({ iss: [ISSUER] }), 'token_wrong_issuer'],
  ['iss differing in case', () => authentic({ iss: ISSUER.toUpperCase() }), 'token_wrong_issuer'],
  // Issue 15: an authentic token made to live far longer than the server issues (maxTokenAge).
  ['exp in the year 9999', () => authentic({ exp: 253402300799 }), 'token_lifetime_exceeded'],
  ['exp ten years out', () => authentic({ exp: t + 10 * 365 * 86_400 }), 'token_lifetime_exceeded'],
  [
    'exp one second beyond the lifetime',
    () => authentic({ exp: Number(claims.iat) + 901 }),
    'token_lifetime_exceeded',
  ],
  ['no iat (lifetime unbounded)', () => authentic({ iat: undefined }), 'token_claim_missing'],
]

describe('authentic tokens with bad claims', () => {
  it('accepts a correctly re-signed copy of the genuine claims (the baseline)', async () => {
    const res = await server.api('GET', '/protected', { token: authentic({}) })
    expect(res.status, res.text).toBe(200)
  })

  it.each(REFUSED)('refuses %s with 401 on /protected, /auth/me and /admin', async (_label, make, code) => {
    const token = make()
    for (const path of ['/protected', '/auth/me', '/admin']) {
      const res = await server.api('GET', path, { token })
      expectUnauthorized(res, code)
      expectRefused(res)
    }
  })

  it('refuses on /auth/me an authentic token whose sub is no user id (401, never a 5xx)', async () => {
    // Found by the claims fuzzer: /auth/me answers from the token, and Number('EdDSA') is NaN.
    const id = String(alice.userId)
    // Other spellings of alice's own id too: a revocation of her matches `sub` as written.
    for (const sub of [
      'EdDSA',
      '0',
      '-1',
      '1.5',
      '99999999999999999999',
      `0${id}`,
      ` ${id}`,
      `${id}.0`,
      `${id}e0`,
    ]) {
      const res = await server.api('GET', '/auth/me', { token: authentic({ sub }) })
      expect([sub, res.status], res.text).toEqual([sub, 401])
    }
  })

  it('refuses an expired token on an unsafe route and changes nothing (POST /auth/logout-all)', async () => {
    const res = await server.api('POST', '/auth/logout-all', { token: authentic({ exp: t - 60 }) })
    expectUnauthorized(res, 'token_expired')
    expect((await server.me(alice.access)).status).toBe(200)
  })

  it('refuses a huge exp on logout without a 5xx (no revocation row with an unrepresentable expiry)', async () => {
    const res = await server.api('POST', '/auth/logout', { token: authentic({ exp: 1e300 }) })
    expectUnauthorized(res, 'token_claim_invalid')
    expect((await server.me(alice.access)).status).toBe(200)
  })

  it.each([
    ['expired', { exp: t - 60 }, 'token_expired'],
    ['with exp as a string', { exp: String(t + 3600) }, 'token_claim_invalid'],
    ['for another audience', { aud: 'https://other.example' }, 'token_wrong_audience'],
    ['from another issuer', { iss: 'https://evil.example' }, 'token_wrong_issuer'],
    ['with nbf in the future', { nbf: t + 3600 }, 'token_not_yet_valid'],
    ['living ten years', { exp: t + 10 * 365 * 86_400 }, 'token_lifetime_exceeded'],
  ])('refuses a refresh token %s on POST /auth/refresh', async (_label, changes, code) => {
    const token = signedBy(server.signingKey, refreshHeader, { ...refreshClaims, ...changes })
    const res = await server.api('POST', '/auth/refresh', { token })
    expectUnauthorized(res, code)
    expectRefused(res)
  })
})

describe('duplicate JSON keys in the payload', () => {
  // RFC 7519 §4 / RFC 7515 §5.2 allow a parser that keeps the lexically last member. Tessera does
  // (JSON.parse), everywhere the claims are read, so the last value decides consistently. Only the key
  // holder can sign such a payload; an attacker appending a duplicate breaks the signature.
  it('refuses a duplicate appended to a genuine payload (the signature no longer holds)', async () => {
    const { segments } = partsOf(alice.access)
    const json = Buffer.from(segments[1], 'base64url').toString('utf8')
    const tampered = `${json.slice(0, -1)},"roles":["admin"],"sub":"${String(bob.userId)}"}`
    const token = `${segments[0]}.${b64(tampered)}.${segments[2]}`
    for (const path of ['/admin', '/auth/me']) {
      const res = await server.api('GET', path, { token })
      expectUnauthorized(res, 'token_invalid_signature')
      expectRefused(res)
    }
  })

  it('reads the last roles member of an authentic payload: ["admin"] then [] gives 403 on /admin', async () => {
    const token = authenticRaw(`{"roles":["admin"],${members()}}`)
    const res = await server.api('GET', '/admin', { token })
    expect(res.status, res.text).toBe(403)
    expectRefused(res, [403])
  })

  it('reads the last sub member of an authentic payload, the same for every route', async () => {
    const token = authenticRaw(`{"sub":"${String(bob.userId)}",${members()}}`)
    const me = await server.me(token)
    expect(me.status, me.text).toBe(200)
    expect(me.body.id).toBe(alice.userId)
  })

  it('reads the last exp member: a fresh exp followed by an expired one is refused', async () => {
    const token = authenticRaw(`{${members(['exp'])},"exp":${String(t + 900)},"exp":${String(t - 60)}}`)
    expectUnauthorized(await server.me(token), 'token_expired')
  })

  it('reads the last alg header member: "none" after the real alg is refused', async () => {
    const input = `${b64(`{"alg":"${String(header.alg)}","kid":"${String(header.kid)}","typ":"at+jwt","alg":"none"}`)}.${b64(claims)}`
    const token = `${input}.${server.signingKey.sign(input)}`
    expectUnauthorized(await server.me(token), 'token_algorithm_rejected')
  })
})
