// The `tessera` CLI as a real process (issue 15): no password and no terminal is a usage error (exit 2),
// a weak password creates nothing, a misspelt flag gets a hint, every --help lists the database options.
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bundleCli, runBundledCli, type BundledCli, type CliRun } from '../helpers/bundled-cli.js'

let dir = ''
let cli: BundledCli | undefined
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-cli-'))
  cli = await bundleCli()
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
  await cli?.remove()
})

/** `tessera <args>` (the CLI bundled from the sources), stdin at EOF (not a terminal), TESSERA_PASSWORD only as given. */
const tessera = (args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> =>
  runBundledCli(cli, args, env)

const userCount = async (): Promise<string> => {
  const list = await tessera(['users', 'list', '--data-dir', dir])
  expect(list.code, list.stderr).toBe(0)
  return /(\d+) user\(s\)/.exec(list.stdout)?.[1] ?? 'none'
}

describe('tessera CLI (real process)', () => {
  it('refuses users create with no TESSERA_PASSWORD and no terminal: exit 2, a clear error, no user', async () => {
    const run = await tessera(['users', 'create', 'eve', '--data-dir', dir])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/no password: set TESSERA_PASSWORD/)
    expect(run.stdout).not.toMatch(/Password:/)
    // Refused before the database is opened: not even an empty one is made.
    expect(existsSync(join(dir, 'tessera.db'))).toBe(false)
  }, 120_000)

  it.each([
    ['a common password', 'password1'],
    ['a password built from the username', 'eve2026!eve'],
    ['a password of 7 characters', 'Zq9!xw#'],
  ])(
    'refuses %s with weak_password and creates no user',
    async (_label, password) => {
      const run = await tessera(['users', 'create', 'eve', '--admin', '--data-dir', dir], {
        TESSERA_PASSWORD: password,
      })
      expect(run.code).toBe(1)
      expect(run.stderr).toMatch(/weak_password/)
      expect(run.stderr).not.toContain(password)
      expect(await userCount()).toBe('0')
    },
    120_000,
  )

  it('creates the user with a strong password', async () => {
    const run = await tessera(['users', 'create', 'eve', '--data-dir', dir], {
      TESSERA_PASSWORD: 'velvet otter gravel lamp',
    })
    expect(run.code, run.stderr).toBe(0)
    expect(await userCount()).toBe('1')
  }, 120_000)

  it('prints one JSON document and nothing else on stdout with users list --json', async () => {
    const run = await tessera(['users', 'list', '--json', '--data-dir', dir])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).toBe('')
    expect(JSON.parse(run.stdout)).toEqual([
      { id: 1, username: 'eve', roles: [], disabled: false, created_at: expect.any(String) as string },
    ])
  }, 120_000)

  it.each([
    [['migrate', '--databse-url', 'x.db'], '--database-url'],
    [['users', 'list', '--data-dri', 'x'], '--data-dir'],
    [['users', 'create', 'x', '--admn'], '--admin'],
    [['serve', '--prot', '1'], '--port'],
  ])(
    'answers the misspelt flag in %j with a hint: did you mean %s? (exit 2)',
    async (args, hint) => {
      const run = await tessera(args)
      expect(run.code).toBe(2)
      expect(run.stderr).toContain(`did you mean ${hint}?`)
      expect(run.stderr).not.toMatch(/To specify an option argument starting with a dash/)
    },
    120_000,
  )

  it.each([['serve'], ['migrate'], ['keys'], ['users']])(
    'lists --data-dir and --database-url in "tessera %s --help"',
    async (command) => {
      const run = await tessera([command, '--help'])
      expect(run.code).toBe(0)
      expect(run.stdout).toContain('--data-dir')
      expect(run.stdout).toContain('--database-url')
      expect(run.stdout).toContain('--help')
    },
    120_000,
  )
})
