// Throwaway PostgreSQL databases for the suites that need one: each gets a fresh database on the
// server named by TESSERA_TEST_POSTGRES_URL (default: the local trust-auth server, database `test`),
// dropped afterwards, so parallel runs and files never collide.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { sql, type Kysely, type RawBuilder } from 'kysely'
import { afterAll, beforeAll, expect } from 'vitest'

/** The maintenance connection: a database that always exists, used to create and drop the others. */
const POSTGRES_ADMIN_URL = process.env.TESSERA_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** True when the PostgreSQL server answers within `timeoutMs`. */
export async function postgresReachable(url = POSTGRES_ADMIN_URL, timeoutMs = 2_000): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs })
  client.on('error', () => undefined)
  try {
    await client.connect()
    await client.query('select 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** Runs one statement on the maintenance database. */
async function admin(statement: string, url = POSTGRES_ADMIN_URL): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
  client.on('error', () => undefined)
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** A fresh database and its URL; `drop()` removes it, closing any connection left open. */
export interface TestDatabase {
  name: string
  url: string
  drop(): Promise<void>
}

/** Creates an empty database named `tessera_<prefix>_<random>` next to the maintenance database. */
export async function createTestDatabase(prefix = 't', adminUrl = POSTGRES_ADMIN_URL): Promise<TestDatabase> {
  const name = `tessera_${prefix}_${randomBytes(6).toString('hex')}`
  // CREATE DATABASE copies template1 and fails while another session uses it: retry briefly.
  for (let attempt = 0; ; attempt++) {
    try {
      await admin(`create database ${name}`, adminUrl)
      break
    } catch (error) {
      if (attempt >= 20 || !/being accessed by other users/.test((error as Error).message)) throw error
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100))
    }
  }
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    name,
    url: url.toString(),
    drop: () => admin(`drop database if exists ${name} with (force)`, adminUrl),
  }
}

/**
 * An empty schema in an existing database and a URL whose connections use it (`search_path`), for
 * suites that need a fresh namespace per test more cheaply than a database. Drop it with `drop()`.
 */
async function createTestSchema(databaseUrl: string, prefix = 's'): Promise<TestDatabase> {
  const name = `tessera_${prefix}_${randomBytes(6).toString('hex')}`
  await admin(`create schema ${name}`, databaseUrl)
  const url = new URL(databaseUrl)
  url.searchParams.set('options', `-c search_path=${name}`)
  return {
    name,
    url: url.toString(),
    drop: () => admin(`drop schema if exists ${name} cascade`, databaseUrl),
  }
}

/**
 * One database for the enclosing file or `describe` (created before its tests, dropped after them), and
 * `schema()` for a fresh schema in it, per test: cheaper than a database each. Tests in a file run one
 * after the other and each drops its schema, so introspection sees only one.
 */
export function useTestDatabase(prefix: string): { schema: () => Promise<TestDatabase> } {
  let database: TestDatabase | undefined
  beforeAll(async () => {
    database = await createTestDatabase(prefix)
  })
  afterAll(async () => {
    await database?.drop()
  })
  return {
    schema: () => {
      if (database === undefined) throw new Error('no database: beforeAll did not run')
      return createTestSchema(database.url, prefix)
    },
  }
}

/**
 * Resolves once some connection of `db` waits for a lock matching `condition` (a condition on
 * `pg_locks`, e.g. sql`relation = 'revocations'::regclass`): a request sent meanwhile has reached the
 * point a test holds it at. Fails the test after 10 s, naming `what`.
 */
export async function untilLockAwaited<DB>(
  db: Kysely<DB>,
  condition: RawBuilder<unknown>,
  what: string,
): Promise<void> {
  for (let waited = 0; ; waited += 20) {
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from pg_locks where not granted and ${condition}`.execute(db)
    if ((rows[0]?.n ?? 0) > 0) return
    expect(waited, `${what} never waited for the lock`).toBeLessThan(10_000)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
