/**
 * Mixed-script detection after Unicode Technical Standard #39 §5.1 (resolved script set) and its
 * "Highly Restrictive" level (§5.2): a username is accepted when all its characters can be written in
 * one script, or when it is Latin plus the scripts of one CJK writing system (Japanese: Han, Hiragana,
 * Katakana; Korean: Han, Hangul; Chinese: Han, Bopomofo). "pаypal" with a Cyrillic "а" is refused.
 *
 * Each character's scripts come from the Script_Extensions property through standard regular
 * expression escapes (`\p{Script_Extensions=Latn}`), so the data is the JavaScript engine's own Unicode
 * tables, not a copy. The list below names the scripts (ISO 15924 codes), not characters; a name the
 * engine does not know is skipped. Characters of no script (Common, Inherited: digits, punctuation,
 * combining marks) fit any script.
 *
 * Not covered: whole-script confusables (a name written entirely in Cyrillic that looks Latin, such as
 * "асе"); UTS #39's skeleton would need the confusables table, which no maintained npm package ships.
 */

// Every script of Unicode 15.1 except Zyyy (Common), Zinh (Inherited) and Zzzz (Unknown).
const SCRIPT_CODES =
  'Adlm Aghb Ahom Arab Armi Armn Avst Bali Bamu Bass Batk Beng Bhks Bopo Brah Brai Bugi Buhd Cakm Cans ' +
  'Cari Cham Cher Chrs Copt Cpmn Cprt Cyrl Deva Diak Dogr Dsrt Dupl Egyp Elba Elym Ethi Geor Glag Gong ' +
  'Gonm Goth Gran Grek Gujr Guru Hang Hani Hano Hatr Hebr Hira Hluw Hmng Hmnp Hung Ital Java Kali Kana ' +
  'Kawi Khar Khmr Khoj Kits Knda Kthi Lana Laoo Latn Lepc Limb Lina Linb Lisu Lyci Lydi Mahj Maka Mand ' +
  'Mani Marc Medf Mend Merc Mero Mlym Modi Mong Mroo Mtei Mult Mymr Nagm Nand Narb Nbat Newa Nkoo Nshu ' +
  'Ogam Olck Orkh Orya Osge Osma Ougr Palm Pauc Perm Phag Phli Phlp Phnx Plrd Prti Rjng Rohg Runr Samr ' +
  'Sarb Saur Sgnw Shaw Shrd Sidd Sind Sinh Sogd Sogo Sora Soyo Sund Sylo Syrc Tagb Takr Tale Talu Taml ' +
  'Tang Tavt Telu Tfng Tglg Thaa Thai Tibt Tirh Tnsa Toto Ugar Vaii Vith Wara Wcho Xpeo Xsux Yezi Yiii Zanb'

let matchers: [string, RegExp][] | undefined
function scriptMatchers(): [string, RegExp][] {
  matchers ??= SCRIPT_CODES.split(' ').flatMap((code): [string, RegExp][] => {
    try {
      return [[code, new RegExp(`^\\p{Script_Extensions=${code}}$`, 'u')]]
    } catch {
      return [] // A script newer than this engine's Unicode version.
    }
  })
  return matchers
}

// UTS #39 §5.1: Han, Hiragana and Katakana together are Japanese (Jpan); Han and Hangul Korean (Kore);
// Han and Bopomofo Chinese (Hanb). A character's set is augmented with the writing systems it belongs to.
const AUGMENT: Readonly<Record<string, readonly string[]>> = {
  Hani: ['Jpan', 'Kore', 'Hanb'],
  Hira: ['Jpan'],
  Kana: ['Jpan'],
  Hang: ['Kore'],
  Bopo: ['Hanb'],
}

/** The augmented script set of one character, or `undefined` for Common/Inherited (fits any). */
function scriptsOf(char: string): Set<string> | undefined {
  const scripts = new Set<string>()
  for (const [code, pattern] of scriptMatchers()) {
    if (!pattern.test(char)) continue
    scripts.add(code)
    for (const extra of AUGMENT[code] ?? []) scripts.add(extra)
  }
  return scripts.size === 0 ? undefined : scripts
}

/** The resolved script set of `chars` (the intersection), or `undefined` when none has a script. */
function resolve(sets: readonly Set<string>[]): Set<string> | undefined {
  let resolved: Set<string> | undefined
  for (const set of sets) resolved = resolved === undefined ? new Set(set) : intersect(resolved, set)
  return resolved
}

function intersect(a: Set<string>, b: Set<string>): Set<string> {
  return new Set([...a].filter((x) => b.has(x)))
}

/**
 * True when `text` mixes scripts beyond UTS #39's Highly Restrictive level.
 *
 * @example mixesScripts('pаypal') // true: Latin with a Cyrillic а
 * @example mixesScripts('山田taro') // false: Latin with Japanese
 */
export function mixesScripts(text: string): boolean {
  // ASCII is Latin or Common: nothing to mix.
  if (/^[\x20-\x7e]*$/.test(text)) return false
  const sets = [...new Set(Array.from(text))].map(scriptsOf).filter((s): s is Set<string> => s !== undefined)
  const resolved = resolve(sets)
  if (resolved === undefined || resolved.size > 0) return false
  // Highly Restrictive: Latin plus one CJK writing system.
  const rest = resolve(sets.filter((s) => !s.has('Latn')))
  return !(rest !== undefined && ['Jpan', 'Kore', 'Hanb'].some((w) => rest.has(w)))
}
