// A PostgreSQL database of a benchmark's own, created on the server of `adminUrl` and dropped after.
import { randomBytes } from 'node:crypto'
import pg from 'pg'

/** Where a benchmark's PostgreSQL runs: `--postgres-url`, else the tests' server. */
export const postgresAdminUrl = (flag: string | undefined): string =>
  flag ?? process.env.TESSERA_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Creates `<prefix>_<random>` on the server of `adminUrl`: its URL, and `drop()` (forced, if it exists). */
export async function scratchPostgresDatabase(
  adminUrl: string,
  prefix: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`
  const run = async (statement: string): Promise<void> => {
    const client = new pg.Client({ connectionString: adminUrl })
    await client.connect()
    try {
      await client.query(statement)
    } finally {
      await client.end()
    }
  }
  await run(`create database ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return { url: url.toString(), drop: () => run(`drop database if exists ${name} with (force)`) }
}
