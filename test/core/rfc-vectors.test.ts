// Published JWS test vectors: RFC 7515 Appendix A, RFC 7520 §4.1-4.4, RFC 8037 Appendix A, RFC 7638 §3.1.
// The fixtures under test/fixtures/ hold the published base64url strings exactly as printed (line breaks
// removed); every vector is also checked against jose, so a transcription error fails loudly as a fixture
// problem rather than being mistaken for a Tessera bug.
import { createPublicKey, type JsonWebKey } from 'node:crypto'
import { compactVerify, importJWK } from 'jose'
import { describe, expect, it } from 'vitest'
import {
  decodeUnverified,
  importKey,
  thumbprint,
  type Algorithm,
  type TesseraKey,
} from '../../packages/tessera/src/index.js'
import rfc7515 from '../fixtures/rfc7515.json' with { type: 'json' }
import rfc7520 from '../fixtures/rfc7520.json' with { type: 'json' }
import rfc7638 from '../fixtures/rfc7638.json' with { type: 'json' }
import rfc8037 from '../fixtures/rfc8037.json' with { type: 'json' }

interface Vector {
  title: string
  alg: Algorithm
  /** The published key: an oct JWK for HMAC, a private JWK otherwise. */
  jwk: JsonWebKey
  header: string
  payload: string
  signature: string
  /** HMAC, RSASSA-PKCS1-v1_5 and Ed25519 signatures are deterministic: signing must reproduce them. */
  deterministic: boolean
}

const PUBLIC_MEMBERS = ['kty', 'kid', 'crv', 'x', 'y', 'n', 'e'] as const

/** The public half of a published private JWK (what a verifier is given). */
function publicPart(jwk: JsonWebKey): JsonWebKey {
  const out: Record<string, unknown> = {}
  for (const member of PUBLIC_MEMBERS) if (jwk[member] !== undefined) out[member] = jwk[member]
  return out
}

function signingKey(v: Vector): TesseraKey {
  return v.jwk.kty === 'oct'
    ? importKey({ alg: v.alg, secret: Buffer.from(v.jwk.k!, 'base64url') })
    : importKey({ alg: v.alg, privateKey: v.jwk })
}

function verifyingKey(v: Vector): TesseraKey {
  return v.jwk.kty === 'oct' ? signingKey(v) : importKey({ alg: v.alg, publicKey: publicPart(v.jwk) })
}

/** Flips one bit of a base64url segment's decoded bytes and re-encodes it canonically. */
function flipBit(segment: string, bit = 0): string {
  const bytes = Buffer.from(segment, 'base64url')
  const index = Math.floor(bit / 8) % bytes.length
  bytes[index] = bytes[index]! ^ (1 << (bit % 8))
  return bytes.toString('base64url')
}

/**
 * The same bytes under a non-canonical base64url spelling (unused low bits of the last character set), or
 * `undefined` when the length leaves no unused bits.
 */
function nonCanonical(segment: string): string | undefined {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const spareBits = segment.length * 6 - Buffer.from(segment, 'base64url').length * 8
  if (spareBits === 0) return undefined
  const last = alphabet.indexOf(segment.at(-1)!)
  const variant = segment.slice(0, -1) + alphabet[last ^ 1]!
  expect(Buffer.from(variant, 'base64url').equals(Buffer.from(segment, 'base64url'))).toBe(true)
  return variant
}

const rfc7520Key = (name: keyof typeof rfc7520.keys): JsonWebKey => rfc7520.keys[name]

const VECTORS: Vector[] = [
  { title: 'RFC 7515 A.1 (HS256)', ...rfc7515['A.1'], deterministic: true },
  { title: 'RFC 7515 A.2 (RS256)', ...rfc7515['A.2'], deterministic: true },
  { title: 'RFC 7515 A.3 (ES256)', ...rfc7515['A.3'], deterministic: false },
  { title: 'RFC 7515 A.4 (ES512, P-521)', ...rfc7515['A.4'], deterministic: false },
  ...(['4.1', '4.2', '4.3', '4.4'] as const).map((section) => {
    const v = rfc7520[section]
    return {
      title: `RFC 7520 §${section} (${v.alg})`,
      alg: v.alg,
      jwk: rfc7520Key(v.key as keyof typeof rfc7520.keys),
      header: v.header,
      payload: rfc7520.payload,
      signature: v.signature,
      // RSASSA-PSS (4.2) and ECDSA (4.3) are randomized.
      deterministic: v.alg === 'RS256' || v.alg === 'HS256',
    }
  }),
  { title: 'RFC 8037 A.4/A.5 (EdDSA, Ed25519)', ...rfc8037, alg: 'EdDSA', deterministic: true },
].map((v) => ({ ...v, alg: v.alg as Algorithm, jwk: v.jwk }))

