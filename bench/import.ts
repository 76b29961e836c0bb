/**
 * `npm run bench:import`: the user import (issue 17) and the login cost of an imported hash.
 *
 *   npm run bench:import -- --users 1000000        import rate into SQLite and PostgreSQL
 *   npm run bench:import -- --smoke                every path, briefly (CI); checks and exits 0
 *
 * 1. A flask-jwt-auth SQLite database of N generated users (well-formed passlib pbkdf2_sha256 strings;
 *    the import parses but never computes them), imported with `importUsers` (what `tessera users
 *    import` runs) into a fresh SQLite file and a fresh PostgreSQL database; rows/s and wall time.
 * 2. Login latency through the server (`app.inject`, temp SQLite), with the legacy window open (every
 *    check pays argon2id + pbkdf2) and closed: an imported pbkdf2_sha256 (29 000
 *    rounds) user's first login (verify + argon2id rehash + session), the same user's next login
 *    (argon2id), a wrong password for an imported user and for an argon2id user, an unknown user.
 *
 * Options: --users N (1000000), --batch N (5000), --logins N per case (20), --postgres-url URL
 * (TESSERA_TEST_POSTGRES_URL or the local trust server), --skip-postgres, --smoke.
 * The machine is shared: the load average is printed before and after; compare ratios of one run.
 */
import { pbkdf2Sync, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'
import { buildServer } from '../packages/server/src/server/app.js'
import { hashPassword } from '../packages/server/src/server/passwords.js'
import { importUsers, type ImportOptions } from '../packages/server/src/server/user-import.js'
import { migrateToLatest, openDatabase } from '../packages/server/src/stores/index.js'
import { postgresAdminUrl, scratchPostgresDatabase } from './lib/postgres.js'

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '5000' },
    logins: { type: 'string', default: '20' },
    'postgres-url': { type: 'string' },
    'skip-postgres': { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
  },
})
const smoke = args.smoke
const USERS = smoke ? 2000 : Number(args.users)
const BATCH = Number(args.batch)
const LOGINS = smoke ? 2 : Number(args.logins)
const PG_ADMIN = postgresAdminUrl(args['postgres-url'])

const load = (): string =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' / ')
const ab64 = (b: Buffer): string => b.toString('base64').replace(/=+$/, '').replaceAll('+', '.')
const passlib = (password: string): string => {
  const salt = randomBytes(16)
  return `$pbkdf2-sha256$29000$${ab64(salt)}$${ab64(pbkdf2Sync(password, salt, 29000, 32, 'sha256'))}`
}

function makeSource(path: string, n: number): void {
  const db = new Database(path)
  db.pragma('journal_mode = OFF')
  db.pragma('synchronous = OFF')
  db.exec(`create table users (id integer primary key, username varchar(120) not null unique,
    password varchar(120) not null); create table revoked_tokens (id integer primary key, jti varchar(120))`)
  const insert = db.prepare('insert into users (username, password) values (?, ?)')
  const salt = ab64(randomBytes(16))
  const digest = ab64(randomBytes(32))
  db.transaction(() => {
    // One salt and checksum for all: the import only parses them, and random bytes per row would
    // make generating take longer than importing.
    for (let i = 0; i < n; i++)
      insert.run(`user${String(i).padStart(7, '0')}`, `$pbkdf2-sha256$29000$${salt}$${digest}`)
  })()
  db.close()
}

const options = (file: string): ImportOptions => ({
  file,
  format: 'sqlite',
  usersTable: 'users',
  idColumn: 'id',
  usernameColumn: 'username',
  passwordColumn: 'password',
  revokedTable: 'revoked_tokens',
  jtiColumn: 'jti',
  identity: 'username',
  revokedUntil: Math.floor(Date.now() / 1000) + 86_400,
  batchSize: BATCH,
  dryRun: false,
})

