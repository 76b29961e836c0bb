/**
 * Importing the users of another system (`tessera users import`): a flask-jwt-auth style SQLite
 * database, CSV or JSON lines. Streamed and written in batches, one transaction each, so memory stays
 * flat for a million users and a crash loses at most the batch in flight; the next run skips what is
 * there (each imported user's legacy identity is recorded in the same transaction) and completes it.
 *
 * Every row ends in exactly one bucket: imported, already imported (an earlier run), duplicate (its
 * username normalises to one that is taken: listed, never merged) or refused (with the reason and the
 * row named). Password hashes are kept as they are (argon2 or a foreign scheme, foreign-hashes.ts);
 * the first login rehashes them.
 */
import { createReadStream, statSync } from 'node:fs'
import { createInterface } from 'node:readline'
import type { Kysely } from 'kysely'
import { nowSeconds } from '../time.js'
import type { TesseraDatabase } from '../stores/sql/schema.js'
import { inTransaction } from '../stores/sql/transaction.js'
import { describeUnknownHash, parseForeignHash } from './foreign-hashes.js'
import { parsePasswordHash } from './passwords.js'
import { validateUsername } from './username.js'

/** Where the users come from. */
export type ImportFormat = 'sqlite' | 'csv' | 'jsonl'

/** Options of {@link importUsers}. */
export interface ImportOptions {
  file: string
  format: ImportFormat
  /** Table and column names of the source (SQLite), column names or keys (CSV, JSON lines). */
  usersTable: string
  idColumn: string
  usernameColumn: string
  passwordColumn: string
  /** SQLite: the table of revoked jtis, or `undefined` for none. */
  revokedTable: string | undefined
  jtiColumn: string
  /** Which source value the old tokens carry as their identity (`sub`). */
  identity: 'username' | 'id'
  /** Expiry of the imported revoked jtis (the legacy window's end); required when there are any. */
  revokedUntil: number | undefined
  /** Rows per transaction. */
  batchSize: number
  dryRun: boolean
  /** Called after every batch (and once at the start with zero done). */
  onProgress?: (progress: ImportProgress) => void
}

/** Progress of a running import. */
export interface ImportProgress {
  phase: 'users' | 'revoked'
  rows: number
  /** Work done and total in the source's unit (rows for SQLite, bytes for files); total may be unknown. */
  done: number
  total: number | undefined
}

/** A row that was not imported, and why. */
export interface RowNote {
  /** `id 3` or `line 12`: how to find the row in the source. */
  row: string
  username: string
  reason: string
}

/** What an import did (or, dry, would do). */
export interface ImportReport {
  dryRun: boolean
  rows: number
  imported: number
  alreadyImported: number
  duplicates: RowNote[]
  refused: RowNote[]
  revoked: { imported: number; alreadyPresent: number; expiresAt: number | undefined }
}

interface SourceRow {
  ref: string
  id: unknown
  username: unknown
  hash: unknown
  /** Why the source row could not even be read (malformed CSV, invalid JSON). */
  problem?: string
}

