// The Flask tutorial's real database and tokens (../shared/fixtures/flask-jwt-auth beside the clone, as
// in CI; a git worktree one level deeper finds it one more level up; a copy of the work tree elsewhere,
// such as a CI Node-version leg, names it with TESSERA_FLASK_FIXTURE). Read only: never written.
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'

const CANDIDATES = ['../../../shared/fixtures/flask-jwt-auth/', '../../../../shared/fixtures/flask-jwt-auth/']

/** The fixture folder, or a clear error naming where it was looked for. */
function fixtureRoot(): URL {
  const named = process.env.TESSERA_FLASK_FIXTURE
  if (named !== undefined && named !== '') {
    const url = pathToFileURL(named.endsWith('/') ? named : `${named}/`)
    if (existsSync(url)) return url
    throw new Error(`the Flask fixture is missing: TESSERA_FLASK_FIXTURE=${named} does not exist`)
  }
  for (const relative of CANDIDATES) {
    const url = new URL(relative, import.meta.url)
    if (existsSync(url)) return url
  }
  throw new Error(
    `the Flask fixture is missing: expected ../shared/fixtures/flask-jwt-auth beside the repository (looked at ${CANDIDATES.join(', ')} from test/helpers)`,
  )
}

/** One user of `issued.json`. */
export interface FixtureUser {
  username: string
  password: string
  access_token: string
  refresh_token: string
  login?: { access_token: string; refresh_token: string; revoked?: number[] }
}

/** A variant of the fixture: `default` (real lifetimes) or `long-lived` (3650-day tokens). */
export interface FlaskFixture {
  /** Absolute path of the variant's `app.db` (open it read-only, or copy it). */
  db: string
  secret: string
  issuedAt: number
  users: FixtureUser[]
}

/** Loads a variant of the fixture. */
export function flaskFixture(variant: 'default' | 'long-lived' = 'long-lived'): FlaskFixture {
  const dir = new URL(`${variant}/`, fixtureRoot())
  const issued = JSON.parse(readFileSync(new URL('issued.json', dir), 'utf8')) as {
    jwt_secret_key: string
    issued_at: number
    users: FixtureUser[]
  }
  return {
    db: fileURLToPath(new URL('app.db', dir)),
    secret: issued.jwt_secret_key,
    issuedAt: issued.issued_at,
    users: issued.users,
  }
}
