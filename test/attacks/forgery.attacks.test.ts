// Token forgery over HTTP (issue 8, "Token forgery"): tokens an attacker can build without the server's
// private key, against servers signing with EdDSA (the default), ES256 and RS256, and against the
// Fastify and Express adapters. Sources: RFC 8725 §2.1–2.2 and §3.1, the OWASP JWT cheat sheet,
// PortSwigger's JWT attacks, jwt_tool's attack list, jsonwebtoken CVE-2015-9235 / CVE-2022-23540 /
// CVE-2022-23541, fast-jwt CVE-2023-48223 (and its whitespace-prefixed-PEM follow-up).
import { createHmac, createPublicKey, generateKeyPairSync, sign } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTessera, generateKey, type Algorithm } from '../../packages/tessera/src/index.js'
import {
  uniqueName,
  useServer,
  type ApiResponse,
  type JwkBody,
  type Tokens,
} from '../helpers/server-harness.js'
import { b64, expectRefused, inBatches, partsOf, pemOf, useAdapterApps } from './tools.js'

/** What the attacker knows: a genuine token of their own and the server's public key. */
interface Known {
  token: string
  jwk: JwkBody
  /** An endpoint on the attacker's side (jku / x5u), to prove the server never fetches it. */
  attackerUrl: string
}

const attacker = generateKeyPairSync('ed25519')
const attackerJwk = { ...attacker.publicKey.export({ format: 'jwk' }), alg: 'EdDSA', use: 'sig' }

const hmac = (hash: string, secret: string | Buffer, input: string): string =>
  createHmac(hash, secret).update(input).digest('base64url')

/** `header.payload` with an HMAC under `secret` (the algorithm-confusion shape). */
function hs(alg: 'HS256' | 'HS384' | 'HS512', h: object, p: object, secret: string | Buffer): string {
  const input = `${b64({ ...h, alg })}.${b64(p)}`
  return `${input}.${hmac(`sha${alg.slice(2)}`, secret, input)}`
}

/** `header.payload` signed with the attacker's own Ed25519 key. */
function attackerSigned(h: object, p: object): string {
  const input = `${b64(h)}.${b64(p)}`
  return `${input}.${sign(null, Buffer.from(input), attacker.privateKey).toString('base64url')}`
}

const raw = (h: object, p: object, signature: string): string => `${b64(h)}.${b64(p)}.${signature}`

/** Flips bit `bit` of byte `index` of a base64url signature. */
function flip(signature: string, index: number, bit = 0): string {
  const bytes = Buffer.from(signature, 'base64url')
  const i = ((index % bytes.length) + bytes.length) % bytes.length
  bytes[i] = (bytes[i] ?? 0) ^ (1 << bit)
  return bytes.toString('base64url')
}

/** The same signature bytes in a non-canonical base64url spelling (unused low bits set). */
function nonCanonical(signature: string): string | undefined {
  const last = signature.at(-1)!
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  for (let delta = 1; delta < 4; delta++) {
    const other = alphabet[alphabet.indexOf(last) ^ delta]
    if (other === undefined) continue
    const candidate = signature.slice(0, -1) + other
    if (Buffer.from(candidate, 'base64url').equals(Buffer.from(signature, 'base64url'))) return candidate
  }
  return undefined
}

