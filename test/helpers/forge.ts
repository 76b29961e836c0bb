// Builds tokens by hand, for tests that need headers, claims or signatures Tessera would never produce.
import { createHmac } from 'node:crypto'
import type { TesseraKey } from '../../packages/tessera/src/index.js'

export const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

/** Header and payload as JSON (or raw strings), signed by `key` (or left with `signature`). */
export function forge(
  header: unknown,
  payload: unknown,
  signer: TesseraKey | { hmacSecret: string | Buffer; hash?: string } | { signature: string },
): string {
  const input = `${b64(header)}.${b64(payload)}`
  if ('signature' in signer) return `${input}.${signer.signature}`
  if ('hmacSecret' in signer) {
    return `${input}.${createHmac(signer.hash ?? 'sha256', signer.hmacSecret)
      .update(input)
      .digest('base64url')}`
  }
  return `${input}.${signer.sign(input)}`
}

/** Claims of a valid access token issued now, for forging variations of it. */
export function accessClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return {
    sub: 'alice',
    iat: now,
    nbf: now,
    exp: now + 900,
    jti: 'jti-1',
    type: 'access',
    fresh: false,
    ...overrides,
  }
}

export const SECRET = 'a-test-secret-that-is-long-enough-for-hs256!'
