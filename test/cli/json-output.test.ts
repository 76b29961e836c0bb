// `--json` on the listing commands (`users list`, `keys list`): one JSON document on stdout, an array of
// objects with fixed field names and ISO 8601 times (or null), nothing else on stdout; errors stay on
// stderr. The objects of `users list` are those of GET /users.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/server-harness.js'

const PASSWORD = 'velvet otter gravel lamp'
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/
let dir = ''
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-json-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Runs the CLI on `dir`, expects exit 0 and nothing on stderr, and parses stdout as one JSON value. */
async function json(argv: string[]): Promise<unknown> {
  const run = await runCli([...argv, '--json', '--data-dir', dir])
  expect(run.code, run.output).toBe(0)
  expect(run.stderr).toBe('')
  return JSON.parse(run.stdout) as unknown
}

/** Rows of the test database. */
function rows(query: string): Record<string, unknown>[] {
  const db = new Database(join(dir, 'tessera.db'), { readonly: true })
  try {
    return db.prepare(query).all() as Record<string, unknown>[]
  } finally {
    db.close()
  }
}

const iso = (seconds: unknown): string | null =>
  seconds === null ? null : new Date(Number(seconds) * 1000).toISOString()

describe('tessera users list --json', () => {
  it('prints [] for a database without users', async () => {
    expect((await runCli(['migrate', '--data-dir', dir])).code).toBe(0)
    expect(await json(['users', 'list'])).toEqual([])
  })

  it('prints every user as GET /users does: id, username, roles, disabled, created_at', async () => {
    for (const [name, extra] of [
      ['alice', ['--admin']],
      ['bob', ['--roles', 'editor,auditor']],
    ] as const) {
      const run = await runCli(['users', 'create', name, ...extra, '--data-dir', dir], {
        TESSERA_PASSWORD: PASSWORD,
      })
      expect(run.code, run.output).toBe(0)
    }
    const db = new Database(join(dir, 'tessera.db'))
    db.prepare("update users set disabled = 1 where username = 'bob'").run()
    db.close()
    const listed = await json(['users', 'list'])
    const stored = rows('select id, created_at from users order by id')
    expect(listed).toEqual([
      {
        id: stored[0]?.id,
        username: 'alice',
        roles: ['admin'],
        disabled: false,
        created_at: iso(stored[0]?.created_at),
      },
      {
        id: stored[1]?.id,
        username: 'bob',
        roles: ['editor', 'auditor'],
        disabled: true,
        created_at: iso(stored[1]?.created_at),
      },
    ])
    for (const user of listed as { created_at: string }[]) expect(user.created_at).toMatch(ISO)
  })

  it('lists every user in one array past one page of 500', async () => {
    const db = new Database(join(dir, 'tessera.db'))
    const insert = db.prepare(
      "insert into users (username, username_normalized, password_hash, roles, disabled, created_at, updated_at, password_changed_at) values (?, ?, 'x', '[]', 0, 0, 0, 0)",
    )
    db.transaction(() => {
      for (let i = 0; i < 600; i++) insert.run(`user${String(i)}`, `user${String(i)}`)
    })()
    db.close()
    const listed = (await json(['users', 'list'])) as { id: number; username: string; created_at: string }[]
    expect(listed).toHaveLength(602)
    expect(new Set(listed.map((u) => u.id)).size).toBe(602)
    expect(listed.at(-1)).toMatchObject({ username: 'user599', created_at: '1970-01-01T00:00:00.000Z' })
  })

  it('keeps errors on stderr with nothing on stdout', async () => {
    const run = await runCli(['users', 'list', '--json', '--data-dir', join(dir, 'mistyped')])
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr).toMatch(/^tessera users: no database at .*mistyped/)
  })

  it('is taken by list only', async () => {
    const run = await runCli(['users', 'enable', 'bob', '--json', '--data-dir', dir])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/--json does not apply to `tessera users enable`/)
  })
})

describe('tessera keys list --json', () => {
  it('prints every key: kid, alg, state, active and its four times (ISO 8601 or null)', async () => {
    expect((await runCli(['keys', 'rotate', '--data-dir', dir])).code).toBe(0)
    expect((await runCli(['keys', 'generate', '--data-dir', dir])).code).toBe(0)
    const listed = (await json(['keys', 'list'])) as Record<string, unknown>[]
    const stored = rows(
      'select kid, alg, created_at, activated_at, retired_at, revoked_at from signing_keys order by created_at, kid',
    )
    expect(listed).toHaveLength(2)
    for (const key of listed) {
      const row = stored.find((r) => r.kid === key.kid)
      expect(key).toEqual({
        kid: row?.kid,
        alg: 'EdDSA',
        state: key.active === true ? 'active' : 'generated',
        active: key.active,
        created_at: iso(row?.created_at),
        activated_at: iso(row?.activated_at ?? null),
        retired_at: null,
        revoked_at: null,
      })
      expect(key.created_at).toMatch(ISO)
    }
    expect(listed.map((k) => k.state).sort()).toEqual(['active', 'generated'])
  })

  it('prints [] when there is no key, where the text says so in a sentence', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'tessera-json-keys-'))
    try {
      expect((await runCli(['migrate', '--data-dir', empty])).code).toBe(0)
      const run = await runCli(['keys', 'list', '--json', '--data-dir', empty])
      expect([run.code, run.stdout, run.stderr]).toEqual([0, '[]\n', ''])
    } finally {
      await rm(empty, { recursive: true, force: true })
    }
  })

  it('is taken by list only', async () => {
    const run = await runCli(['keys', 'prune', '--json', '--data-dir', dir])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/--json does not apply to `tessera keys prune`/)
  })
})
