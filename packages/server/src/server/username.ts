/**
 * Usernames: one normal form decides identity, so look-alike duplicates cannot be registered.
 * "Alice", " alice " and "ＡＬＩＣＥ" (fullwidth) are one user, so are "straße" and "STRASSE". A name
 * mixing scripts ("аlice" with a Cyrillic а) is refused (script-mixing.ts, UTS #39).
 */
import { normalizeUsername } from '../stores/username-normal-form.js'
import { mixesScripts } from './script-mixing.js'

export { normalizeUsername }

/** Longest username, in code points after normalisation. */
export const USERNAME_MAX_LENGTH = 64

// Bounds the work NFKC does on hostile input; far above anything that normalises to 64 code points.
const MAX_INPUT_UNITS = 1024
// Every "Other" category: controls (Cc), invisible format characters such as U+200B zero-width space
// and U+00AD soft hyphen (Cf, which NFKC keeps and which would let "alice\u200b" pose as "alice"),
// lone surrogates (Cs), private use (Co) and unassigned code points (Cn); and every default-ignorable
// code point, which renders as nothing yet sits in other categories and survives NFKC: the combining
// grapheme joiner U+034F and the variation selectors U+FE00–FE0F, U+E0100–E01EF (Mn), the Hangul
// fillers U+115F, U+1160, U+3164, U+FFA0 (Lo), the Mongolian free variation selectors (Mn).
// And symbols whose glyph is blank: the Braille pattern blank U+2800, the musical null notehead U+1D159,
// the object replacement character U+FFFC.
const INVISIBLE_OR_CONTROL = /[\p{C}\p{Default_Ignorable_Code_Point}\u2800\u{1D159}\uFFFC]/u
/** Something visible besides combining marks and spaces: a name of marks alone shows as nothing. */
const VISIBLE_BASE = /[^\p{M}\s]/u

/** Why a username was refused; the route turns this into a 400. */
export type UsernameProblem = 'not_a_string' | 'empty' | 'too_long' | 'invalid_characters' | 'mixed_scripts'

/** Result of {@link validateUsername}. */
export type UsernameCheck =
  | {
      ok: true
      /** As entered, trimmed: what is displayed. */
      username: string
      /** The unique key: what is stored in `username_normalized` and looked up at login. */
      normalized: string
    }
  | { ok: false; reason: UsernameProblem; maxLength: number }

/**
 * Checks a username and returns its display and normal forms: 1 to 64 code points once normalised,
 * no control or invisible characters, one script (or an allowed CJK combination with Latin).
 *
 * @example const check = validateUsername(body.username); if (!check.ok) reply.code(400)
 */
export function validateUsername(input: unknown): UsernameCheck {
  const refuse = (reason: UsernameProblem): UsernameCheck => ({
    ok: false,
    reason,
    maxLength: USERNAME_MAX_LENGTH,
  })
  if (typeof input !== 'string') return refuse('not_a_string')
  if (input.length > MAX_INPUT_UNITS) return refuse('too_long')
  const username = input.trim()
  if (INVISIBLE_OR_CONTROL.test(username)) return refuse('invalid_characters')
  const normalized = normalizeUsername(username)
  if (normalized === '') return refuse('empty')
  if (INVISIBLE_OR_CONTROL.test(normalized) || !VISIBLE_BASE.test(normalized))
    return refuse('invalid_characters')
  // Code points, not UTF-16 units nor graphemes: a stable count that does not depend on the ICU version.
  if (Array.from(normalized).length > USERNAME_MAX_LENGTH) return refuse('too_long')
  if (mixesScripts(normalized)) return refuse('mixed_scripts')
  return { ok: true, username, normalized }
}