describe.each(VECTORS)('$title', (v) => {
  const input = `${v.header}.${v.payload}`

  it('is a genuine vector: jose (the oracle) verifies the published JWS with the published key', async () => {
    const key = await importJWK(v.jwk.kty === 'oct' ? v.jwk : publicPart(v.jwk), v.alg)
    const result = await compactVerify(`${input}.${v.signature}`, key, { algorithms: [v.alg] })
    expect(Buffer.from(result.payload).toString('base64url')).toBe(v.payload)
  })

  it('verifies the published signature with the key imported from its JWK', () => {
    expect(verifyingKey(v).verify(input, v.signature)).toBe(true)
  })

  it('verifies the published signature with the private key too', () => {
    expect(signingKey(v).verify(input, v.signature)).toBe(true)
  })

  it('refuses the published JWS after a one-bit change in the payload', () => {
    const key = verifyingKey(v)
    for (const bit of [0, 7, 8 * 5 + 3]) {
      expect(key.verify(`${v.header}.${flipBit(v.payload, bit)}`, v.signature)).toBe(false)
    }
  })

  it('refuses the published JWS after a one-bit change in the header', () => {
    expect(verifyingKey(v).verify(`${flipBit(v.header, 9)}.${v.payload}`, v.signature)).toBe(false)
  })

  it('refuses the published JWS after a one-bit change in the signature', () => {
    const key = verifyingKey(v)
    const bytes = Buffer.from(v.signature, 'base64url').length * 8
    for (const bit of [0, 1, Math.floor(bytes / 2), bytes - 1]) {
      expect(key.verify(input, flipBit(v.signature, bit))).toBe(false)
    }
  })

  it('refuses a truncated, padded or empty signature', () => {
    const key = verifyingKey(v)
    expect(key.verify(input, v.signature.slice(0, -1))).toBe(false)
    expect(key.verify(input, `${v.signature}A`)).toBe(false)
    expect(key.verify(input, `${v.signature}=`)).toBe(false)
    expect(key.verify(input, '')).toBe(false)
    const standard = Buffer.from(v.signature, 'base64url').toString('base64')
    if (standard !== v.signature) expect(key.verify(input, standard)).toBe(false)
  })

  it('refuses a non-canonical base64url spelling of the published signature', () => {
    const variant = nonCanonical(v.signature)
    if (variant === undefined) {
      // ES512: 132 bytes fill 176 characters exactly, so there is no other spelling to try.
      expect(Buffer.from(v.signature, 'base64url').length * 8).toBe(v.signature.length * 6)
      return
    }
    expect(verifyingKey(v).verify(input, variant)).toBe(false)
  })

  it('refuses a signature whose characters only alias the published one when read as latin1', () => {
    // Each base64url character replaced by a non-ASCII character with the same low byte: a verifier that
    // compares latin1 bytes of the text (or decodes it leniently) would take it for the real signature.
    const key = verifyingKey(v)
    const aliased = v.signature.replace(/[A-Za-z]/, (c) => String.fromCharCode(0x100 + c.charCodeAt(0)))
    expect(aliased).not.toBe(v.signature)
    expect(Buffer.from(aliased, 'latin1').equals(Buffer.from(v.signature, 'latin1'))).toBe(true)
    expect(key.verify(input, aliased)).toBe(false)
  })

  if (v.deterministic) {
    it('reproduces the published signature exactly when signing', () => {
      expect(signingKey(v).sign(input)).toBe(v.signature)
    })
  } else {
    it('signs the published input with a fresh signature that the public key verifies', () => {
      const signature = signingKey(v).sign(input)
      expect(Buffer.from(signature, 'base64url').length).toBe(Buffer.from(v.signature, 'base64url').length)
      expect(verifyingKey(v).verify(input, signature)).toBe(true)
    })
  }

  it('derives the published public key from the published private key', () => {
    if (v.jwk.kty === 'oct') {
      expect(signingKey(v).publicJwk).toBeUndefined()
      return
    }
    const derived = signingKey(v).publicJwk!
    for (const member of ['n', 'e', 'crv', 'x', 'y'] as const) expect(derived[member]).toBe(v.jwk[member])
    expect(JSON.stringify(derived)).not.toContain(v.jwk.d!)
  })
})

