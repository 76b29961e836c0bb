// Classic JWT attacks against the core verifier: each must be refused with a typed error.
import { createPrivateKey, createSign, generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  createKeyRing,
  createTessera,
  exportKey,
  generateKey,
  type Tessera,
} from '../../packages/tessera/src/index.js'
import { accessClaims, b64, forge, SECRET } from '../helpers/forge.js'

async function code(auth: Tessera, token: string): Promise<string> {
  try {
    await auth.verify(token)
  } catch (error) {
    return (error as { code: string }).code
  }
  return 'accepted'
}

const header = (auth: Tessera, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  alg: auth.keys.active.alg,
  kid: auth.keys.active.kid,
  typ: 'at+jwt',
  ...extra,
})

describe('forgery attacks', () => {
  it.each(['none', 'None', 'NONE', 'nOnE'])(
    'refuses a token whose header says alg %s, signed or not',
    async (alg) => {
      const auth = createTessera({ secret: SECRET })
      const unsigned = forge(header(auth, { alg }), accessClaims(), { signature: '' })
      const withSignature = forge(header(auth, { alg }), accessClaims(), { signature: 'c2lnbmF0dXJl' })
      const withoutKid = forge({ alg, typ: 'at+jwt' }, accessClaims(), { signature: '' })
      expect(await code(auth, unsigned)).toBe('token_algorithm_rejected')
      expect(await code(auth, withSignature)).toBe('token_algorithm_rejected')
      expect(await code(auth, withoutKid)).toBe('token_algorithm_rejected')
    },
  )

  it.each(['RS256', 'ES256', 'EdDSA'] as const)(
    'refuses HS256 signed with the %s public key as the HMAC secret (algorithm confusion)',
    async (alg) => {
      const key = await generateKey(alg)
      const auth = createTessera({ keys: key })
      const publicPem = exportKey(key).pem!
      const jwkText = JSON.stringify(key.publicJwk)
      for (const secret of [publicPem, publicPem.trim(), jwkText]) {
        const token = forge(header(auth, { alg: 'HS256' }), accessClaims(), { hmacSecret: secret })
        expect(await code(auth, token)).toBe('token_algorithm_rejected')
      }
    },
  )

  it('refuses an algorithm swap within a ring that holds both an HMAC and an RSA key', async () => {
    const rsa = await generateKey('RS256')
    const auth = createTessera({ keys: createKeyRing([rsa, { alg: 'HS256', secret: SECRET, kid: 'hmac' }]) })
    const token = forge({ alg: 'HS256', kid: rsa.kid, typ: 'at+jwt' }, accessClaims(), {
      hmacSecret: exportKey(rsa).pem!,
    })
    expect(await code(auth, token)).toBe('token_algorithm_rejected')
    const swapped = forge({ alg: 'RS256', kid: 'hmac', typ: 'at+jwt' }, accessClaims(), rsa)
    expect(await code(auth, swapped)).toBe('token_algorithm_rejected')
  })

  it('refuses a token that embeds its own key (jwk header) even when signed by that key', async () => {
    const auth = createTessera({ keys: await generateKey('RS256') })
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const jwk = attacker.publicKey.export({ format: 'jwk' })
    const h = header(auth, { jwk })
    const input = `${b64(h)}.${b64(accessClaims({ sub: 'admin' }))}`
    const signature = createSign('sha256').update(input).sign(attacker.privateKey).toString('base64url')
    expect(await code(auth, `${input}.${signature}`)).toBe('token_header_rejected')
  })

  it.each([
    ['jku', 'https://attacker.example/jwks.json'],
    ['x5u', 'https://attacker.example/cert.pem'],
    ['x5c', ['MIIBszCCAVmgAwIBAgIU']],
  ])('refuses a token whose header carries %s', async (parameter, value) => {
    const auth = createTessera({ secret: SECRET })
    const token = forge(header(auth, { [parameter]: value }), accessClaims(), auth.keys.active)
    expect(await code(auth, token)).toBe('token_header_rejected')
  })

  it.each([
    ['an unknown id', 'no-such-key'],
    ['path traversal', '../../../../dev/null'],
    ['SQL injection', "' UNION SELECT 'secret' --"],
    ['a prototype property', '__proto__'],
    ['another prototype property', 'constructor'],
  ])('refuses a kid with %s as an unknown key', async (_title, kid) => {
    const auth = createTessera({ secret: SECRET })
    const token = forge(header(auth, { kid }), accessClaims(), { hmacSecret: '' })
    expect(await code(auth, token)).toBe('token_unknown_key')
  })

  it('refuses a kid that is not a string', async () => {
    const auth = createTessera({ secret: SECRET })
    expect(await code(auth, forge(header(auth, { kid: 1 }), accessClaims(), auth.keys.active))).toBe(
      'token_malformed',
    )
  })

  it('refuses a critical header extension it does not understand, and unencoded payloads', async () => {
    const auth = createTessera({ secret: SECRET })
    const crit = forge(header(auth, { crit: ['exp'], exp: 1 }), accessClaims(), auth.keys.active)
    const b64false = forge(header(auth, { crit: ['b64'], b64: false }), accessClaims(), auth.keys.active)
    const b64only = forge(header(auth, { b64: false }), accessClaims(), auth.keys.active)
    expect(await code(auth, crit)).toBe('token_header_rejected')
    expect(await code(auth, b64false)).toBe('token_header_rejected')
    expect(await code(auth, b64only)).toBe('token_header_rejected')
  })

  it('refuses a header re-encoded with another typ, since the signature covers it', async () => {
    const auth = createTessera({ secret: SECRET })
    const token = await auth.createRefreshToken('alice')
    const [, payload, signature] = token.split('.')
    const retyped = `${b64(header(auth))}.${payload!}.${signature!}`
    expect(await code(auth, retyped)).toBe('token_invalid_signature')
  })
})

