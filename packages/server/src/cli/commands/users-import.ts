/**
 * `tessera users import <file>`: another system's users (a Flask app's SQLite database, CSV, JSON
 * lines) into Tessera, with a dry run, a progress bar and a summary. The work is in
 * server/user-import.ts.
 */
import { extname } from 'node:path'
import {
  ImportError,
  importUsers,
  isPlainIdentifier,
  type ImportFormat,
  type ImportProgress,
  type ImportReport,
} from '../../server/user-import.js'
import { checkApplicable, DATABASE_SETTINGS, parseCommand, showHelp } from '../args.js'
import { CommandFailure, EXIT, UsageError } from '../exit-codes.js'
import { withStores } from './context.js'

const IMPORT_HELP = `Usage: tessera users import <file> [options]

Imports users from a flask-jwt-auth style SQLite database (default tables users(id, username,
password) and revoked_tokens(id, jti)), or from CSV (a header line) or JSON lines. Password hashes are
kept as they are (passlib pbkdf2_sha256/512, Werkzeug pbkdf2/scrypt, bcrypt, argon2) and replaced by
argon2id at each user's first login. Re-running imports nothing twice; each batch is one transaction.

Options:
  --format sqlite|csv|jsonl    default: from the extension (.db/.sqlite/.sqlite3, .csv, .jsonl/.ndjson)
  --users-table NAME           SQLite users table (default users)
  --id-column NAME             (default id)
  --username-column NAME       (default username)
  --password-column NAME       the hash column (default password)
  --revoked-table NAME         SQLite table of revoked jtis (default revoked_tokens; "" for none)
  --jti-column NAME            (default jti)
  --identity username|id       what the old app's tokens carry as their identity (default username)
  --legacy-until INSTANT       expiry of the imported revoked jtis (default TESSERA_LEGACY_UNTIL)
  --batch N                    rows per transaction (default 5000)
  --dry-run                    report what would happen, write nothing
  --progress auto|bar|lines|none   (default auto: a bar on a terminal, a line every 5 s otherwise)
  --data-dir DIR               the Tessera database's directory (TESSERA_DATA_DIR, default ./data)
  --database-url URL           or its SQLite path or postgres://… (TESSERA_DATABASE_URL)
  -h, --help                   show this help

Exit status: 0 when every row was imported or skipped; 1 when some rows were refused (listed; the
others are imported) or the import could not start (nothing written); 2 for a mistake in the command
line (docs/cli.md, "Exit status").
`

const FORMATS: Record<string, ImportFormat> = {
  '.db': 'sqlite',
  '.sqlite': 'sqlite',
  '.sqlite3': 'sqlite',
  '.csv': 'csv',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
}

/** The import's own flags. */
const OPTIONS = {
  format: { type: 'string' },
  'users-table': { type: 'string' },
  'id-column': { type: 'string' },
  'username-column': { type: 'string' },
  'password-column': { type: 'string' },
  'revoked-table': { type: 'string' },
  'jti-column': { type: 'string' },
  identity: { type: 'string' },
  batch: { type: 'string' },
  'dry-run': { type: 'boolean' },
  progress: { type: 'string' },
} as const

const text = (flags: Record<string, unknown>, name: string, fallback: string): string => {
  const value = flags[name]
  return typeof value === 'string' ? value : fallback
}