interface Batch {
  rows: SourceRow[]
  done: number
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/
// Users per INSERT statement: 8 parameters each stays under SQLite's 32 766 and PostgreSQL's 65 535.
const INSERT_CHUNK = 1000
// Values per `in (…)` lookup, whatever the batch size (up to 50 000): under both limits too.
const LOOKUP_CHUNK = 10_000

/** The rows `lookup` finds for `values`, asked {@link LOOKUP_CHUNK} values at a time. */
async function lookUpInChunks<V, R>(
  values: readonly V[],
  lookup: (chunk: V[]) => Promise<R[]>,
): Promise<R[]> {
  const rows: R[] = []
  for (let start = 0; start < values.length; start += LOOKUP_CHUNK) {
    for (const row of await lookup(values.slice(start, start + LOOKUP_CHUNK))) rows.push(row)
  }
  return rows
}

/** An import that cannot start (bad options, unreadable source): nothing was written. */
export class ImportError extends Error {
  override name = 'ImportError'
}

/** Whether a table or column name is a plain SQL identifier, the only kind spliced into a query. */
export const isPlainIdentifier = (name: string): boolean => IDENTIFIER.test(name)

/** Checks a table or column name before it is spliced into the source query. */
function checkIdentifier(name: string, what: string): string {
  if (!isPlainIdentifier(name)) throw new ImportError(`${what} "${name}" is not a plain SQL identifier`)
  return name
}

/**
 * Runs an import into `db` (migrated). Throws an {@link ImportError} before writing anything when the
 * source or the options are unusable; row-level problems end up in the report instead.
 */
export async function importUsers(
  db: Kysely<TesseraDatabase>,
  options: ImportOptions,
): Promise<ImportReport> {
  const source = await openSource(options)
  const report: ImportReport = {
    dryRun: options.dryRun,
    rows: 0,
    imported: 0,
    alreadyImported: 0,
    duplicates: [],
    refused: [],
    revoked: { imported: 0, alreadyPresent: 0, expiresAt: options.revokedUntil },
  }
  try {
    // A dry run too: the rehearsal must fail where the real run would.
    if (source.revokedCount > 0 && options.revokedUntil === undefined) {
      throw new ImportError(
        `the source has ${source.revokedCount} revoked token(s): set the legacy window's end (--legacy-until or TESSERA_LEGACY_UNTIL), their expiry`,
      )
    }
    // Dry runs write nothing, so duplicates across batches are found here instead of by the database.
    const seen = options.dryRun ? new Map<string, string>() : undefined
    options.onProgress?.({ phase: 'users', rows: 0, done: 0, total: source.total })
    for await (const batch of source.batches(options.batchSize)) {
      await importBatch(db, batch.rows, options, report, seen)
      report.rows += batch.rows.length
      options.onProgress?.({ phase: 'users', rows: report.rows, done: batch.done, total: source.total })
    }
    let jtis = 0
    for (const chunk of source.revoked(options.batchSize)) {
      await importRevoked(db, chunk, options, report)
      jtis += chunk.length
      options.onProgress?.({ phase: 'revoked', rows: jtis, done: jtis, total: source.revokedCount })
    }
  } finally {
    source.close()
  }
  return report
}

interface Source {
  total: number | undefined
  revokedCount: number
  batches(size: number): AsyncIterable<Batch> | Iterable<Batch>
  revoked(size: number): Iterable<string[]>
  close(): void
}

async function openSource(o: ImportOptions): Promise<Source> {
  return o.format === 'sqlite' ? openSqliteSource(o) : openFileSource(o)
}

async function openSqliteSource(o: ImportOptions): Promise<Source> {
  const { default: Database } = await import('better-sqlite3')
  const table = checkIdentifier(o.usersTable, 'users table')
  const columns = [o.idColumn, o.usernameColumn, o.passwordColumn].map((c) => checkIdentifier(c, 'column'))
  let source: InstanceType<typeof Database>
  try {
    source = new Database(o.file, { readonly: true, fileMustExist: true })
  } catch (error) {
    throw new ImportError(`cannot open the SQLite database ${o.file}: ${(error as Error).message}`)
  }
  try {
    const [id, username, password] = columns as [string, string, string]
    const select = source.prepare(
      `select "${id}" as id, "${username}" as username, "${password}" as hash from "${table}" order by "${id}"`,
    )
    const total = (source.prepare(`select count(*) as n from "${table}"`).get() as { n: number }).n
    let revokedCount = 0
    let revokedSelect: { iterate(): IterableIterator<unknown> } | undefined
    if (o.revokedTable !== undefined) {
      const rt = checkIdentifier(o.revokedTable, 'revoked table')
      const jti = checkIdentifier(o.jtiColumn, 'jti column')
      const exists = source.prepare(`select 1 from sqlite_master where type = 'table' and name = ?`).get(rt)
      if (exists !== undefined) {
        revokedSelect = source.prepare(`select "${jti}" as jti from "${rt}" order by rowid`)
        revokedCount = (source.prepare(`select count(*) as n from "${rt}"`).get() as { n: number }).n
      }
    }
    return {
      total,
      revokedCount,
      *batches(size) {
        let rows: SourceRow[] = []
        let done = 0
        for (const raw of select.iterate() as Iterable<{ id: unknown; username: unknown; hash: unknown }>) {
          rows.push({ ref: `id ${String(raw.id)}`, id: raw.id, username: raw.username, hash: raw.hash })
          done++
          if (rows.length >= size) {
            yield { rows, done }
            rows = []
          }
        }
        if (rows.length > 0) yield { rows, done }
      },
      *revoked(size) {
        if (revokedSelect === undefined) return
        let chunk: string[] = []
        for (const raw of revokedSelect.iterate() as Iterable<{ jti: unknown }>) {
          if (typeof raw.jti === 'string' && raw.jti !== '') chunk.push(raw.jti)
          if (chunk.length >= size) {
            yield chunk
            chunk = []
          }
        }
        if (chunk.length > 0) yield chunk
      },
      close: () => source.close(),
    }
  } catch (error) {
    source.close()
    if (error instanceof ImportError) throw error
    throw new ImportError(`cannot read ${o.file}: ${(error as Error).message}`)
  }
}

function openFileSource(o: ImportOptions): Source {
  let total: number
  try {
    total = statSync(o.file).size
  } catch (error) {
    throw new ImportError(`cannot read ${o.file}: ${(error as Error).message}`)
  }
  return {
    total,
    revokedCount: 0,
    async *batches(size) {
      const lines = createInterface({ input: createReadStream(o.file, 'utf8'), crlfDelay: Infinity })
      let header: string[] | undefined
      let rows: SourceRow[] = []
      let line = 0
      let done = 0
      for await (const text of lines) {
        line++
        done += Buffer.byteLength(text) + 1
        if (text.trim() === '') continue
        let record: Record<string, unknown> | undefined
        let problem: string | undefined
        if (o.format === 'csv') {
          const fields = parseCsvLine(text)
          if (header === undefined) {
            if (fields === undefined) throw new ImportError('the CSV header line is malformed')
            header = fields
            for (const column of [o.usernameColumn, o.passwordColumn])
              if (!header.includes(column))
                throw new ImportError(
                  `the CSV header has no "${column}" column (it has ${header.join(', ')})`,
                )
            continue
          }
          if (fields?.length !== header.length)
            problem = `malformed CSV line (expected ${header.length} fields)`
          else record = Object.fromEntries(header.map((name, i) => [name, fields[i]]))
        } else {
          try {
            const value: unknown = JSON.parse(text)
            if (typeof value === 'object' && value !== null && !Array.isArray(value))
              record = value as Record<string, unknown>
            else problem = 'not a JSON object'
          } catch {
            problem = 'not valid JSON'
          }
        }
        const ref = `line ${line}`
        rows.push(
          record === undefined
            ? { ref, id: undefined, username: undefined, hash: undefined, problem }
            : {
                ref,
                id: record[o.idColumn],
                username: record[o.usernameColumn],
                hash: record[o.passwordColumn],
              },
        )
        if (rows.length >= size) {
          yield { rows, done }
          rows = []
        }
      }
      if (rows.length > 0) yield { rows, done }
    },
    *revoked() {
      // Files carry users only; revoked jtis come from a SQLite source.
    },
    close: () => undefined,
  }
}

/** One CSV record on one line (RFC 4180 quoting, no line breaks inside fields); `undefined` if malformed. */
export function parseCsvLine(text: string): string[] | undefined {
  const fields: string[] = []
  let i = 0
  for (;;) {
    if (text[i] === '"') {
      let value = ''
      i++
      for (;;) {
        const quote = text.indexOf('"', i)
        if (quote === -1) return undefined
        value += text.slice(i, quote)
        if (text[quote + 1] === '"') {
          value += '"'
          i = quote + 2
        } else {
          i = quote + 1
          break
        }
      }
      fields.push(value)
      if (i === text.length) return fields
      if (text[i] !== ',') return undefined
      i++
    } else {
      const comma = text.indexOf(',', i)
      const value = comma === -1 ? text.slice(i) : text.slice(i, comma)
      if (value.includes('"')) return undefined
      fields.push(value)
      if (comma === -1) return fields
      i = comma + 1
    }
  }
}

interface Candidate {
  ref: string
  identity: string
  username: string
  normalized: string
  hash: string
}

const show = (value: unknown): string =>
  typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value)

