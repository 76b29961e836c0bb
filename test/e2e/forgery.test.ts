// Forged access tokens against the running server (the attacks of issue 8 that need no server key):
// each is built from a real token's claims, escalated to the admin role, and must be refused with 401
// on /admin and /auth/me.
import { createHmac, generateKeyPairSync, sign } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { b64 } from '../helpers/forge.js'
import {
  decode,
  expectUnauthorized,
  uniqueName,
  useServer,
  type JwkBody,
  type Tokens,
} from '../helpers/server-harness.js'

const server = useServer()
let alice: Tokens
let header: Record<string, unknown>
let claims: Record<string, unknown>
let serverJwk: JwkBody
let signature: string

const attacker = generateKeyPairSync('ed25519')
const attackerJwk = attacker.publicKey.export({ format: 'jwk' })

/** `header.payload` signed with HMAC-SHA256 under `secret`. */
function hs256(h: unknown, p: unknown, secret: string | Buffer): string {
  const input = `${b64(h)}.${b64(p)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** `header.payload` signed with the attacker's Ed25519 key. */
function attackerSigned(h: unknown, p: unknown): string {
  const input = `${b64(h)}.${b64(p)}`
  return `${input}.${sign(null, Buffer.from(input), attacker.privateKey).toString('base64url')}`
}

/** `header.payload.sig` with a signature given as is. */
function unsigned(h: unknown, p: unknown, sig: string): string {
  return `${b64(h)}.${b64(p)}.${sig}`
}

beforeAll(async () => {
  alice = await server.register(uniqueName('alice'))
  ;({ header, claims } = decode(alice.access))
  signature = alice.access.split('.')[2]!
  const jwks = await server.api('GET', '/.well-known/jwks.json')
  serverJwk = (jwks.body.keys ?? []).find((k) => k.kid === header.kid)!
  expect(serverJwk).toBeDefined()
})

/** The real claims with the admin role added. */
const escalated = (): Record<string, unknown> => ({ ...claims, roles: ['admin'] })

const FORGERIES: [string, () => string][] = [
  ...['none', 'None', 'NONE', 'nOnE'].flatMap((alg): [string, () => string][] => [
    [`alg "${alg}" without a signature`, () => unsigned({ ...header, alg }, escalated(), '')],
    [`alg "${alg}" with the original signature`, () => unsigned({ ...header, alg }, escalated(), signature)],
  ]),
  [
    'HS256 keyed with the public key x coordinate (algorithm confusion)',
    () => hs256({ ...header, alg: 'HS256' }, escalated(), String(serverJwk.x)),
  ],
  [
    'HS256 keyed with the raw public key bytes',
    () => hs256({ ...header, alg: 'HS256' }, escalated(), Buffer.from(String(serverJwk.x), 'base64url')),
  ],
  [
    'HS256 keyed with the public JWK as JSON',
    () => hs256({ ...header, alg: 'HS256' }, escalated(), JSON.stringify(serverJwk)),
  ],
  [
    'an embedded jwk header carrying the attacker key',
    () => attackerSigned({ ...header, jwk: attackerJwk }, escalated()),
  ],
  [
    'a jku header pointing elsewhere',
    () => attackerSigned({ ...header, jku: 'http://127.0.0.1:9/jwks.json' }, escalated()),
  ],
  [
    'an x5u header pointing elsewhere',
    () => attackerSigned({ ...header, x5u: 'http://127.0.0.1:9/cert.pem' }, escalated()),
  ],
  ['the server kid signed by the attacker key', () => attackerSigned(header, escalated())],
  ['an unknown kid', () => attackerSigned({ ...header, kid: 'attacker-key' }, escalated())],
  [
    'a kid with path traversal',
    () => hs256({ ...header, alg: 'HS256', kid: '../../../../../../dev/null' }, escalated(), ''),
  ],
  [
    'a kid with SQL injection',
    () => attackerSigned({ ...header, kid: "' UNION SELECT 'attacker-key' --" }, escalated()),
  ],
  [
    'a psychic ECDSA signature (r = s = 0)',
    () => unsigned({ ...header, alg: 'ES256' }, escalated(), Buffer.alloc(64).toString('base64url')),
  ],
  ['the admin role with the original signature', () => unsigned(header, escalated(), signature)],
  ['a stripped signature', () => unsigned(header, claims, '')],
  ['a truncated signature', () => unsigned(header, claims, signature.slice(0, 40))],
  ['a re-encoded header with typ "JWT"', () => unsigned({ ...header, typ: 'JWT' }, claims, signature)],
  ['crit with an unknown extension', () => unsigned({ ...header, crit: ['x-unknown'] }, claims, signature)],
  [
    'a refresh-typed header over access claims',
    () => unsigned({ ...header, typ: 'refresh+jwt' }, claims, signature),
  ],
]

describe('forged access tokens', () => {
  it('accepts the genuine token (the baseline the forgeries start from)', async () => {
    expect((await server.me(alice.access)).status).toBe(200)
  })

  it.each(FORGERIES)('refuses %s with 401 on /admin and /auth/me', async (_label, make) => {
    const token = make()
    const admin = await server.api('GET', '/admin', { token })
    expectUnauthorized(admin)
    expect(admin.body.message).not.toBe('Welcome to the admin panel')
    const me = await server.me(token)
    expectUnauthorized(me)
    expect(me.body.username).toBeUndefined()
  })

  it('refuses an alg "none" token with token_algorithm_rejected', async () => {
    const res = await server.me(unsigned({ ...header, alg: 'none' }, claims, ''))
    expectUnauthorized(res, 'token_algorithm_rejected')
  })

  it('refuses an embedded jwk with token_header_rejected', async () => {
    const res = await server.me(attackerSigned({ ...header, jwk: attackerJwk }, claims))
    expectUnauthorized(res, 'token_header_rejected')
  })

  it('still accepts the genuine token after the attempts', async () => {
    for (const [label, make] of FORGERIES) expect((await server.me(make())).status, label).toBe(401)
    expect((await server.me(alice.access)).status).toBe(200)
  })
})