describe('signature tampering', () => {
  it.each(['HS256', 'RS256', 'PS256', 'ES256', 'ES512', 'EdDSA'] as const)(
    'refuses stripped, truncated, extended, bit-flipped and re-encoded %s signatures',
    async (alg) => {
      const auth = createTessera({ keys: await generateKey(alg) })
      const token = await auth.createAccessToken('alice')
      const dot = token.lastIndexOf('.')
      const input = token.slice(0, dot)
      const signature = token.slice(dot + 1)
      const bytes = Buffer.from(signature, 'base64url')
      const flipped = Buffer.from(bytes)
      flipped[5] = (flipped[5] ?? 0) ^ 0x01
      const last = signature.at(-1)!
      // Changing unused trailing bits keeps the decoded bytes identical: a non-canonical encoding.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
      const sibling = alphabet[alphabet.indexOf(last) ^ 1]!
      const cases = {
        stripped: `${input}.`,
        truncated: `${input}.${signature.slice(0, -4)}`,
        extended: `${input}.${signature}AA`,
        flipped: `${input}.${flipped.toString('base64url')}`,
        reencoded: `${input}.${signature.slice(0, -1)}${sibling}`,
        padded: `${input}.${signature}=`,
        standardBase64: `${input}.${bytes.toString('base64')}`,
      }
      for (const [name, tampered] of Object.entries(cases)) {
        if (tampered === token) continue
        expect([name, await code(auth, tampered)]).toEqual([
          name,
          name === 'padded' || (name === 'standardBase64' && /[+/=]/.test(tampered))
            ? 'token_malformed'
            : 'token_invalid_signature',
        ])
      }
    },
  )

  it('refuses a tampered payload (privilege escalation)', async () => {
    const auth = createTessera({ secret: SECRET })
    const token = await auth.createAccessToken('alice', { claims: { roles: ['user'] } })
    const [h, payload, signature] = token.split('.')
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>
    const escalated = `${h!}.${b64({ ...claims, roles: ['admin'] })}.${signature!}`
    const otherUser = `${h!}.${b64({ ...claims, sub: 'root' })}.${signature!}`
    expect(await code(auth, escalated)).toBe('token_invalid_signature')
    expect(await code(auth, otherUser)).toBe('token_invalid_signature')
  })

  it.each(['ES256', 'ES384', 'ES512'] as const)('refuses the psychic %s signature r = s = 0', async (alg) => {
    const auth = createTessera({ keys: await generateKey(alg) })
    const size = { ES256: 64, ES384: 96, ES512: 132 }[alg]
    const zero = Buffer.alloc(size).toString('base64url')
    const token = forge(header(auth), accessClaims({ sub: 'admin' }), { signature: zero })
    expect(await code(auth, token)).toBe('token_invalid_signature')
    // A DER-encoded signature is not a JWS ECDSA signature (RFC 7518 §3.4).
    const pem = exportKey(auth.keys.active, { includePrivate: true }).pem!
    const input = `${b64(header(auth))}.${b64(accessClaims())}`
    const hash = { ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' }[alg]
    const der = createSign(hash).update(input).sign(createPrivateKey(pem)).toString('base64url')
    expect(await code(auth, `${input}.${der}`)).toBe('token_invalid_signature')
  })

  it('refuses a signature made by a different key of the same algorithm', async () => {
    const auth = createTessera({ keys: await generateKey('EdDSA') })
    const stranger = await generateKey('EdDSA', { kid: auth.keys.active.kid })
    const token = createTessera({ keys: stranger })
    expect(await code(auth, await token.createAccessToken('alice'))).toBe('token_invalid_signature')
  })

  it('refuses a token from an HMAC key with the same kid but another secret', async () => {
    const auth = createTessera({ keys: { alg: 'HS256', secret: SECRET, kid: 'k1' } })
    const other = createTessera({ keys: { alg: 'HS256', secret: `${SECRET}-other`, kid: 'k1' } })
    expect(await code(auth, await other.createAccessToken('alice'))).toBe('token_invalid_signature')
  })
})

describe('parsing attacks', () => {
  it.each([
    ['an empty string', ''],
    ['one segment', 'abc'],
    ['two segments', 'abc.def'],
    ['four segments', 'abc.def.ghi.jkl'],
    ['an empty header', '.e30.sig'],
    ['an empty payload', 'e30..sig'],
    ['non-base64url characters', 'ab$c.def.ghi'],
    ['padding', 'e30=.e30.sig'],
    ['whitespace', 'e30. e30.sig'],
    ['a header that is not JSON', `${b64('not json')}.e30.sig`],
    ['a header that is an array', `${b64([1])}.e30.sig`],
    ['a header that is null', `${b64('null')}.e30.sig`],
    ['a header without alg', `${b64({ typ: 'at+jwt' })}.e30.sig`],
    ['a header whose alg is not a string', `${b64({ alg: 256 })}.e30.sig`],
    [
      'a header of invalid UTF-8',
      `${Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]).toString('base64url')}.e30.sig`,
    ],
  ])('refuses %s as token_malformed', async (_title, token) => {
    const auth = createTessera({ secret: SECRET })
    expect(await code(auth, token)).toBe('token_malformed')
  })

  it('refuses a 1 MB token before parsing it', async () => {
    const auth = createTessera({ secret: SECRET })
    const huge = `${b64(header(auth))}.${'A'.repeat(1_000_000)}.sig`
    expect(await code(auth, huge)).toBe('token_malformed')
  })

  it('refuses a deeply nested header without crashing', async () => {
    const auth = createTessera({ secret: SECRET, maxTokenLength: 100_000 })
    const nested = `{"alg":"HS256","kid":"${auth.keys.active.kid}","x":${'['.repeat(5000)}${']'.repeat(5000)}}`
    const token = `${b64(nested)}.${b64(accessClaims())}.c2ln`
    expect(await code(auth, token)).toBe('token_invalid_signature')
  })

  it('refuses a payload that is not a JSON object even when correctly signed', async () => {
    const auth = createTessera({ secret: SECRET })
    for (const payload of ['[1,2]', '"alice"', '42', 'null']) {
      expect(await code(auth, forge(header(auth), payload, auth.keys.active))).toBe('token_malformed')
    }
  })
})