describe('RFC 7515 Appendix A.1 decoding', () => {
  it('decodes the published header and payload, CRLF line breaks included', () => {
    const v = rfc7515['A.1']
    const { header, payload } = decodeUnverified(`${v.header}.${v.payload}.${v.signature}`)
    expect(header).toEqual({ typ: 'JWT', alg: 'HS256' })
    expect(payload).toEqual({ iss: 'joe', exp: 1300819380, 'http://example.com/is_root': true })
    expect(Buffer.from(v.payload, 'base64url').toString('utf8')).toBe(
      '{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}',
    )
  })
})

describe('RFC 7520 keys', () => {
  it('keeps the kid the published JWKs carry', () => {
    expect(importKey({ alg: 'RS256', privateKey: rfc7520Key('rsaPrivate') }).kid).toBe(
      'bilbo.baggins@hobbiton.example',
    )
    expect(importKey({ alg: 'ES512', publicKey: publicPart(rfc7520Key('ecPrivate')) }).kid).toBe(
      'bilbo.baggins@hobbiton.example',
    )
  })

  it('uses the published payload text', () => {
    expect(Buffer.from(rfc7520.payload, 'base64url').toString('utf8')).toBe(rfc7520.payloadText)
  })
})

describe('RFC 8037 Appendix A', () => {
  it('computes the published Ed25519 JWK thumbprint (A.3) and uses it as the default kid', () => {
    expect(thumbprint(publicPart(rfc8037.jwk))).toBe(rfc8037.thumbprint)
    expect(importKey({ alg: 'EdDSA', privateKey: rfc8037.jwk }).kid).toBe(rfc8037.thumbprint)
    expect(importKey({ alg: 'EdDSA', publicKey: publicPart(rfc8037.jwk) }).kid).toBe(rfc8037.thumbprint)
  })

  it('signs the published payload text into the published JWS (A.4)', () => {
    const key = importKey({ alg: 'EdDSA', privateKey: rfc8037.jwk })
    const input = `${Buffer.from('{"alg":"EdDSA"}').toString('base64url')}.${Buffer.from(rfc8037.payloadText).toString('base64url')}`
    expect(input).toBe(`${rfc8037.header}.${rfc8037.payload}`)
    expect(`${input}.${key.sign(input)}`).toBe(`${rfc8037.header}.${rfc8037.payload}.${rfc8037.signature}`)
  })
})

describe('RFC 7638 §3.1 JWK thumbprint', () => {
  const { kid, alg, ...required } = rfc7638.jwk

  it('computes the published thumbprint', () => {
    expect(thumbprint(rfc7638.jwk)).toBe(rfc7638.thumbprint)
  })

  it('ignores optional members and member order', () => {
    expect(thumbprint({ e: required.e, n: required.n, kty: required.kty })).toBe(rfc7638.thumbprint)
    expect(thumbprint({ ...required, use: 'sig', kid, alg })).toBe(rfc7638.thumbprint)
  })

  it('uses the thumbprint as the default kid of a key imported without one', () => {
    expect(importKey({ alg: 'RS256', publicKey: required }).kid).toBe(rfc7638.thumbprint)
    const asKeyObject = createPublicKey({ key: required, format: 'jwk' })
    expect(importKey({ alg: 'RS256', publicKey: asKeyObject }).kid).toBe(rfc7638.thumbprint)
  })

  it('keeps an explicit kid from the JWK', () => {
    expect(importKey({ alg: 'RS256', publicKey: rfc7638.jwk }).kid).toBe(kid)
  })

  it('gives the thumbprint of the published key in its public JWK', () => {
    const key = importKey({ alg: 'RS256', publicKey: required })
    expect(thumbprint(key.publicJwk!)).toBe(rfc7638.thumbprint)
  })
})
