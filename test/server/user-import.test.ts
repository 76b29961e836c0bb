// `tessera users import`: CSV and JSON lines with every hash scheme, refused rows named, dry runs,
// idempotent re-runs, a crash mid-way (a killed process) that the next run completes, and the fixture
// on PostgreSQL.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../packages/server/src/stores/index.js'
import { parseCsvLine } from '../../packages/server/src/server/user-import.js'
import { runCli } from '../helpers/server-harness.js'
import { flaskFixture } from '../helpers/flask-fixture.js'
import { createTestDatabase, postgresReachable } from '../helpers/postgres.js'
import { serviceAvailable } from '../helpers/services.js'

const dirs: string[] = []
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-import-'))
  dirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

const ARGON2 =
  '$argon2id$v=19$m=19456,t=2,p=1$sjfkD9IOMXStvrXR9uC9rg$mtj3ujh+bWXfgYLeEMrwZlpaHqTwxLjHnDfFJjR9DoM'
const WERKZEUG =
  'pbkdf2:sha256:1000$dok0fIiANW1a9FED$d02483267786102d116542ad968dfec26b9a58487627c46b2b5dc39d4d232e7f'
const BCRYPT = '$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW'
const PASSLIB = '$pbkdf2-sha256$29000$ZSyl9L6Xcu49p5Tyfi9FiA$nY7FpxW1GaHsT0R9JjqGPiRtWeIhK/wmTSBG6EIvyfo'

function rows(url: string, sql: string): Record<string, unknown>[] {
  const db = new Database(url, { readonly: true })
  try {
    return db.prepare(sql).all() as Record<string, unknown>[]
  } finally {
    db.close()
  }
}
const countOf = (url: string, table: string): number =>
  Number(rows(url, `select count(*) as n from ${table}`)[0]?.n)

/**
 * A flask-jwt-auth style SQLite database at `file`: `users` users (`user0`…, each with a random passlib
 * pbkdf2_sha256 hash) and, when `revoked` > 0, that many revoked jtis (`jti-0`…).
 */
function flaskSource(file: string, users: number, revoked = 0): void {
  const ab64 = (b: Buffer): string => b.toString('base64').replace(/=+$/, '').replaceAll('+', '.')
  const src = new Database(file)
  src.exec(
    'create table users (id integer primary key, username varchar(120) not null unique, password varchar(120) not null);' +
      'create table revoked_tokens (id integer primary key, jti varchar(36) not null unique)',
  )
  const user = src.prepare('insert into users (username, password) values (?, ?)')
  const jti = src.prepare('insert into revoked_tokens (jti) values (?)')
  src.transaction(() => {
    for (let i = 0; i < users; i++)
      user.run(`user${i}`, `$pbkdf2-sha256$29000$${ab64(randomBytes(16))}$${ab64(randomBytes(32))}`)
    for (let i = 0; i < revoked; i++) jti.run(`jti-${i}`)
  })()
  src.close()
}

describe('parseCsvLine', () => {
  it.each([
    ['a,b,c', ['a', 'b', 'c']],
    ['"a,1","b ""q""",', ['a,1', 'b "q"', '']],
    ['', ['']],
  ])('%s', (line, fields) => {
    expect(parseCsvLine(line)).toEqual(fields)
  })
  it.each(['"open', 'a"b,c', '"a"b'])('refuses %s', (line) => {
    expect(parseCsvLine(line)).toBeUndefined()
  })
})