async function timeImport(label: string, url: string, source: string): Promise<string> {
  const db = await openDatabase({ url })
  try {
    await migrateToLatest(db)
    const started = process.hrtime.bigint()
    const report = await importUsers(db, options(source))
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    if (report.imported !== USERS) throw new Error(`${label}: imported ${report.imported} of ${USERS}`)
    return `| import ${USERS.toLocaleString('en')} users → ${label} | ${seconds.toFixed(1)} s | ${Math.round(USERS / seconds).toLocaleString('en')} users/s |`
  } finally {
    await db.destroy()
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? Number.NaN
}

async function logins(dir: string, window: boolean): Promise<string[]> {
  const server = await buildServer({
    dataDir: dir,
    databaseUrl: join(dir, `login-${String(window)}.db`),
    // Window open: every check also pays for a pbkdf2 (passwords.ts, IMPORTED_HASH_COMPANION).
    ...(window
      ? { legacyHsSecret: 'jwt-secret-string', legacyUntil: Math.floor(Date.now() / 1000) + 86_400 }
      : {}),
    logLevel: 'silent',
    loginRatePerIp: 1_000_000,
    loginRatePerAccount: 1_000_000,
  })
  try {
    const { stores } = server.context
    const password = 'correct horse battery staple'
    for (let i = 0; i < LOGINS; i++) {
      await stores.users.create({
        username: `pb${i}`,
        usernameNormalized: `pb${i}`,
        passwordHash: passlib(password),
      })
      await stores.users.create({
        username: `ar${i}`,
        usernameNormalized: `ar${i}`,
        passwordHash: await hashPassword(password),
      })
    }
    const time = async (username: string, pw: string, status: number): Promise<number> => {
      const started = process.hrtime.bigint()
      const res = await server.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { username, password: pw },
      })
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      if (res.statusCode !== status) throw new Error(`login ${username}: ${res.statusCode} ${res.body}`)
      return ms
    }
    const cases: [string, (i: number) => Promise<number>][] = [
      ['imported pbkdf2_sha256 user, wrong password', (i) => time(`pb${i}`, 'wrong password!', 401)],
      ['argon2id user, wrong password', (i) => time(`ar${i}`, 'wrong password!', 401)],
      ['unknown user (argon2id dummy)', (i) => time(`nobody${i}`, 'wrong password!', 401)],
      ['argon2id user, login', (i) => time(`ar${i}`, password, 200)],
      [
        'imported pbkdf2_sha256 user, first login (verify + rehash + session)',
        (i) => time(`pb${i}`, password, 200),
      ],
      ['the same user, next login (now argon2id)', (i) => time(`pb${i}`, password, 200)],
    ]
    await time('warm-up', 'x'.repeat(10), 401)
    const rows: string[] = []
    const samples = new Map<string, number[]>(cases.map(([name]) => [name, []]))
    // Interleaved per user (wrong-password cases before the logins that rehash), so drift hits all.
    for (let i = 0; i < LOGINS; i++) for (const [name, run] of cases) samples.get(name)?.push(await run(i))
    for (const [name] of cases) {
      const xs = samples.get(name) ?? []
      rows.push(
        `| login, window ${window ? 'open' : 'closed'}: ${name} | median ${median(xs).toFixed(1)} ms | min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)} ms (n=${xs.length}) |`,
      )
    }
    return rows
  } finally {
    await server.close()
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-import-'))
  const out: string[] = []
  try {
    console.log(`load average before: ${load()} (${new Date().toISOString()}, node ${process.version})`)
    const source = join(dir, 'flask.db')
    const generated = Date.now()
    makeSource(source, USERS)
    console.log(`generated ${USERS} users in ${((Date.now() - generated) / 1000).toFixed(1)} s`)
    out.push(await timeImport('SQLite', join(dir, 'tessera.db'), source))
    console.log(out.at(-1))
    if (!args['skip-postgres']) {
      const pgdb = await scratchPostgresDatabase(PG_ADMIN, 'tessera_bench_import')
      try {
        out.push(await timeImport('PostgreSQL', pgdb.url, source))
        console.log(out.at(-1))
      } finally {
        await pgdb.drop()
      }
    }
    for (const window of [true, false])
      for (const row of await logins(dir, window)) {
        out.push(row)
        console.log(row)
      }
    console.log(`load average after: ${load()}`)
    console.log(`\n| measurement | value | detail |\n| --- | --- | --- |\n${out.join('\n')}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