/** Every forgery, built from what the attacker knows. Claims are escalated to the admin role. */
function forgeries(known: Known): [string, string][] {
  const { header, claims, segments } = partsOf(known.token)
  const signature = segments[2]
  const admin = { ...claims, roles: ['admin'], sub: '1' }
  const pem = pemOf(known.jwk)
  const der = createPublicKey(pem).export({ type: 'spki', format: 'der' })
  const keyMember = String(known.jwk.x ?? known.jwk.n)
  const list: [string, string][] = []
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    list.push([`alg "${alg}" without a signature`, raw({ ...header, alg }, admin, '')])
    list.push([`alg "${alg}" with the original signature`, raw({ ...header, alg }, admin, signature)])
    list.push([`alg "${alg}" and no kid`, raw({ alg, typ: header.typ }, admin, '')])
  }
  list.push(['an empty alg', raw({ ...header, alg: '' }, admin, '')])
  list.push(['a missing alg', raw({ typ: header.typ, kid: header.kid }, admin, signature)])
  list.push(['alg null', raw({ ...header, alg: null }, admin, signature)])
  for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
    list.push([`${alg} keyed with the public key PEM (CVE-2015-9235)`, hs(alg, header, admin, pem)])
  }
  list.push(['HS256 keyed with the PEM without its final newline', hs('HS256', header, admin, pem.trimEnd())])
  list.push([
    'HS256 keyed with a whitespace-prefixed PEM (fast-jwt GHSA-mvf2-f6gm-w987)',
    hs('HS256', header, admin, `  \n${pem}`),
  ])
  list.push(['HS256 keyed with the SPKI DER bytes', hs('HS256', header, admin, der)])
  list.push(['HS256 keyed with the JWK as JSON', hs('HS256', header, admin, JSON.stringify(known.jwk))])
  list.push(['HS256 keyed with the JWK key member text', hs('HS256', header, admin, keyMember)])
  list.push([
    'HS256 keyed with the JWK key member bytes',
    hs('HS256', header, admin, Buffer.from(keyMember, 'base64url')),
  ])
  list.push(['HS256 keyed with an empty secret (CVE-2022-23540)', hs('HS256', header, admin, '')])
  list.push(['HS256 with an empty secret and no kid', hs('HS256', { typ: header.typ }, admin, '')])
  list.push([
    'an embedded jwk carrying the attacker key',
    attackerSigned({ ...header, alg: 'EdDSA', jwk: attackerJwk }, admin),
  ])
  list.push([
    'an embedded jwk with the attacker key and no kid',
    attackerSigned({ alg: 'EdDSA', typ: header.typ, jwk: attackerJwk }, admin),
  ])
  list.push([
    'a jku pointing to the attacker JWKS',
    attackerSigned({ ...header, alg: 'EdDSA', jku: `${known.attackerUrl}/jwks.json` }, admin),
  ])
  list.push([
    'an x5u pointing to the attacker certificate',
    attackerSigned({ ...header, alg: 'EdDSA', x5u: `${known.attackerUrl}/cert.pem` }, admin),
  ])
  list.push([
    'an x5c chain of the attacker',
    attackerSigned({ ...header, alg: 'EdDSA', x5c: [Buffer.from('not a cert').toString('base64')] }, admin),
  ])
  list.push(['the server kid signed by the attacker key', attackerSigned({ ...header, alg: 'EdDSA' }, admin)])
  list.push(['an unknown kid', attackerSigned({ ...header, alg: 'EdDSA', kid: 'attacker-key' }, admin)])
  list.push([
    'a kid with path traversal to /dev/null (empty HMAC key)',
    hs('HS256', { ...header, kid: '../../../../../../../dev/null' }, admin, ''),
  ])
  list.push([
    'a kid with path traversal to a known file',
    hs('HS256', { ...header, kid: '/proc/self/environ' }, admin, ''),
  ])
  list.push([
    'a kid with SQL injection selecting a chosen key',
    hs('HS256', { ...header, kid: "x' UNION SELECT 'attacker' -- " }, admin, 'attacker'),
  ])
  list.push([
    'a kid with SQL injection (boolean)',
    attackerSigned({ ...header, alg: 'EdDSA', kid: "' OR '1'='1" }, admin),
  ])
  list.push(['an empty kid', raw({ ...header, kid: '' }, admin, signature)])
  list.push(['a numeric kid', raw({ ...header, kid: 0 }, admin, signature)])
  list.push(['a kid array', raw({ ...header, kid: [header.kid] }, admin, signature)])
  list.push([
    'a psychic ECDSA signature r = s = 0 (P1363)',
    raw({ ...header, alg: 'ES256' }, admin, Buffer.alloc(64).toString('base64url')),
  ])
  list.push([
    'a psychic ECDSA signature r = s = 0 (DER)',
    raw({ ...header, alg: 'ES256' }, admin, 'MAYCAQACAQA'),
  ])
  list.push(['the admin role with the original signature', raw(header, admin, signature)])
  list.push(['a stripped signature', raw(header, claims, '')])
  list.push(['a stripped signature without its dot', `${segments[0]}.${segments[1]}`])
  list.push(['a truncated signature', raw(header, claims, signature.slice(0, 40))])
  list.push(['a signature missing its last character', raw(header, claims, signature.slice(0, -1))])
  list.push(['a signature with one extra character', raw(header, claims, `${signature}A`)])
  list.push(['a signature with its first bit flipped', raw(header, claims, flip(signature, 0))])
  list.push(['a signature with a middle bit flipped', raw(header, claims, flip(signature, 20, 3))])
  list.push(['a signature with its last bit flipped', raw(header, claims, flip(signature, -1, 7))])
  const canonicalTwin = nonCanonical(signature)
  if (canonicalTwin !== undefined) {
    list.push([
      'the genuine signature spelled non-canonically',
      `${segments[0]}.${segments[1]}.${canonicalTwin}`,
    ])
  }
  list.push(['the genuine signature in padded base64', `${segments[0]}.${segments[1]}.${signature}==`])
  list.push([
    'the genuine signature in standard base64',
    `${segments[0]}.${segments[1]}.${Buffer.from(signature, 'base64url').toString('base64').replace(/=+$/, '')}`,
  ])
  list.push(['a re-encoded header with typ "JWT"', raw({ ...header, typ: 'JWT' }, claims, signature)])
  list.push(['a re-encoded header without typ', raw({ alg: header.alg, kid: header.kid }, claims, signature)])
  list.push([
    'a re-encoded header with typ "refresh+jwt"',
    raw({ ...header, typ: 'refresh+jwt' }, claims, signature),
  ])
  list.push([
    'a re-encoded header with the members reordered',
    raw({ kid: header.kid, typ: header.typ, alg: header.alg }, claims, signature),
  ])
  list.push([
    'crit with an unknown extension',
    raw({ ...header, crit: ['x-unknown'], 'x-unknown': 1 }, claims, signature),
  ])
  list.push(['crit naming exp', raw({ ...header, crit: ['exp'] }, claims, signature)])
  list.push([
    'an unencoded payload (b64: false)',
    raw({ ...header, b64: false, crit: ['b64'] }, claims, signature),
  ])
  if (header.alg === 'RS256') {
    list.push(['PS256 over the RS256 signature', raw({ ...header, alg: 'PS256' }, claims, signature)])
    list.push(['RS512 over the RS256 signature', raw({ ...header, alg: 'RS512' }, claims, signature)])
  }
  if (header.alg === 'ES256') {
    list.push(['ES384 over the ES256 signature', raw({ ...header, alg: 'ES384' }, claims, signature)])
    const bytes = Buffer.from(signature, 'base64url')
    // (r, n − s) is the other valid ECDSA signature; Tessera's P1363 check does not rely on low-s, but
    // the claims changed, so it must fail anyway. The form that matters: r and s swapped.
    const swapped = Buffer.concat([bytes.subarray(32), bytes.subarray(0, 32)]).toString('base64url')
    list.push(['ES256 with r and s swapped', raw(header, admin, swapped)])
  }
  if (header.alg === 'EdDSA') {
    list.push(['Ed448 named in the header', raw({ ...header, alg: 'Ed448' }, claims, signature)])
  }
  // A re-encoding can happen to give the genuine token back (a signature with no "-" or "_" is the same
  // in standard base64; a refresh token already has typ "refresh+jwt"): that is not a forgery.
  return list.filter(([, token]) => token !== known.token)
}