/** Runs `tessera users import` with the arguments after `import`. */
export async function runUsersImport(argv: readonly string[]): Promise<number> {
  const parsed = parseCommand(argv, OPTIONS)
  const { settings, flags, positionals, help } = parsed
  const [file, extra] = positionals
  if (help || file === undefined) {
    return showHelp(IMPORT_HELP, help)
  }
  // The database, and the legacy window's end (the imported revoked jtis' expiry).
  checkApplicable(parsed, 'users import', {
    settings: [...DATABASE_SETTINGS, 'legacyUntil'],
    flags: Object.keys(OPTIONS),
  })
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`)
  const format = (flags.format ?? FORMATS[extname(file).toLowerCase()]) as ImportFormat | undefined
  if (format === undefined || !['sqlite', 'csv', 'jsonl'].includes(format))
    throw new UsageError('cannot tell the format from the file name: pass --format sqlite|csv|jsonl')
  const identity = text(flags, 'identity', 'username')
  if (identity !== 'username' && identity !== 'id') throw new UsageError('--identity must be username or id')
  const batchSize = Number(text(flags, 'batch', '5000'))
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 50_000)
    throw new UsageError('--batch must be a whole number from 1 to 50000')
  const progressMode = text(flags, 'progress', 'auto')
  if (!['auto', 'bar', 'lines', 'none'].includes(progressMode))
    throw new UsageError('--progress must be auto, bar, lines or none')
  const revokedTable = text(flags, 'revoked-table', 'revoked_tokens')
  // Names spliced into the source query: a bad one is a mistake in the command line, said before any
  // database is opened.
  for (const name of ['users-table', 'id-column', 'username-column', 'password-column', 'jti-column']) {
    const value = flags[name]
    if (typeof value === 'string' && !isPlainIdentifier(value))
      throw new UsageError(`--${name} "${value}" is not a plain SQL identifier`)
  }
  if (revokedTable !== '' && !isPlainIdentifier(revokedTable))
    throw new UsageError(`--revoked-table "${revokedTable}" is not a plain SQL identifier ("" for none)`)

  return withStores(settings, async (stores, config) => {
    const progress = progressReporter(
      progressMode === 'auto' ? (process.stderr.isTTY ? 'bar' : 'lines') : progressMode,
    )
    let report: ImportReport
    try {
      report = await importUsers(stores.db, {
        file,
        format,
        usersTable: text(flags, 'users-table', 'users'),
        idColumn: text(flags, 'id-column', 'id'),
        usernameColumn: text(flags, 'username-column', 'username'),
        passwordColumn: text(flags, 'password-column', 'password'),
        revokedTable: revokedTable === '' ? undefined : revokedTable,
        jtiColumn: text(flags, 'jti-column', 'jti'),
        identity,
        revokedUntil: config.legacyUntil,
        batchSize,
        dryRun: flags['dry-run'] === true,
        onProgress: (p) => {
          progress.update(p)
        },
      })
    } catch (error) {
      progress.end()
      if (error instanceof ImportError) throw new CommandFailure(error.message)
      throw error
    }
    progress.end()
    process.stdout.write(summary(report))
    return report.refused.length > 0 ? EXIT.failed : EXIT.ok
  })
}

/** The summary printed at the end: counts, then every duplicate and refused row. */
function summary(r: ImportReport): string {
  const would = r.dryRun ? 'Dry run (nothing written): would import' : 'Imported'
  const lines = [
    `${would} ${r.imported} user(s) of ${r.rows}; ${r.alreadyImported} already imported; ${r.duplicates.length} duplicate(s) after username normalisation; ${r.refused.length} refused.`,
  ]
  if (r.duplicates.length > 0) {
    lines.push('Duplicates (not imported, not merged):')
    for (const d of r.duplicates) lines.push(`  ${d.row} "${d.username}": ${d.reason}`)
  }
  if (r.refused.length > 0) {
    lines.push('Refused:')
    for (const d of r.refused) lines.push(`  ${d.row} "${d.username}": ${d.reason}`)
  }
  const until =
    r.revoked.expiresAt === undefined
      ? ''
      : ` (kept until ${new Date(r.revoked.expiresAt * 1000).toISOString()})`
  lines.push(
    `Revoked tokens: ${r.revoked.imported} ${r.dryRun ? 'to import' : 'imported'}${until}, ${r.revoked.alreadyPresent} already present.`,
  )
  return `${lines.join('\n')}\n`
}

interface Reporter {
  update(p: ImportProgress): void
  end(): void
}

function progressReporter(mode: string): Reporter {
  const started = Date.now()
  let last = 0
  let drawn = false
  const line = (p: ImportProgress, bar: boolean): string => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001)
    const rate = Math.round(p.rows / seconds)
    const fraction = p.total === undefined || p.total === 0 ? undefined : Math.min(1, p.done / p.total)
    const eta =
      fraction === undefined || fraction === 0
        ? '?'
        : clock(Math.round((seconds * (1 - fraction)) / fraction))
    const percent = fraction === undefined ? '' : `${(fraction * 100).toFixed(1).padStart(5)}% `
    const what = p.phase === 'users' ? 'users' : 'revoked jtis'
    const meter =
      bar && fraction !== undefined ? `[${'#'.repeat(Math.round(fraction * 30)).padEnd(30, '.')}] ` : ''
    return `${meter}${percent}${p.rows.toLocaleString('en')} ${what}  ${rate.toLocaleString('en')}/s  ETA ${eta}`
  }
  if (mode === 'none') return { update: () => undefined, end: () => undefined }
  if (mode === 'bar')
    return {
      update(p) {
        const now = Date.now()
        if (now - last < 100 && p.done !== p.total) return
        last = now
        drawn = true
        process.stderr.write(`\r\u001b[K${line(p, true)}`)
      },
      end() {
        if (drawn) process.stderr.write('\n')
      },
    }
  return {
    update(p) {
      const now = Date.now()
      if (now - last < 5_000 && p.done !== p.total) return
      last = now
      process.stderr.write(`${line(p, false)}\n`)
    },
    end: () => undefined,
  }
}

function clock(seconds: number): string {
  const h = Math.floor(seconds / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  const two = (n: number): string => String(n).padStart(2, '0')
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`
}
