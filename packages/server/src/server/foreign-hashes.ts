/**
 * Password hashes made by other systems, kept as imported (`tessera users import`) until the user's
 * first successful login replaces them with argon2id. Only the format parsing is ours: the primitives
 * are node:crypto's pbkdf2 and scrypt (compared with `timingSafeEqual`) and bcryptjs, run in the
 * password pool's worker threads (password-pool.ts), never on the event loop.
 *
 * | scheme | format | made by |
 * | --- | --- | --- |
 * | `passlib-pbkdf2` | `$pbkdf2-sha256$<rounds>$<salt>$<checksum>` (also `-sha512`), passlib's adapted base64 (`.` for `+`, no padding) | passlib `pbkdf2_sha256` / `pbkdf2_sha512` (the Flask tutorial) |
 * | `werkzeug-pbkdf2` | `pbkdf2:sha256:<iterations>$<salt>$<hex>` (also `sha512`) | Werkzeug `generate_password_hash` |
 * | `werkzeug-scrypt` | `scrypt:<n>:<r>:<p>$<salt>$<hex>` | Werkzeug ≥ 3 (its default) |
 * | `bcrypt` | `$2a$`, `$2b$`, `$2y$` + cost + 53 characters | bcrypt, passlib `bcrypt`, PHP |
 *
 * Stored as it came: the scheme is derivable from the prefix, so no schema column marks it.
 */

/** A foreign hash, parsed into plain data that can cross a thread boundary. */
export type ForeignHash =
  | {
      scheme: 'passlib-pbkdf2' | 'werkzeug-pbkdf2'
      digest: 'sha256' | 'sha512'
      iterations: number
      /** The salt bytes, base64. */
      salt: string
      /** The expected derived key, base64. */
      expected: string
    }
  | {
      scheme: 'werkzeug-scrypt'
      n: number
      r: number
      p: number
      salt: string
      expected: string
    }
  | { scheme: 'bcrypt'; hash: string; cost: number }

// Bounds on the cost an imported row can make every login attempt pay (a hostile or corrupt import
// must not turn one login into minutes of CPU or gigabytes of memory). Generous for real hashes:
// passlib's default is 29 000 rounds, Werkzeug 3's pbkdf2 default 600 000, its scrypt N = 2^15.
const MAX_PBKDF2_ITERATIONS = 2_000_000
const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
const MAX_BCRYPT_COST = 16

const DIGEST_BYTES = { sha256: 32, sha512: 64 } as const
const AB64 = /^[A-Za-z0-9./]+$/
const HEX = /^(?:[0-9a-f]{2})+$/

/**
 * Parses a hash of one of the supported foreign schemes, or returns `undefined` (an argon2 string or
 * anything unknown).
 *
 * @example parseForeignHash('$pbkdf2-sha256$29000$ZSyl9L6Xcu49p5Tyfi9FiA$nY7F…')?.scheme // 'passlib-pbkdf2'
 */
export function parseForeignHash(stored: string): ForeignHash | undefined {
  if (typeof stored !== 'string' || stored.length > 1024) return undefined
  return passlib(stored) ?? werkzeug(stored) ?? bcrypt(stored)
}

/** Why {@link parseForeignHash} refused a string, for the import report. */
export function describeUnknownHash(stored: string): string {
  if (stored === '') return 'empty password hash'
  if (/^\$pbkdf2-/.test(stored)) return 'malformed or out-of-bounds passlib pbkdf2 hash'
  if (/^pbkdf2:|^scrypt:/.test(stored)) return 'malformed or out-of-bounds Werkzeug hash'
  if (/^\$2[abxy]\$/.test(stored)) return 'malformed, $2x$ or out-of-bounds bcrypt hash'
  return `unknown password hash format (starts with ${JSON.stringify(stored.slice(0, 8))})`
}

