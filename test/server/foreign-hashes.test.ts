// Imported password hashes: passlib pbkdf2 (the Flask tutorial's, from the real fixture database),
// Werkzeug pbkdf2 and scrypt, bcrypt. Vectors were made by the other systems themselves (Werkzeug 2.x
// `generate_password_hash`, Python's hashlib for the passlib layout, the fixture app's passlib 1.7.4,
// the bcrypt vector of OpenBSD / John the Ripper), never by the code under test.
import { describe, expect, it } from 'vitest'
import { describeUnknownHash, parseForeignHash } from '../../packages/server/src/server/foreign-hashes.js'
import { createPasswordPool } from '../../packages/server/src/server/password-pool.js'
import {
  IMPORTED_HASH_COMPANION,
  OWASP_ARGON2ID,
  rehashPassword,
  verifyAgainstDummy,
  verifyPassword,
} from '../../packages/server/src/server/passwords.js'
import { flaskFixture } from '../helpers/flask-fixture.js'

const issued = flaskFixture('default')

// From the fixture's app.db (users 1 and 4), made by passlib 1.7.4's pbkdf2_sha256.
const ALICE = '$pbkdf2-sha256$29000$ZSyl9L6Xcu49p5Tyfi9FiA$nY7FpxW1GaHsT0R9JjqGPiRtWeIhK/wmTSBG6EIvyfo'
const CAROL = '$pbkdf2-sha256$29000$0frfm/N.j7F2DiGE8J7T.g$PaTPnpnTpNPPs1.A8iq2pJ1jN21cHZXv0KaDO7B1ETA'
const password = (name: string): string => issued.users.find((u) => u.username === name)?.password ?? ''

const VECTORS: [string, string, string][] = [
  ['passlib pbkdf2_sha256 (fixture)', ALICE, password('alice')],
  ['passlib pbkdf2_sha256 with "." in the salt, non-ASCII password (fixture)', CAROL, password('carol')],
  [
    'passlib pbkdf2_sha256 layout (hashlib)',
    '$pbkdf2-sha256$1000$ABEiM0RVZneImaq7zN3u/w$S0e5kpifyv12fZLpVyk7tYraiRUUS5a0oH/5GGXm4v8',
    'pässwörd-ünïcode',
  ],
  [
    'passlib pbkdf2_sha512 layout (hashlib)',
    '$pbkdf2-sha512$1000$ABEiM0RVZneImaq7zN3u/w$YR5F9zMh3xtR4Nt41aaHGVE8HB.i..cG7pnGsiT9YWepntJx30Zw2pI6Ccg8sQnasDeEAcQBKM91VrvdbninFw',
    'pässwörd-ünïcode',
  ],
  [
    'Werkzeug pbkdf2:sha256',
    'pbkdf2:sha256:1000$dok0fIiANW1a9FED$d02483267786102d116542ad968dfec26b9a58487627c46b2b5dc39d4d232e7f',
    'wonderland-42',
  ],
  [
    'Werkzeug pbkdf2:sha512',
    'pbkdf2:sha512:2000$QvAvN2CFDaGlY2BQ$9d84a5faf80d46e931ed2730806a2c66f05347addf38c8aae669fde826f103bf1f0ef14c15b39bff4b289a55912ca4a0073dee4476078fd6ba9c73038b5ec2ea',
    'pässwörd',
  ],
  [
    'Werkzeug scrypt',
    'scrypt:1024:8:1$srR8TrraqyarxZp5$0b3c9de5d62ba13622b01ebf0174fcf6f10f136aa5e441c70b17727e3fced58150e6a89e99ae9c465f54e74cd6555f844050884d81be39d14291531853641f7f',
    'wonderland-42',
  ],
  ['bcrypt $2a$', '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', 'U*U'],
  ['bcrypt $2b$', '$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', 'U*U'],
  ['bcrypt $2y$', '$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', 'U*U'],
]

