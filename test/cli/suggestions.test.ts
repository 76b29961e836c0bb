// What a mistyped or half-remembered `tessera` command line gets (in-process, through main()): the
// closest command or action, help text without empty defaults, and `keys list` in aligned columns.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/server-harness.js'

const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
})

describe('tessera command-line mistakes', () => {
  it.each([
    [['user', 'list'], 'tessera: unknown command "user"; did you mean "tessera users"?'],
    [['key', 'list'], 'tessera: unknown command "key"; did you mean "tessera keys"?'],
    [['--verison'], 'tessera: unknown command "--verison"; did you mean "tessera --version"?'],
    [['users', 'lst'], 'tessera users: unknown action "lst" (did you mean "list"?); use create, list'],
    [['keys', 'rotat'], 'tessera keys: unknown action "rotat" (did you mean "rotate"?); use generate'],
  ])('answers %j with the closest name, exit 2', async (argv, said) => {
    const run = await runCli(argv)
    expect(run.code).toBe(2)
    expect(run.output).toContain(said)
  })

  it('suggests nothing when no name is close', async () => {
    const run = await runCli(['frobnicate'])
    expect(run.code).toBe(2)
    expect(run.output).toMatch(/^tessera: unknown command "frobnicate"\n\nUsage:/)
  })

  it('points at the admin routes for what the users command does not do', async () => {
    const help = await runCli(['users', '--help'])
    expect(help.code).toBe(0)
    expect(help.output).toContain('PATCH /users/:id')
    expect(help.output).toContain('GET /audit')
  })

  it('prints no empty default in the settings help', async () => {
    const help = await runCli(['serve', '--help'])
    expect(help.code).toBe(0)
    expect(help.output).toContain('--trusted-origins')
    expect(help.output).not.toContain('(default )')
  })

  it('lists keys in aligned columns', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-keys-list-'))
    dirs.push(dir)
    expect((await runCli(['keys', 'rotate', '--data-dir', dir])).code).toBe(0)
    expect((await runCli(['keys', 'generate', '--data-dir', dir])).code).toBe(0)
    const list = await runCli(['keys', 'list', '--data-dir', dir])
    expect(list.code, list.output).toBe(0)
    const lines = list.output.trimEnd().split('\n')
    expect(lines).toHaveLength(3)
    // Every column starts at the same offset in the title and in each row.
    const starts = (line: string): number[] =>
      [...line.matchAll(/(?:^|\s{2})(\S)/g)].map((m) => m.index + m[0].length - 1)
    const titles = starts(lines[0] ?? '')
    expect(titles).toHaveLength(7)
    for (const row of lines.slice(1)) expect(starts(row).slice(0, 3)).toEqual(titles.slice(0, 3))
    expect(lines[2]).toMatch(/\bgenerated\b/)
  })
})