/** A loopback server standing for the attacker's jku / x5u host: counts every request it gets. */
function attackerHost(): { url: () => string; hits: () => number } {
  let server: Server | undefined
  let hits = 0
  beforeAll(async () => {
    server = createServer((_req, res) => {
      hits++
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ keys: [attackerJwk] }))
    })
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  })
  afterAll(
    () =>
      new Promise<void>((resolve) => {
        if (server === undefined) resolve()
        else
          server.close(() => {
            resolve()
          })
      }),
  )
  return {
    url: () => {
      const address = server?.address()
      return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 9}`
    },
    hits: () => hits,
  }
}

const ALGORITHMS = ['EdDSA', 'ES256', 'RS256'] as const satisfies readonly Algorithm[]

describe.each(ALGORITHMS)('forged tokens against a server signing with %s', (algorithm) => {
  const server = useServer({ algorithm })
  const host = attackerHost()
  let alice: Tokens
  let known: Known
  const list: [string, string][] = []

  beforeAll(async () => {
    alice = await server.register(uniqueName(`forger-${algorithm}`))
    const { header } = partsOf(alice.access)
    expect(header.alg).toBe(algorithm)
    known = { token: alice.access, jwk: await server.jwk(header.kid), attackerUrl: host.url() }
    list.push(...forgeries(known))
  })

  it('accepts the genuine token (the baseline every forgery starts from)', async () => {
    expect((await server.api('GET', '/protected', { token: alice.access })).status).toBe(200)
  })

  const ROUTES = [
    ['GET', '/protected'],
    ['GET', '/admin'],
    ['GET', '/users'],
    ['POST', '/auth/logout-all'],
  ] as const
  let attacked: Promise<{ label: string; method: string; path: string; res: ApiResponse }[]> | undefined
  /** Sends every forgery to every route, once for the describe, whichever test asks first. */
  const attack = (): NonNullable<typeof attacked> =>
    (attacked ??= inBatches(
      list.flatMap(([label, token]) => ROUTES.map(([method, path]) => ({ label, token, method, path }))),
      16,
      async (a) => ({ ...a, res: await server.api(a.method, a.path, { token: a.token }) }),
    ))

  it('refuses every forgery with 401 on GET /protected, /admin and /users and on POST /auth/logout-all', async () => {
    expect(list.length).toBeGreaterThan(40)
    const answers = await attack()
    for (const { label, method, path, res } of answers) {
      expect.soft(res.status, `${label}: ${method} ${path} → ${res.text}`).toBe(401)
      expectRefused(res)
    }
  })

  it('refuses the forgeries as refresh tokens too (POST /auth/refresh)', async () => {
    const { header, claims, segments } = partsOf(alice.refresh)
    const refreshKnown = { ...known, token: alice.refresh }
    const refreshList = [
      ...forgeries(refreshKnown),
      ['spliced', raw(header, { ...claims, sub: String(alice.userId + 1) }, segments[2])] as [string, string],
    ]
    const answers = await inBatches(refreshList, 16, async ([label, token]) => ({
      label,
      res: await server.api('POST', '/auth/refresh', { token }),
    }))
    for (const { label, res } of answers) {
      expect.soft(res.status, `${label}: ${res.text}`).toBe(401)
      expectRefused(res)
    }
  })

  it('publishes no private key member in the JWKS (d, p, q, dp, dq, qi, k)', async () => {
    const res = await server.api('GET', '/.well-known/jwks.json')
    expect(res.body.keys?.length).toBeGreaterThan(0)
    for (const key of res.body.keys ?? []) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key[member], member).toBeUndefined()
    }
  })

  it('never fetched the jku / x5u the forgeries pointed to', async () => {
    await attack()
    expect(host.hits()).toBe(0)
  })

  it('changed nothing: the genuine tokens still work and the session is still live', async () => {
    await attack()
    const me = await server.me(alice.access)
    expect(me.status).toBe(200)
    expect(me.body.roles).toEqual([])
    const sessions = await server.api('GET', '/auth/sessions', { token: alice.access })
    expect(sessions.body.sessions?.some((s) => s.id === alice.sessionId)).toBe(true)
  })
})

describe('a server signing with HS256 (a shared secret)', () => {
  const SECRET = 'an HS256 secret for the attack suite, 32+ bytes, random enough'
  const server = useServer({ algorithm: 'HS256', secret: SECRET })

  it('publishes no secret in the JWKS and refuses tokens made without the secret', async () => {
    const jwks = await server.api('GET', '/.well-known/jwks.json')
    expect(jwks.text).not.toContain(Buffer.from(SECRET).toString('base64url'))
    for (const key of jwks.body.keys ?? []) expect(key.k).toBeUndefined()
    const alice = await server.register(uniqueName('forger-hs'))
    const { header, claims } = partsOf(alice.access)
    const admin = { ...claims, roles: ['admin'] }
    const list: [string, string][] = [
      ['alg none', raw({ ...header, alg: 'none' }, admin, '')],
      ['an empty secret', hs('HS256', header, admin, '')],
      ['a guessed secret', hs('HS256', header, admin, 'secret')],
      ['HS512 with the right secret (the algorithm is pinned)', hs('HS512', header, admin, SECRET)],
      [
        'an embedded jwk with the attacker key',
        attackerSigned({ ...header, alg: 'EdDSA', jwk: attackerJwk }, admin),
      ],
    ]
    for (const [label, token] of list) {
      const res = await server.api('GET', '/admin', { token })
      expect(res.status, `${label}: ${res.text}`).toBe(401)
      expectRefused(res)
    }
  })
})

describe.each(ALGORITHMS)('forged tokens against the Fastify and Express adapters (%s)', (algorithm) => {
  const host = attackerHost()
  const { apps, auth } = useAdapterApps(async () => ({
    auth: createTessera({ keys: await generateKey(algorithm) }),
  }))

  it('accepts the genuine token and refuses every forgery with 401 on GET /protected, GET /admin and POST /auth/refresh', async () => {
    const engine = auth()
    const token = await engine.createAccessToken('alice', { claims: { roles: [] } })
    const refresh = await engine.createRefreshToken('alice')
    const jwk = engine.jwks().keys[0] as unknown as JwkBody
    const accessList = forgeries({ token, jwk, attackerUrl: host.url() })
    const refreshList = forgeries({ token: refresh, jwk, attackerUrl: host.url() })
    expect(apps).toHaveLength(2)
    for (const app of apps) {
      const genuine = await app.client.api('GET', '/protected', { token })
      expect(genuine.body.logged_in_as, app.name).toBe('alice')
      const attempts = [
        ...accessList.map(([label, forged]) => [label, 'GET', '/protected', forged] as const),
        ...accessList.map(([label, forged]) => [label, 'GET', '/admin', forged] as const),
        ...refreshList.map(([label, forged]) => [label, 'POST', '/auth/refresh', forged] as const),
      ]
      const answers = await inBatches(attempts, 16, async ([label, method, path, forged]) => ({
        label,
        method,
        path,
        res: await app.client.api(method, path, { token: forged }),
      }))
      for (const { label, method, path, res } of answers) {
        expect.soft(res.status, `${app.name} ${label}: ${method} ${path} → ${res.text}`).toBe(401)
        expect(res.body.logged_in_as).toBeUndefined()
        expect(res.body.message).not.toBe('Welcome to the admin panel')
      }
    }
    expect(host.hits()).toBe(0)
  })
})