describe('parseForeignHash', () => {
  it.each(VECTORS)('recognises %s', (_name, hash) => {
    expect(parseForeignHash(hash)).toBeDefined()
  })

  it.each([
    ['an argon2id hash (native, not foreign)', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA'],
    ['plain text', 'hunter2'],
    ['an empty string', ''],
    ['passlib with "+" (standard, not adapted, base64)', ALICE.replace('wmTSBG6', 'wm+SBG6')],
    ['passlib with padding', `${ALICE}=`],
    ['passlib with a short checksum', ALICE.slice(0, -4)],
    ['passlib with zero rounds', ALICE.replace('$29000$', '$0$')],
    ['passlib with absurd rounds', ALICE.replace('$29000$', '$99999999$')],
    ['passlib pbkdf2_sha1 (unsupported)', ALICE.replace('pbkdf2-sha256', 'pbkdf2')],
    ['Werkzeug without iterations', 'pbkdf2:sha256$dok0fIiANW1a9FED$d024'],
    ['Werkzeug md5', 'pbkdf2:md5:1000$salt$d02483267786102d116542ad968dfec2'],
    [
      'Werkzeug upper-case hex',
      'pbkdf2:sha256:1000$dok0fIiANW1a9FED$D02483267786102D116542AD968DFEC26B9A58487627C46B2B5DC39D4D232E7F',
    ],
    ['scrypt with N not a power of two', 'scrypt:1000:8:1$salt$' + '00'.repeat(64)],
    ['scrypt asking for gigabytes', 'scrypt:1048576:64:1$salt$' + '00'.repeat(64)],
    ['bcrypt $2x$', '$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW'],
    ['bcrypt with cost 31', '$2b$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW'],
    ['bcrypt truncated', '$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe'],
  ])('refuses %s', (_name, hash) => {
    expect(parseForeignHash(hash)).toBeUndefined()
    expect(describeUnknownHash(hash)).not.toBe('')
  })
})

describe('verifyPassword with an imported hash (in the worker pool)', () => {
  it.each(VECTORS)('%s: the right password verifies and asks for a rehash', async (_name, hash, pw) => {
    expect(await verifyPassword(hash, pw)).toEqual({ ok: true, needsRehash: true })
  })

  it.each(VECTORS)('%s: a wrong password fails without a rehash', async (_name, hash, pw) => {
    expect(await verifyPassword(hash, `${pw}x`)).toEqual({ ok: false, needsRehash: false })
  })

  it('checks the password as typed: the NFKC form of a compatibility character does not match', async () => {
    // passlib hashed the bytes it received; "ﬁ" (U+FB01) NFKC-normalises to "fi".
    const pool = createPasswordPool({ size: 1 })
    try {
      const hash = parseForeignHash(
        'pbkdf2:sha256:1000$dok0fIiANW1a9FED$d02483267786102d116542ad968dfec26b9a58487627c46b2b5dc39d4d232e7f',
      )
      if (hash === undefined) throw new Error('unparsed')
      expect(await pool.verifyForeign(hash, 'wonderland-42')).toBe(true)
      expect(await pool.verifyForeign(hash, 'wonderland-4２')).toBe(false)
    } finally {
      await pool.close()
    }
  })

  it('every fixture user verifies with the password the Flask app registered', async () => {
    const { default: Database } = await import('better-sqlite3')
    const db = new Database(issued.db, { readonly: true, fileMustExist: true })
    try {
      const rows = db.prepare('select username, password from users').all() as {
        username: string
        password: string
      }[]
      expect(rows).toHaveLength(issued.users.length)
      for (const row of rows) {
        expect(await verifyPassword(row.password, password(row.username)), row.username).toEqual({
          ok: true,
          needsRehash: true,
        })
      }
    } finally {
      db.close()
    }
  })
})

describe('the imported-hash companion (legacy window: every check pays argon2id + pbkdf2)', () => {
  it('is a passlib pbkdf2_sha256 hash at 29 000 rounds, the tutorial’s scheme', () => {
    expect(IMPORTED_HASH_COMPANION).toMatchObject({ scheme: 'passlib-pbkdf2', iterations: 29000 })
  })

  it('changes no verdict', async () => {
    const argon = await rehashPassword('correct horse')
    const c = IMPORTED_HASH_COMPANION
    expect(await verifyPassword(argon, 'correct horse', OWASP_ARGON2ID, c)).toEqual({
      ok: true,
      needsRehash: false,
    })
    expect(await verifyPassword(argon, 'wrong horse', OWASP_ARGON2ID, c)).toEqual({
      ok: false,
      needsRehash: false,
    })
    expect(await verifyPassword(VECTORS[0]![1], VECTORS[0]![2], OWASP_ARGON2ID, c)).toEqual({
      ok: true,
      needsRehash: true,
    })
    expect(await verifyPassword('garbage', 'x', OWASP_ARGON2ID, c)).toEqual({ ok: false, needsRehash: false })
    expect(await verifyAgainstDummy('anything', OWASP_ARGON2ID, c)).toEqual({ ok: false, needsRehash: false })
  })
})

describe('rehashPassword', () => {
  it('makes argon2id even for a password below the policy for new ones (the fixture has "short1")', async () => {
    const hash = await rehashPassword('short1')
    expect(hash.startsWith('$argon2id$')).toBe(true)
    expect(await verifyPassword(hash, 'short1')).toEqual({ ok: true, needsRehash: false })
  })

  it('refuses an empty password', async () => {
    await expect(rehashPassword('')).rejects.toThrow(TypeError)
  })
})
