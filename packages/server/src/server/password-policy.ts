/**
 * The policy for new passwords (registration, password change, `tessera users create`): long enough,
 * and not guessable — not a common or breached password, not built from the username or the service
 * name (OWASP ASVS 5.0 V6.2.1, V6.2.4, V6.2.11; NIST SP 800-63B §3.1.1.2). Login never applies it, so
 * users whose password predates the policy are not locked out.
 *
 * Guessability is zxcvbn-ts's estimate (its common-password list, English words and names, keyboard
 * patterns, sequences, repeats, l33t), computed in the password worker threads (password-pool.ts): one
 * estimate costs tens of milliseconds of CPU, and loading the dictionaries hundreds, which must never
 * land on the event loop. Only the first {@link STRENGTH_MAX_CHARS} characters are evaluated, as
 * zxcvbn-ts recommends: the cost grows with the length, and anything longer is strong on length alone
 * if its start is.
 */
import type { StrengthJob, StrengthResult } from './password-pool.js'

/** Characters of a password zxcvbn evaluates. */
export const STRENGTH_MAX_CHARS = 100

/** The tunable part of the policy (server settings `passwordMinLength`, `passwordMinScore`). */
export interface PasswordPolicy {
  /** Shortest password, in characters (Unicode code points after NFKC, as NIST counts them). @default 8 */
  minLength: number
  /** Lowest zxcvbn score accepted, 0 (anything) to 4. @default 3 */
  minScore: number
}

/** Words a password must not be built from. */
export interface PasswordContext {
  username?: string
  /** The service's own names: `tessera`, the issuer and audience (and their host names). */
  serviceNames?: readonly string[]
}

/** Why a new password was refused. */
export type WeakPasswordReason = 'too_short' | 'too_common' | 'too_similar' | 'too_guessable'

/** Result of {@link checkPasswordStrength}. The message never contains the password. */
export type PasswordVerdict =
  | { ok: true; score: number }
  | { ok: false; reason: WeakPasswordReason; message: string; suggestions: string[] }

/** Runs one zxcvbn estimate off the event loop (the password pool's `strength`). */
export type StrengthEstimator = (job: StrengthJob) => Promise<StrengthResult>

const REASON_TEXT: Record<Exclude<WeakPasswordReason, 'too_short'>, string> = {
  too_common: 'it is a common or breached password, or built from common words',
  too_similar: 'it is too similar to the username or the service name',
  too_guessable: 'it is too easy to guess',
}

/**
 * Judges a new password. Structural checks (type, 1024-byte maximum, lone surrogates) belong to
 * `validatePassword` and run first; this adds the minimum length and guessability.
 *
 * @example const verdict = await checkPasswordStrength(pw, { minLength: 8, minScore: 3 }, { username }, estimate)
 */
export async function checkPasswordStrength(
  password: string,
  policy: PasswordPolicy,
  context: PasswordContext,
  estimate: StrengthEstimator,
): Promise<PasswordVerdict> {
  const normalized = password.normalize('NFKC')
  const length = Array.from(normalized).length
  if (length < policy.minLength) {
    return {
      ok: false,
      reason: 'too_short',
      message: `too short: use at least ${policy.minLength} characters (a passphrase of several words is easiest)`,
      suggestions: ['Use a few words that are not a common phrase.'],
    }
  }
  const words = contextWords(context)
  const similar = words.some((word) => resembles(normalized.toLowerCase(), word))
  if (policy.minScore === 0 && !similar) return { ok: true, score: 0 }
  const result = await estimate({ password: normalized, userInputs: words, maxLength: STRENGTH_MAX_CHARS })
  if (!similar && result.score >= policy.minScore) return { ok: true, score: result.score }
  const reason: WeakPasswordReason =
    similar || result.dictionaries.includes('userInputs')
      ? 'too_similar'
      : result.dictionaries.some((d) => d.startsWith('passwords') || d.startsWith('commonWords'))
        ? 'too_common'
        : 'too_guessable'
  const why = [REASON_TEXT[reason], result.warning].filter((t): t is string => t !== null && t !== '')
  return {
    ok: false,
    reason,
    message: `too weak: ${why.join('. ')}`,
    suggestions: result.suggestions,
  }
}

/** Lower-cased context words, with the host name of URLs and its parts (`auth.acme.com` → `acme`). */
function contextWords(context: PasswordContext): string[] {
  const words = new Set<string>(['tessera'])
  const add = (value: string | undefined): void => {
    if (value === undefined) return
    const lower = value.normalize('NFKC').toLowerCase().trim()
    if (lower.length >= 3) words.add(lower)
    for (const part of lower.split(/[^\p{L}\p{N}.-]+/u)) {
      for (const piece of [part, ...part.split(/[.-]+/u)]) {
        if (piece.length >= 4 && !GENERIC.has(piece)) words.add(piece)
      }
    }
    for (const label of lower.split(/[/:.]+/u)) if (label.length >= 4 && !GENERIC.has(label)) words.add(label)
  }
  add(context.username)
  for (const name of context.serviceNames ?? []) add(name)
  return [...words]
}

const GENERIC = new Set(['http', 'https', 'www', 'com', 'org', 'net', 'example', 'localhost'])

/**
 * "Close to" a context word: the password is the word, or the word within two edits (of five letters
 * or more), once leading and trailing digits and symbols are set aside (`alice2024!`, `aliec123`), or
 * nothing but the word with digits and symbols (`alice.alice`).
 * zxcvbn finds the word inside longer passwords itself (its `userInputs` dictionary).
 */
function resembles(password: string, word: string): boolean {
  const core = password.replace(/^[\p{N}\p{P}\p{S}\s]+|[\p{N}\p{P}\p{S}\s]+$/gu, '')
  if (core === word || password === word) return true
  // Only the word, repeated or joined by digits and symbols: `alice.alice`, `2024alice!alice`.
  if (password.includes(word) && !/\p{L}/u.test(password.split(word).join(''))) return true
  if (word.length < 5) return false
  return [password, core].some((p) => Math.abs(p.length - word.length) <= 2 && editDistance(p, word, 2) <= 2)
}

/** Levenshtein distance, stopping early once it exceeds `limit`. Inputs are short (≤ 64 + 2 chars). */
function editDistance(a: string, b: string, limit: number): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    let best = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      const value = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost)
      current.push(value)
      best = Math.min(best, value)
    }
    if (best > limit) return best
    previous = current
  }
  return previous[b.length] ?? 0
}

/** The service names of a server: what a password must not be built from besides the username. */
export function serviceNamesOf(config: {
  issuer?: string | undefined
  audience?: string | undefined
}): string[] {
  return ['tessera', config.issuer, config.audience].filter((n): n is string => n !== undefined)
}
