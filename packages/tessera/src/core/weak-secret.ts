/**
 * Refuses HMAC secrets a person made up rather than a random generator: the published samples of JWT
 * tools and tutorials (`your-256-bit-secret`, `secret`, `changeme`, …), also padded or repeated to the
 * required length, and text with too little entropy (repetition, sequences, few character classes).
 * RFC 8725 §3.5: "human-memorizable passwords MUST NOT be directly used as the key to a keyed-MAC
 * algorithm such as HS256". Zero dependencies: a short list and an estimate, deliberately conservative
 * (a random string of the required length always passes); the auth server adds a dictionary check.
 */

/** How to make a good secret, appended to every refusal. */
export const SECRET_ADVICE = 'generate one with `openssl rand -base64 48`'

/**
 * Sample secrets published by jwt.io, library READMEs, tutorials and the Flask tutorials Tessera's
 * server replaces (lower case; matched case-insensitively, anywhere in the secret).
 */
export const SAMPLE_SECRETS: readonly string[] = Object.freeze([
  'your-256-bit-secret',
  'your-384-bit-secret',
  'your-512-bit-secret',
  'jwt-secret-string',
  'super-secret-key',
  'your-secret-key',
  'your_secret_key',
  'your_jwt_secret',
  'your-jwt-secret',
  'jwt_secret_key',
  'jwt-secret-key',
  'supersecretkey',
  'supersecret',
  'super-secret',
  'super_secret',
  'secretkey',
  'secret-key',
  'secret_key',
  'mysecretkey',
  'my-secret-key',
  'my_secret_key',
  'mysecret',
  'my-secret',
  'jwtsecret',
  'jwt_secret',
  'jwt-secret',
  'changeme',
  'change-me',
  'change_me',
  'changethis',
  'keyboard cat',
  'shhhhh',
  'secret',
  'password',
  'tessera',
])

// Estimated bits below which a secret is refused. Conservative: 32 random hex digits (128 real bits,
// about 120 by this estimate) pass; a keyboard walk or a run of letters scores far below.
const MIN_ESTIMATED_BITS = 96

/**
 * Why a secret looks made up, or `undefined` when it does not. Bytes that are not text (a
 * `Uint8Array` that is not valid UTF-8) are judged by their repetition alone.
 *
 * @example const why = weakSecretReason(process.env.JWT_SECRET); if (why) throw new Error(why)
 */
export function weakSecretReason(secret: string | Uint8Array): string | undefined {
  const text = typeof secret === 'string' ? secret : decodeText(secret)
  if (text === undefined) {
    const bytes = secret as Uint8Array
    if (period(Array.from(bytes)) <= bytes.length / 2)
      return `the secret repeats a short pattern; ${SECRET_ADVICE}`
    return undefined
  }
  const chars = Array.from(text)
  let rest = text.toLowerCase()
  let sample: string | undefined
  for (const known of SAMPLE_SECRETS) {
    if (!rest.includes(known)) continue
    sample ??= known
    rest = rest.split(known).join('\u0000')
  }
  if (period(chars) <= chars.length / 2)
    return `the secret repeats a short pattern${sample === undefined ? '' : ` ("${sample}")`}; ${SECRET_ADVICE}`
  if (sample !== undefined && estimateBits(rest) < MIN_ESTIMATED_BITS)
    return `the secret is built on a published sample secret ("${sample}"); ${SECRET_ADVICE}`
  if (estimateBits(text) < MIN_ESTIMATED_BITS)
    return `the secret has too little entropy (repeated characters, sequences or few character kinds); ${SECRET_ADVICE}`
  return undefined
}

function decodeText(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return undefined
  }
}

/** Length of the shortest unit the sequence repeats (its own length when it repeats nothing). */
function period(items: readonly (string | number)[]): number {
  // Knuth–Morris–Pratt failure function: the longest proper border gives the smallest period.
  const border = new Array<number>(items.length).fill(0)
  for (let i = 1, k = 0; i < items.length; i++) {
    while (k > 0 && items[i] !== items[k]) k = border[k - 1] ?? 0
    if (items[i] === items[k]) k += 1
    border[i] = k
  }
  return items.length - (border[items.length - 1] ?? 0)
}

/**
 * A rough entropy estimate in bits: each character costs log2 of the size of the character classes the
 * secret uses, except one that repeats the previous character or continues a run of equal steps
 * (`abcd`, `9876`), which costs one bit. Over-counts for dictionary words (the server
 * checks those), never under-counts a random string much.
 */
function estimateBits(text: string): number {
  const codes = Array.from(text, (c) => c.codePointAt(0) ?? 0)
  let pool = 0
  if (/[a-z]/.test(text)) pool += 26
  if (/[A-Z]/.test(text)) pool += 26
  if (/[0-9]/.test(text)) pool += 10
  if (/[^a-zA-Z0-9]/.test(text)) pool += 33
  const perChar = Math.log2(Math.max(pool, 2))
  let bits = 0
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i] ?? 0
    const previous = codes[i - 1] ?? 0
    const step = i >= 1 ? c - previous : undefined
    const stepBefore = i >= 2 ? previous - (codes[i - 2] ?? 0) : undefined
    const continuesRun = step !== undefined && Math.abs(step) <= 1 && step === stepBefore
    bits += continuesRun || step === 0 ? 1 : perChar
  }
  return bits
}