describe('CSV and JSON lines', () => {
  it('imports every scheme, names each refused row, and a fixed file completes on the next run', async () => {
    const dir = tempDir()
    const db = join(dir, 'tessera.db')
    const csv = join(dir, 'users.csv')
    const lines = [
      'id,username,password',
      `1,argon,"${ARGON2}"`, // argon2 PHC strings hold commas
      `2,werk,${WERKZEUG}`,
      `3,"bc, rypt",${BCRYPT}`,
      `4,pass,${PASSLIB}`,
      '5,md5user,md5$abc$0123456789abcdef',
      `6,"bad""quote,${PASSLIB}`,
      `7,ARGON,${PASSLIB}`,
      `8,ctl\u0007name,${PASSLIB}`,
    ]
    writeFileSync(csv, `${lines.join('\n')}\n`)
    const first = await runCli(['users', 'import', csv, '--database-url', db, '--progress', 'none'])
    // Some rows refused: the operation did not fully succeed (exit 1), the others are imported.
    expect(first.code, first.output).toBe(1)
    expect(first.output).toContain('Imported 4 user(s) of 8; 0 already imported; 1 duplicate(s)')
    expect(first.output).toContain('line 6 "md5user": unknown password hash format')
    expect(first.output).toContain('line 7 "": malformed CSV line')
    expect(first.output).toMatch(/line 8 "ARGON": its normal form "argon" is already/)
    expect(first.output).toContain('line 9 "ctl\u0007name": username refused (invalid characters)')
    const stored = rows(db, 'select username, password_hash from users order by id')
    expect(stored).toEqual([
      { username: 'argon', password_hash: ARGON2 },
      { username: 'werk', password_hash: WERKZEUG },
      { username: 'bc, rypt', password_hash: BCRYPT },
      { username: 'pass', password_hash: PASSLIB },
    ])

    // The operator fixes the bad rows; the next run adds exactly them.
    lines[5] = `5,md5user,${BCRYPT}`
    lines[6] = `6,"bad""quote",${PASSLIB}`
    writeFileSync(csv, `${lines.join('\n')}\n`)
    const second = await runCli(['users', 'import', csv, '--database-url', db, '--progress', 'none'])
    expect(second.code, second.output).toBe(1) // line 9 is still refused
    expect(second.output).toContain('Imported 2 user(s) of 8; 4 already imported; 1 duplicate(s)')
    expect(countOf(db, 'users')).toBe(6)
    expect(countOf(db, 'legacy_identities')).toBe(6)
  })

  it('JSON lines, with --identity id mapping the old tokens’ numeric identity', async () => {
    const dir = tempDir()
    const db = join(dir, 'tessera.db')
    const file = join(dir, 'users.jsonl')
    writeFileSync(
      file,
      [
        JSON.stringify({ id: 41, username: 'json-a', password: PASSLIB }),
        'not json',
        JSON.stringify({ id: 42, username: 'json-b', password: BCRYPT }),
        JSON.stringify([1, 2]),
      ].join('\n'),
    )
    const result = await runCli([
      'users',
      'import',
      file,
      '--identity',
      'id',
      '--database-url',
      db,
      '--progress',
      'none',
    ])
    expect(result.code, result.output).toBe(1)
    expect(result.output).toContain('line 2 "": not valid JSON')
    expect(result.output).toContain('line 4 "": not a JSON object')
    expect(rows(db, 'select identity from legacy_identities order by identity')).toEqual([
      { identity: '41' },
      { identity: '42' },
    ])
  })

  it('a dry run reports the same and writes nothing', async () => {
    const dir = tempDir()
    const db = join(dir, 'tessera.db')
    const fixture = flaskFixture('default')
    const until = String(Math.floor(Date.now() / 1000) + 86_400)
    const result = await runCli([
      'users',
      'import',
      fixture.db,
      '--dry-run',
      '--legacy-until',
      until,
      '--database-url',
      db,
    ])
    expect(result.code, result.output).toBe(0)
    expect(result.output).toContain(
      `Dry run (nothing written): would import ${fixture.users.length - 1} user(s)`,
    )
    expect(result.output).toContain('Revoked tokens: 6 to import')
    expect(countOf(db, 'users')).toBe(0)
    expect(countOf(db, 'revocations')).toBe(0)
  })

  it('refuses to start without the legacy window end when there are revoked jtis (nothing written), dry run too', async () => {
    const dir = tempDir()
    const db = join(dir, 'tessera.db')
    // The rehearsal fails where the real run would.
    const dry = await runCli(
      ['users', 'import', flaskFixture('default').db, '--dry-run', '--database-url', db],
      {
        TESSERA_LEGACY_UNTIL: '',
      },
    )
    expect(dry.code, dry.output).toBe(1)
    expect(dry.output).toContain('legacy window')
    const result = await runCli(['users', 'import', flaskFixture('default').db, '--database-url', db], {
      TESSERA_LEGACY_UNTIL: '',
    })
    expect(result.code).toBe(1)
    expect(result.output).toContain('legacy window')
    expect(countOf(db, 'users')).toBe(0)
  })

  it('refuses table names that are not plain identifiers: a usage error (exit 2), before any database', async () => {
    const db = join(tempDir(), 'tessera.db')
    const result = await runCli([
      'users',
      'import',
      flaskFixture('default').db,
      '--users-table',
      'users; drop table users',
      '--database-url',
      db,
    ])
    expect(result.code, result.output).toBe(2)
    expect(result.output).toContain('--users-table "users; drop table users" is not a plain SQL identifier')
    expect(existsSync(db)).toBe(false)
  })
})