function validateRow(row: SourceRow, o: ImportOptions): Candidate | RowNote {
  const username = show(row.username)
  const refuse = (reason: string): RowNote => ({ row: row.ref, username, reason })
  if (row.problem !== undefined) return refuse(row.problem)
  const name = validateUsername(row.username)
  if (!name.ok) return refuse(`username refused (${name.reason.replace('_', ' ')})`)
  const identityValue = o.identity === 'id' ? row.id : row.username
  const identity =
    typeof identityValue === 'number' || typeof identityValue === 'bigint'
      ? String(identityValue)
      : identityValue
  if (typeof identity !== 'string' || identity === '')
    return refuse(`no ${o.identity} to map the old tokens to`)
  if (typeof row.hash !== 'string' || row.hash === '') return refuse('no password hash')
  if (parsePasswordHash(row.hash) === undefined && parseForeignHash(row.hash) === undefined)
    return refuse(describeUnknownHash(row.hash))
  return { ref: row.ref, identity, username: name.username, normalized: name.normalized, hash: row.hash }
}

async function importBatch(
  db: Kysely<TesseraDatabase>,
  rows: SourceRow[],
  o: ImportOptions,
  report: ImportReport,
  seen: Map<string, string> | undefined,
): Promise<void> {
  const candidates = screenBatch(rows, o, report)
  if (candidates.length === 0) return
  if (o.dryRun) {
    await writeBatch(db, candidates, report, seen)
    return
  }
  // The counters are only kept when the transaction commits (a retried attempt starts over).
  const before = { ...report, duplicates: report.duplicates.length }
  await inTransaction(db, async (trx) => {
    report.imported = before.imported
    report.alreadyImported = before.alreadyImported
    report.duplicates.length = before.duplicates
    await writeBatch(trx, candidates, report, seen)
  })
}

