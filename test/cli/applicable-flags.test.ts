// Each `tessera` command takes only the flags that apply to it (packages/server/src/cli/args.ts,
// checkApplicable): a server setting it does not read, or another action's flag, is a usage error
// (exit 2) naming the flag and the command, said before anything is opened. The database's flags
// apply to every command that opens it; TESSERA_* variables are the servers' too and never refused.
import { existsSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/server-harness.js'

const PASSWORD = 'velvet otter gravel lamp'
let dir = ''
let db = ''
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-flags-'))
  db = join(dir, 'data', 'tessera.db')
  const created = await runCli(['users', 'create', 'alice', '--data-dir', join(dir, 'data')], {
    TESSERA_PASSWORD: PASSWORD,
  })
  expect(created.code, created.output).toBe(0)
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** The users' rows: what a refused command must leave as it was. */
function users(): unknown[] {
  const file = new Database(db, { readonly: true })
  try {
    return file.prepare('select id, username, roles, disabled from users order by id').all()
  } finally {
    file.close()
  }
}

describe('flags a command does not take', () => {
  it.each([
    [['users', 'list', '--port', '8080'], '--port', 'users list'],
    [['users', 'create', 'bob', '--redis-url', 'redis://127.0.0.1:6379'], '--redis-url', 'users create'],
    [['users', 'enable', 'alice', '--redis-url', 'redis://127.0.0.1:6379'], '--redis-url', 'users enable'],
    [
      ['users', 'set-roles', 'alice', 'admin', '--password-min-score', '0'],
      '--password-min-score',
      'users set-roles',
    ],
    [['users', 'delete', 'alice', '--admin'], '--admin', 'users delete'],
    [['users', 'import', 'old.csv', '--registration', 'closed'], '--registration', 'users import'],
    [['keys', 'list', '--jwks-max-age', '60'], '--jwks-max-age', 'keys list'],
    [['keys', 'prune', '--now'], '--now', 'keys prune'],
    [['keys', 'generate', '--key-refresh-interval', '1'], '--key-refresh-interval', 'keys generate'],
    [['migrate', '--database-pool-size', '3'], '--database-pool-size', 'migrate'],
    [['backup', join(tmpdir(), 'never.db'), '--log-level', 'debug'], '--log-level', 'backup'],
  ])('refuses %j: exit 2 naming %s and `tessera %s`, nothing changed', async (argv, flag, command) => {
    const before = users()
    const run = await runCli([...argv, '--data-dir', join(dir, 'data')], { TESSERA_PASSWORD: PASSWORD })
    expect(run.code, run.output).toBe(2)
    const family = command.split(' ')[0] ?? ''
    expect(run.stderr).toBe(
      `tessera ${family}: ${flag} does not apply to \`tessera ${command}\` (tessera ${family} --help lists what does)\n`,
    )
    expect(run.stdout).toBe('')
    expect(users()).toEqual(before)
  })

  it('names the first such flag, as given', async () => {
    const run = await runCli(['users', 'list', '--host', '0.0.0.0', '--port', '1', '--data-dir', dir])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/^tessera users: --host does not apply to `tessera users list`/)
  })

  it('refuses before opening the database: a mistyped directory is not made', async () => {
    const missing = join(dir, 'not-made')
    const run = await runCli(['keys', 'rotate', '--port', '1', '--data-dir', missing])
    expect(run.code).toBe(2)
    expect(existsSync(missing)).toBe(false)
  })
})

describe('flags a command takes', () => {
  it.each([
    [['users', 'list']],
    [['users', 'set-roles', 'alice', 'editor']],
    [['users', 'enable', 'alice']],
    [['keys', 'rotate']],
    [['keys', 'list']],
    [['keys', 'prune']],
    [['migrate']],
  ])('takes the database by --database-url on %j', async (argv) => {
    const run = await runCli([...argv, '--database-url', db])
    expect(run.code, run.output).toBe(0)
  })

  it('takes the database by --data-dir on backup and users import', async () => {
    const copy = join(dir, 'copy.db')
    const backup = await runCli(['backup', copy, '--data-dir', join(dir, 'data')])
    expect(backup.code, backup.output).toBe(0)
    const csv = join(dir, 'old.csv')
    writeFileSync(csv, 'id,username,password\n')
    const imported = await runCli([
      'users',
      'import',
      csv,
      '--data-dir',
      join(dir, 'data'),
      '--progress',
      'none',
    ])
    expect(imported.code, imported.output).toBe(0)
  })

  it('reads the settings it takes: create and set-password hold the password to --password-min-length', async () => {
    const run = await runCli(
      ['users', 'create', 'carol', '--password-min-length', '30', '--data-dir', join(dir, 'data')],
      {
        TESSERA_PASSWORD: PASSWORD,
      },
    )
    expect(run.code, run.output).toBe(1)
    expect(run.stderr).toMatch(/weak_password: password .*30/)
    const reset = await runCli(
      ['users', 'set-password', 'alice', '--password-min-length', '30', '--data-dir', join(dir, 'data')],
      { TESSERA_PASSWORD: PASSWORD },
    )
    expect(reset.code, reset.output).toBe(1)
  })

  it('takes the revocation settings on a change that revokes', async () => {
    const run = await runCli([
      'users',
      'set-roles',
      'alice',
      '',
      '--redis-url',
      'redis://127.0.0.1:1',
      '--redis-prefix',
      'flags-test:',
      '--access-token-ttl',
      '15m',
      '--data-dir',
      join(dir, 'data'),
    ])
    // Read: it tried the Redis it was given (unreachable here), having saved the change.
    expect(run.code, run.output).toBe(1)
    expect(run.stderr).toMatch(/Redis was not told/)
  })

  it('never refuses a TESSERA_* variable a command does not read', async () => {
    const run = await runCli(['users', 'list', '--data-dir', join(dir, 'data')], {
      TESSERA_PORT: '9999',
      TESSERA_REGISTRATION: 'closed',
    })
    expect(run.code, run.output).toBe(0)
    expect(run.stdout).toMatch(/\balice\b/)
  })

  it('keeps every setting on serve (its help lists them all)', async () => {
    const help = await runCli(['serve', '--help'])
    expect(help.code).toBe(0)
    for (const flag of [
      '--port',
      '--host',
      '--redis-url',
      '--log-level',
      '--data-dir',
      '--password-min-score',
    ])
      expect(help.stdout).toContain(flag)
  })
})