describe('a crash mid-way', () => {
  it('a killed import leaves whole batches, and the next run completes it', async () => {
    const dir = tempDir()
    const source = join(dir, 'flask.db')
    const target = join(dir, 'tessera.db')
    const total = 20_000
    flaskSource(source, total)

    const bin = fileURLToPath(new URL('../../packages/server/src/cli/bin.ts', import.meta.url))
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', bin, 'users', 'import', source, '--database-url', target, '--batch', '500'],
      { stdio: 'ignore', cwd: fileURLToPath(new URL('../../', import.meta.url)) },
    )
    // Kill it as soon as a few batches are in (polling the target, which it writes in WAL mode). A child
    // starting tsx on a loaded machine took most of a minute.
    const deadline = Date.now() + 120_000
    const committed = (): number => {
      try {
        return countOf(target, 'legacy_identities')
      } catch {
        return 0 // not migrated yet
      }
    }
    while (Date.now() < deadline && child.exitCode === null && committed() < 1000) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const reached = committed()
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
    expect(reached, 'the import had committed no batch of 500 within the wait').toBeGreaterThan(0)
    const afterCrash = countOf(target, 'users')
    expect(afterCrash).toBeGreaterThan(0)
    expect(afterCrash).toBeLessThan(total)
    // Whole batches only: every user has its legacy identity (one transaction each).
    expect(afterCrash % 500).toBe(0)
    expect(countOf(target, 'legacy_identities')).toBe(afterCrash)

    const rerun = await runCli(['users', 'import', source, '--database-url', target, '--progress', 'none'])
    expect(rerun.code, rerun.output).toBe(0)
    expect(rerun.output).toContain(
      `Imported ${total - afterCrash} user(s) of ${total}; ${afterCrash} already imported; 0 duplicate(s)`,
    )
    expect(countOf(target, 'users')).toBe(total)
    expect(countOf(target, 'legacy_identities')).toBe(total)
  }, 240_000)
})

describe("a batch beyond SQLite's 32,766 parameters", () => {
  it('imports 40,001 users and revoked jtis with --batch 50000, and a re-run finds every one', async () => {
    const dir = tempDir()
    const source = join(dir, 'flask.db')
    const target = join(dir, 'tessera.db')
    const total = 40_001
    flaskSource(source, total, total)
    const args = ['users', 'import', source, '--database-url', target, '--batch', '50000']
    const run = (): Promise<{ code: number; output: string }> =>
      runCli([...args, '--legacy-until', '2030-01-01', '--progress', 'none'])

    const first = await run()
    expect(first.code, first.output).toBe(0)
    expect(first.output).toContain(
      `Imported ${total} user(s) of ${total}; 0 already imported; 0 duplicate(s)`,
    )
    expect(first.output).toMatch(new RegExp(`Revoked tokens: ${total} imported .*, 0 already present`))
    expect(countOf(target, 'users')).toBe(total)
    expect(countOf(target, 'legacy_identities')).toBe(total)
    expect(countOf(target, 'revocations')).toBe(total)

    const second = await run()
    expect(second.code, second.output).toBe(0)
    expect(second.output).toContain(
      `Imported 0 user(s) of ${total}; ${total} already imported; 0 duplicate(s)`,
    )
    expect(second.output).toContain(`Revoked tokens: 0 imported`)
    expect(second.output).toContain(`${total} already present`)
    expect(countOf(target, 'users')).toBe(total)
  }, 120_000)
})

const pgUp = serviceAvailable('PostgreSQL', await postgresReachable())

describe.skipIf(!pgUp)('the fixture into PostgreSQL', () => {
  it('imports, is idempotent, and keeps the hashes and revoked jtis', async () => {
    const pg = await createTestDatabase('import')
    try {
      const fixture = flaskFixture('default')
      const args = ['users', 'import', fixture.db, '--database-url', pg.url, '--legacy-until', '2030-01-01']
      const first = await runCli([...args, '--progress', 'none'])
      expect(first.code, first.output).toBe(0)
      expect(first.output).toContain(`Imported ${fixture.users.length - 1} user(s)`)
      const second = await runCli([...args, '--progress', 'none'])
      expect(second.output).toContain(`Imported 0 user(s) of ${fixture.users.length}`)
      const db = await openDatabase({ url: pg.url })
      try {
        const users = await db.selectFrom('users').select(['username', 'password_hash']).execute()
        expect(users).toHaveLength(fixture.users.length - 1)
        expect(users.every((u) => u.password_hash.startsWith('$pbkdf2-sha256$29000$'))).toBe(true)
        const revoked = await db
          .selectFrom('revocations')
          .select(['expires_at'])
          .where('kind', '=', 'token')
          .execute()
        expect(revoked.map((r) => Number(r.expires_at))).toEqual(
          Array(6).fill(Date.parse('2030-01-01') / 1000),
        )
      } finally {
        await db.destroy()
      }
    } finally {
      await pg.drop()
    }
  })
})