function passlib(stored: string): ForeignHash | undefined {
  const match = /^\$pbkdf2-(sha256|sha512)\$([1-9]\d{0,9})\$([A-Za-z0-9./]*)\$([A-Za-z0-9./]+)$/.exec(stored)
  if (match === null) return undefined
  const [, digest = '', rounds = '', salt = '', checksum = ''] = match
  // Always a digest once the pattern matched; the check tells the compiler which.
  if (!isDigest(digest)) return undefined
  const iterations = Number(rounds)
  const expected = ab64(checksum)
  const saltBytes = salt === '' ? Buffer.alloc(0) : ab64(salt)
  if (
    iterations > MAX_PBKDF2_ITERATIONS ||
    expected === undefined ||
    saltBytes === undefined ||
    expected.length !== DIGEST_BYTES[digest]
  )
    return undefined
  return {
    scheme: 'passlib-pbkdf2',
    digest,
    iterations,
    salt: saltBytes.toString('base64'),
    expected: expected.toString('base64'),
  }
}

function werkzeug(stored: string): ForeignHash | undefined {
  const parts = stored.split('$')
  if (parts.length !== 3) return undefined
  const [method = '', salt = '', hex = ''] = parts
  // Werkzeug hashes the salt as the text it stores (not decoded), and writes the key in lower-case hex.
  if (salt === '' || !HEX.test(hex)) return undefined
  const saltB64 = Buffer.from(salt, 'utf8').toString('base64')
  const expected = Buffer.from(hex, 'hex')
  const pbkdf2 = /^pbkdf2:(sha256|sha512):([1-9]\d{0,9})$/.exec(method)
  if (pbkdf2 !== null) {
    const [, digest = '', rounds = ''] = pbkdf2
    const iterations = Number(rounds)
    if (!isDigest(digest) || iterations > MAX_PBKDF2_ITERATIONS || expected.length !== DIGEST_BYTES[digest])
      return undefined
    return {
      scheme: 'werkzeug-pbkdf2',
      digest,
      iterations,
      salt: saltB64,
      expected: expected.toString('base64'),
    }
  }
  const scrypt = /^scrypt:([1-9]\d{0,9}):([1-9]\d{0,3}):([1-9]\d{0,3})$/.exec(method)
  if (scrypt !== null) {
    const [n, r, p] = [Number(scrypt[1]), Number(scrypt[2]), Number(scrypt[3])]
    // N must be a power of two above 1; Werkzeug's key is 64 bytes.
    if (n < 2 || (n & (n - 1)) !== 0 || scryptMemory(n, r, p) > MAX_SCRYPT_MEMORY) return undefined
    if (expected.length !== 64) return undefined
    return { scheme: 'werkzeug-scrypt', n, r, p, salt: saltB64, expected: expected.toString('base64') }
  }
  return undefined
}

function bcrypt(stored: string): ForeignHash | undefined {
  // $2x$ (the buggy pre-2011 crypt_blowfish) is refused: bcryptjs would verify it as $2a$, which is
  // not what made it for passwords with 8-bit characters.
  const match = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/.exec(stored)
  if (match === null) return undefined
  const cost = Number(match[1])
  if (cost < 4 || cost > MAX_BCRYPT_COST) return undefined
  return { scheme: 'bcrypt', hash: stored, cost }
}

function isDigest(name: string): name is keyof typeof DIGEST_BYTES {
  return Object.hasOwn(DIGEST_BYTES, name)
}

/** Bytes of memory scrypt needs for these parameters (what Node's `maxmem` must allow). */
function scryptMemory(n: number, r: number, p: number): number {
  return 128 * n * r * (p + 2)
}

// passlib's "adapted base64": the standard alphabet with "." for "+", without padding.
function ab64(text: string): Buffer | undefined {
  if (!AB64.test(text) || text.length % 4 === 1) return undefined
  const standard = text.replaceAll('.', '+')
  const bytes = Buffer.from(standard, 'base64')
  // Non-canonical trailing bits would make two strings decode to one key: refuse them.
  if (bytes.toString('base64').replace(/=+$/, '') !== standard) return undefined
  return bytes
}
