// One exit status table for every `tessera` command (packages/server/src/cli/exit-codes.ts, docs/cli.md):
// 0 success, 1 the operation failed, 2 a usage error. Errors are one line on stderr, stdout stays empty.
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/server-harness.js'

let dir = ''
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-exit-codes-'))
  expect((await runCli(['migrate', '--data-dir', dir])).code).toBe(0)
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('tessera exit status', () => {
  it('is 0 for a command that did its work, and for --help', async () => {
    for (const argv of [
      ['users', 'list', '--data-dir', dir],
      ['users', '--help'],
      ['--help'],
      ['--version'],
    ]) {
      const run = await runCli(argv)
      expect([argv.join(' '), run.code, run.stderr]).toEqual([argv.join(' '), 0, ''])
    }
  })

  it.each([
    ['no command at all', [], /^Usage: tessera <command>/],
    ['an unknown command', ['frobnicate'], /^tessera: unknown command "frobnicate"/],
    ['an unknown flag', ['users', 'list', '--frobnicate'], /^tessera users: unknown option --frobnicate/],
    ['a command without its action', ['users'], /^Usage:\n {2}tessera users create/],
    ['an unknown action', ['keys', 'drop'], /^tessera keys: unknown action "drop"/],
    ['a missing argument', ['users', 'enable'], /^tessera users: usage: tessera users enable <username>/],
    ['a stray argument', ['users', 'list', 'alice'], /^tessera users: unexpected argument "alice"/],
    [
      'a bad value of a flag',
      ['users', 'set-roles', 'a', 'Bad Role'],
      /^tessera users: invalid role "Bad Role"/,
    ],
    [
      'a bad username',
      ['users', 'create', 'a\u0007b'],
      /^tessera users: invalid username \(invalid_characters\)/,
    ],
    [
      'a bad value of a setting',
      ['migrate', '--database-timeout', 'soon'],
      /^tessera migrate: configuration_error: --database-timeout/,
    ],
    [
      'no password and nobody to ask for one',
      ['users', 'create', 'alice'],
      /^tessera users: no password: set TESSERA_PASSWORD/,
    ],
  ])('is 2 for %s, said on stderr, nothing on stdout, no database made', async (_what, argv, said) => {
    const fresh = join(dir, 'not-made')
    const run = await runCli([...argv, ...(argv.length > 1 ? ['--data-dir', fresh] : [])])
    expect(run.code, run.output).toBe(2)
    expect(run.stderr).toMatch(said)
    expect(run.stdout).toBe('')
    expect(existsSync(fresh)).toBe(false)
  })

  // Built once the database exists (it.each's rows are read before beforeAll runs).
  const failures = (): [string, string[], RegExp][] => [
    [
      'no such user',
      ['users', 'enable', 'nobody', '--data-dir', dir],
      /^tessera users: no user "nobody": nothing/,
    ],
    [
      'no such key',
      ['keys', 'revoke', 'no-such-kid', '--yes', '--data-dir', dir],
      /^tessera keys: no key has kid/,
    ],
    ['no database there', ['keys', 'list', '--data-dir', join(dir, 'mistyped')], /no database at .*mistyped/],
    [
      'a database it cannot reach',
      ['users', 'list', '--database-url', 'postgres://127.0.0.1:1/tessera'],
      /^tessera users: ECONNREFUSED: /,
    ],
  ]

  it('is 1 when the operation fails, said in one line on stderr, nothing on stdout', async () => {
    for (const [what, argv, said] of failures()) {
      const run = await runCli(argv)
      expect([what, run.code], run.output).toEqual([what, 1])
      expect(run.stderr).toMatch(said)
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1)
      expect(run.stdout).toBe('')
    }
  })
})
