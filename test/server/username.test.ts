// Username normalisation and validation: look-alikes collapse to one identity, invisible characters
// are refused.
import { describe, expect, it } from 'vitest'
import {
  normalizeUsername,
  USERNAME_MAX_LENGTH,
  validateUsername,
} from '../../packages/server/src/server/username.js'

describe('normalizeUsername', () => {
  it('makes "Alice", " alice " and fullwidth "ＡＬＩＣＥ" the same user', () => {
    for (const name of ['Alice', ' alice ', 'ＡＬＩＣＥ', 'ALICE', '\u3000ａｌｉｃｅ\u3000']) {
      expect(normalizeUsername(name)).toBe('alice')
    }
  })

  it('applies compatibility decompositions and lower-cases beyond ASCII', () => {
    expect(normalizeUsername('ﬁne')).toBe('fine')
    expect(normalizeUsername('ÉCOLE')).toBe('école')
    expect(normalizeUsername('E\u0301cole')).toBe('école')
  })

  it('collapses runs of whitespace inside the name', () => {
    expect(normalizeUsername('alice   smith')).toBe('alice smith')
    expect(normalizeUsername('alice\u00a0smith')).toBe('alice smith')
  })
})

describe('validateUsername', () => {
  it('returns the trimmed display form and the normal form', () => {
    expect(validateUsername('  Ａlice ')).toEqual({ ok: true, username: 'Ａlice', normalized: 'alice' })
  })

  it('accepts 1 to 64 code points after normalisation', () => {
    expect(validateUsername('a')).toMatchObject({ ok: true })
    expect(validateUsername('a'.repeat(USERNAME_MAX_LENGTH))).toMatchObject({ ok: true })
    expect(validateUsername('a'.repeat(65))).toEqual({ ok: false, reason: 'too_long', maxLength: 64 })
    expect(validateUsername('😀'.repeat(64))).toMatchObject({ ok: true })
    expect(validateUsername('😀'.repeat(65))).toMatchObject({ ok: false, reason: 'too_long' })
    expect(validateUsername('x'.repeat(100_000))).toMatchObject({ ok: false, reason: 'too_long' })
  })

  it('refuses empty and whitespace-only names', () => {
    expect(validateUsername('')).toMatchObject({ ok: false, reason: 'empty' })
    expect(validateUsername(' \t ')).toMatchObject({ ok: false, reason: 'empty' })
  })

  it('refuses control and invisible characters that would make look-alikes', () => {
    for (const name of [
      'ali\u0000ce',
      'alice\nbob',
      'ali\u200bce',
      'ali\u00adce',
      'alice\u202e',
      'a\ud800',
      'a\ue000',
      // Default-ignorable but not in \p{C}: they render as nothing and survive NFKC.
      'alice\u034f', // combining grapheme joiner (Mn)
      'ali\ufe00ce', // variation selector-1 (Mn)
      'alice\ufe0f', // variation selector-16 (Mn)
      'alice\u{e0100}', // variation selector-17 (Mn)
      'alice\u180b', // Mongolian free variation selector (Mn)
      '\u3164alice', // Hangul filler (Lo)
      'alice\u115f', // Hangul choseong filler (Lo)
      'alice\uffa0', // halfwidth Hangul filler (Lo)
      '\u2800', // Braille pattern blank (So), alone or doubled
      '\u2800\u2800',
      'alice\u{1d159}', // musical symbol null notehead (So)
      '\u0301', // a combining mark with nothing to combine with
      '\u0301\u0302',
    ]) {
      expect(validateUsername(name)).toMatchObject({ ok: false, reason: 'invalid_characters' })
    }
  })

  it('refuses what is not a string', () => {
    expect(validateUsername(42)).toMatchObject({ ok: false, reason: 'not_a_string' })
    expect(validateUsername(null)).toMatchObject({ ok: false, reason: 'not_a_string' })
  })
})

describe('full case folding and mixed scripts (issue 15)', () => {
  it.each([
    ['straße', 'STRASSE'],
    ['straße', 'strasse'],
    ['straẞe', 'strasse'],
    ['σοφος', 'σοφοσ'],
    ['ΣΟΦΟΣ', 'σοφος'],
    ['ﬁona', 'fiona'],
    ['ǅemal', 'DŽEMAL'],
  ])('folds %s and %s to one name', (a, b) => {
    expect(normalizeUsername(a)).toBe(normalizeUsername(b))
  })

  it('is idempotent and locale-independent', () => {
    for (const name of ['İstanbul', 'ıstanbul', 'Straße', 'ΟΔΟΣ', 'ǅemal', 'ﬀ']) {
      const once = normalizeUsername(name)
      expect(normalizeUsername(once)).toBe(once)
    }
    // İ folds to i + combining dot above (CaseFolding.txt), not to a plain i.
    expect(normalizeUsername('İ')).toBe('i\u0307')
  })

  it.each([
    ['a Cyrillic а in a Latin name', 'аlice'],
    ['a Greek ο in a Latin name', 'bοb'],
    ['Latin and Cyrillic words', 'admin админ'],
    ['Latin and Greek words', 'alpha ελληνικά'],
  ])('refuses %s as mixed_scripts', (_label, name) => {
    expect(validateUsername(name)).toMatchObject({ ok: false, reason: 'mixed_scripts' })
  })

  it.each([
    ['Latin with accents', 'José Müller'],
    ['Cyrillic alone', 'Иван'],
    ['Greek alone', 'Ελένη'],
    ['Japanese with Latin', '山田taro'],
    ['Japanese kana and kanji', '山田たろう'],
    ['Korean with Latin', '김철수kim'],
    ['digits and punctuation with any script', 'Иван_2026'],
  ])('accepts %s', (_label, name) => {
    expect(validateUsername(name)).toMatchObject({ ok: true })
  })
})
