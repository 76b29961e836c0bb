/**
 * The normal form of a username: the key of `users.username_normalized`, unique, looked up at login.
 * It lives beside the stores because migration 0005 recomputed every stored key with it; the server's
 * username rules (server/username.ts) build on it.
 *
 * Changing it changes which names are one account: that takes a new migration re-folding the stored
 * keys (as 0005 did), never an edit here alone.
 */

/**
 * The normal form: NFKC, full case folding, NFKC again (folding can produce text that is not NFKC),
 * whitespace runs collapsed to one space, trimmed. JavaScript has no case folding: upper-casing then
 * lower-casing, repeated until stable, applies the full (multi-character) mappings — `ß` → `SS` → `ss`,
 * `ẞ` → `ß` → `ss`, `ŉ` → `ʼN` → `ʼn` — and final sigma `ς` is folded to `σ` as Unicode's
 * CaseFolding.txt does. Locale-independent: Turkish `İ` becomes `i̇` (i + combining dot, as its
 * folding says) and dotless `ı` becomes `i` (folding keeps it; one look-alike fewer).
 *
 * @example normalizeUsername('ＡＬＩＣＥ ') // 'alice'
 * @example normalizeUsername('Straße') === normalizeUsername('STRASSE') // true
 */
export function normalizeUsername(input: string): string {
  let text = input.normalize('NFKC')
  for (let i = 0; i < 3; i++) {
    const folded = text.toUpperCase().toLowerCase()
    if (folded === text) break
    text = folded
  }
  return text.replace(/ς/gu, 'σ').normalize('NFKC').replace(/\s+/gu, ' ').trim()
}