/** Validates the rows, and keeps the first of rows that collide inside the batch. */
function screenBatch(rows: SourceRow[], o: ImportOptions, report: ImportReport): Candidate[] {
  const candidates: Candidate[] = []
  const byName = new Map<string, Candidate>()
  const byIdentity = new Set<string>()
  for (const row of rows) {
    const checked = validateRow(row, o)
    if (!('identity' in checked)) {
      report.refused.push(checked)
      continue
    }
    const first = byName.get(checked.normalized)
    if (first !== undefined) {
      report.duplicates.push(duplicate(checked, `"${first.username}" (${first.ref}, same import)`))
      continue
    }
    if (byIdentity.has(checked.identity)) {
      report.refused.push({
        row: checked.ref,
        username: checked.username,
        reason: `identity ${checked.identity} appears twice`,
      })
      continue
    }
    byName.set(checked.normalized, checked)
    byIdentity.add(checked.identity)
    candidates.push(checked)
  }
  return candidates
}

/**
 * Writes the candidates of one batch that an earlier run did not import and whose name is free (in
 * the database, or earlier in a dry run: `seen`, which writes nothing).
 */
async function writeBatch(
  trx: Kysely<TesseraDatabase>,
  candidates: Candidate[],
  report: ImportReport,
  seen: Map<string, string> | undefined,
): Promise<void> {
  const already = await importedIdentities(trx, candidates)
  const fresh = candidates.filter((c) => !already.has(c.identity))
  report.alreadyImported += candidates.length - fresh.length
  if (fresh.length === 0) return
  const taken = await nameHolders(trx, fresh)
  const insert: Candidate[] = []
  for (const c of fresh) {
    const holder = taken.get(c.normalized)
    const earlier = seen?.get(c.normalized)
    if (holder !== undefined)
      report.duplicates.push(duplicate(c, `user "${holder.username}" (Tessera id ${holder.id})`))
    else if (earlier !== undefined) report.duplicates.push(duplicate(c, `${earlier} (same import)`))
    else insert.push(c)
  }
  if (seen !== undefined) {
    for (const c of insert) seen.set(c.normalized, `"${c.username}" (${c.ref})`)
    report.imported += insert.length
    return
  }
  const now = nowSeconds()
  for (let start = 0; start < insert.length; start += INSERT_CHUNK) {
    const imported = await insertUsers(trx, insert.slice(start, start + INSERT_CHUNK), now, report)
    report.imported += imported
  }
}

/** The candidates' identities an earlier run imported. */
async function importedIdentities(
  trx: Kysely<TesseraDatabase>,
  candidates: Candidate[],
): Promise<Set<string>> {
  const rows = await lookUpInChunks(
    candidates.map((c) => c.identity),
    (identities) =>
      trx.selectFrom('legacy_identities').select('identity').where('identity', 'in', identities).execute(),
  )
  return new Set(rows.map((r) => r.identity))
}

/** The users already holding the candidates' normal forms, by normal form. */
async function nameHolders(
  trx: Kysely<TesseraDatabase>,
  candidates: Candidate[],
): Promise<Map<string, { id: number; username: string }>> {
  const rows = await lookUpInChunks(
    candidates.map((c) => c.normalized),
    (names) =>
      trx
        .selectFrom('users')
        .select(['id', 'username', 'username_normalized'])
        .where('username_normalized', 'in', names)
        .execute(),
  )
  return new Map(rows.map((r) => [r.username_normalized, r] as const))
}

/** Inserts one chunk of users with their legacy identities; returns how many were imported. */
async function insertUsers(
  trx: Kysely<TesseraDatabase>,
  chunk: Candidate[],
  now: number,
  report: ImportReport,
): Promise<number> {
  const created = await trx
    .insertInto('users')
    .values(
      chunk.map((c) => ({
        username: c.username,
        username_normalized: c.normalized,
        password_hash: c.hash,
        roles: '[]',
        disabled: 0,
        created_at: now,
        updated_at: now,
        password_changed_at: now,
      })),
    )
    .onConflict((oc) => oc.column('username_normalized').doNothing())
    .returning(['id', 'username_normalized'])
    .execute()
  const ids = new Map(created.map((r) => [r.username_normalized, r.id] as const))
  const identities = chunk.flatMap((c) => {
    const id = ids.get(c.normalized)
    if (id === undefined) {
      // Registered by someone else between the look-up and the insert.
      report.duplicates.push(duplicate(c, 'a user registered during the import'))
      return []
    }
    return [{ identity: c.identity, user_id: id, imported_at: now }]
  })
  if (identities.length > 0) await trx.insertInto('legacy_identities').values(identities).execute()
  return identities.length
}

function duplicate(c: Candidate, holder: string): RowNote {
  return {
    row: c.ref,
    username: c.username,
    reason: `its normal form "${c.normalized}" is already ${holder}: not merged; rename or merge by hand`,
  }
}

async function importRevoked(
  db: Kysely<TesseraDatabase>,
  jtis: string[],
  o: ImportOptions,
  report: ImportReport,
): Promise<void> {
  const unique = [...new Set(jtis)]
  const present = new Set(
    (
      await lookUpInChunks(unique, (ids) =>
        db
          .selectFrom('revocations')
          .select('id')
          .where('kind', '=', 'token')
          .where('id', 'in', ids)
          .execute(),
      )
    ).map((r) => r.id),
  )
  const fresh = unique.filter((j) => !present.has(j))
  report.revoked.alreadyPresent += unique.length - fresh.length
  if (o.dryRun) {
    report.revoked.imported += fresh.length
    return
  }
  const expiresAt = o.revokedUntil ?? 0
  await inTransaction(db, async (trx) => {
    // Already present: kept until the later end, so importing again with a later --legacy-until (a
    // window extended) keeps the old app's logouts refused for as long as its tokens are accepted.
    const kept = [...present]
    for (let start = 0; start < kept.length; start += INSERT_CHUNK * 2) {
      await trx
        .updateTable('revocations')
        .set({ expires_at: expiresAt })
        .where('kind', '=', 'token')
        .where('id', 'in', kept.slice(start, start + INSERT_CHUNK * 2))
        .where('expires_at', '<', expiresAt)
        .execute()
    }
    for (let start = 0; start < fresh.length; start += INSERT_CHUNK * 2) {
      await trx
        .insertInto('revocations')
        .values(
          fresh
            .slice(start, start + INSERT_CHUNK * 2)
            .map((id) => ({ kind: 'token' as const, id, before: null, expires_at: expiresAt })),
        )
        .onConflict((oc) => oc.columns(['kind', 'id']).doNothing())
        .execute()
    }
  })
  report.revoked.imported += fresh.length
}
