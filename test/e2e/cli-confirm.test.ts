// The commands that destroy or lock out ask before acting (`users delete`, `users disable`, a
// `users set-roles` that removes admin, `keys revoke`): in a terminal one y/N question naming what
// happens; `--yes` (`-y`) goes on without it; with no terminal and no --yes, a usage error (exit 2) and
// nothing changed. Run as real processes, in a pseudo-terminal (util-linux `script`) or on pipes,
// against a running server's database, whose sessions the question counts.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bundleCli, type BundledCli } from '../helpers/bundled-cli.js'
import { cleanEnv } from '../helpers/clean-env.js'
import { runCli, uniqueName, useServer, type E2EServer } from '../helpers/server-harness.js'

const PASSWORD = 'a long enough first password'
const server = useServer({ keyRefreshInterval: 1 })
let cli: BundledCli | undefined
beforeAll(async () => {
  cli = await bundleCli()
})
afterAll(async () => {
  await cli?.remove()
})

interface Run {
  code: number | null
  /** In a terminal: everything the terminal showed (stdout and stderr), escape sequences removed. */
  stdout: string
  stderr: string
  /** Whether a y/N question was shown. */
  asked: boolean
}

const quote = (arg: string): string => `'${arg.replaceAll("'", "'\\''")}'`

/**
 * `tessera <args> --data-dir <the server's dir>`: on pipes (no terminal), or with `terminal` in a
 * pseudo-terminal where `answer` is typed once a y/N question shows (an unexpected question is
 * answered "n"). Stdin stays open until the process ends: a command that waited for input would hang.
 */
function tessera(
  args: readonly string[],
  options: { terminal?: boolean; answer?: string; on?: E2EServer } = {},
): Promise<Run> {
  if (cli === undefined) throw new Error('the CLI is not bundled yet')
  const argv = [process.execPath, cli.path, ...args, '--data-dir', (options.on ?? server).dir]
  const child = options.terminal
    ? spawn('script', ['-qec', argv.map(quote).join(' '), '/dev/null'], { env: cleanEnv() })
    : spawn(argv[0]!, argv.slice(1), { env: cleanEnv() })
  let stdout = ''
  let stderr = ''
  let asked = false
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      if (!asked && stdout.includes('[y/N] ')) {
        asked = true
        child.stdin.write(`${options.answer ?? 'n'}\r`)
      }
    })
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      child.stdin.destroy()
      // eslint-disable-next-line no-control-regex -- the terminal's escape sequences
      const shown = stdout.replaceAll('\r', '').replace(/\u001b\[[0-9;]*[A-Za-z]/g, '')
      resolve({ code, stdout: shown, stderr, asked })
    })
  })
}

/** One row of the server's database. */
function row(query: string, ...params: unknown[]): Record<string, unknown> | undefined {
  return rowOf(server, query, ...params)
}

function rowOf(target: E2EServer, query: string, ...params: unknown[]): Record<string, unknown> | undefined {
  const db = new Database(join(target.dir, 'tessera.db'), { readonly: true })
  try {
    return db.prepare(query).get(...params) as Record<string, unknown> | undefined
  } finally {
    db.close()
  }
}

const userRow = (name: string): Record<string, unknown> | undefined =>
  row('select id, roles, disabled from users where username = ?', name)
const auditCount = (): unknown => row('select count(*) as n from audit_events')?.n

/** A user with `sessions` open sessions (logins), an admin or not. */
async function userWithSessions(
  prefix: string,
  sessions: number,
  admin = false,
  on = server,
): Promise<string> {
  const name = uniqueName(prefix)
  await on.createUserWithCli(name, PASSWORD, admin)
  for (let i = 0; i < sessions; i++) await on.login(name, PASSWORD)
  return name
}

/** A key that signed and was replaced (`keys rotate --now`): one `keys revoke` may revoke. */
async function retiredKid(): Promise<string> {
  const listed = await runCli(['keys', 'list', '--json', '--data-dir', server.dir])
  const active = (JSON.parse(listed.stdout) as { kid: string; active: boolean }[]).find((k) => k.active)
  expect(active, listed.output).toBeDefined()
  const rotated = await server.cli(['keys', 'rotate', '--now', '--key-refresh-interval', '1'])
  expect(rotated.code, rotated.output).toBe(0)
  return active!.kid
}

describe('without a terminal', () => {
  it('refuses each dangerous command without --yes: exit 2, one line saying to pass --yes, nothing changed', async () => {
    const admin = await userWithSessions('cli-keep-admin', 1, true)
    const victim = await userWithSessions('cli-keep', 1, true)
    const kid = await retiredKid()
    const users = [userRow(admin), userRow(victim)]
    const events = auditCount()
    for (const [args, doing] of [
      [['users', 'delete', victim], 'deleting a user'],
      [['users', 'disable', victim], 'disabling a user'],
      [['users', 'set-roles', victim, 'editor'], 'removing the admin role'],
      [['keys', 'revoke', kid], 'revoking a key'],
    ] as const) {
      const run = await tessera(args)
      expect([args.join(' '), run.code]).toEqual([args.join(' '), 2])
      const family = args[0]
      expect(run.stderr).toBe(
        `tessera ${family}: ${doing} needs confirmation and there is no terminal to ask on: pass --yes (-y) to go ahead; nothing was changed\n`,
      )
      expect(run.stdout).toBe('')
    }
    expect([userRow(admin), userRow(victim)]).toEqual(users)
    expect(row('select revoked_at from signing_keys where kid = ?', kid)).toEqual({ revoked_at: null })
    expect(auditCount()).toBe(events)
  })

  it('acts without asking with --yes or -y', async () => {
    const name = await userWithSessions('cli-yes', 1)
    const disabled = await tessera(['users', 'disable', name, '-y'])
    expect(disabled.code, disabled.stderr).toBe(0)
    expect(disabled.stdout).toContain(
      `${name}: disabled (logins refused); every token of the user is revoked`,
    )
    expect(userRow(name)?.disabled).toBe(1)
    const deleted = await tessera(['users', 'delete', name, '--yes'])
    expect(deleted.code, deleted.stderr).toBe(0)
    expect(userRow(name)).toBeUndefined()
    const kid = await retiredKid()
    const revoked = await tessera(['keys', 'revoke', kid, '--yes'])
    expect(revoked.code, revoked.stderr).toBe(0)
    expect(row('select revoked_at from signing_keys where kid = ?', kid)?.revoked_at).not.toBeNull()
  })

  it('needs no --yes for a role change that keeps admin, nor for the commands that lock nobody out', async () => {
    const name = await userWithSessions('cli-roles', 0)
    for (const args of [
      ['users', 'set-roles', name, 'editor,auditor'],
      ['users', 'set-roles', name, 'editor'],
      ['users', 'enable', name],
      ['users', 'list'],
      ['keys', 'list'],
      ['keys', 'prune'],
    ]) {
      const run = await tessera(args)
      expect([args.join(' '), run.code], run.stderr).toEqual([args.join(' '), 0])
    }
    expect(userRow(name)?.roles).toBe('["editor"]')
  })
})

describe('in a terminal', () => {
  it('asks before deleting, naming the sessions that end; "n" changes nothing (exit 1), "y" deletes', async () => {
    const name = await userWithSessions('cli-ask-delete', 2)
    const declined = await tessera(['users', 'delete', name], { terminal: true, answer: 'n' })
    expect(declined.asked).toBe(true)
    expect(declined.stdout).toContain(`Delete user ${name} and end their 2 sessions? [y/N] n\n`)
    expect(declined.stdout).toContain('tessera users: not confirmed: nothing was changed')
    expect(declined.code).toBe(1)
    expect(userRow(name)).toBeDefined()
    const confirmed = await tessera(['users', 'delete', name], { terminal: true, answer: 'y' })
    expect(confirmed.code, confirmed.stdout).toBe(0)
    expect(confirmed.stdout).toMatch(
      new RegExp(
        `${name} \\(id \\d+\\): deleted; every token of the user is revoked \\(2 session\\(s\\) ended\\)`,
      ),
    )
    expect(userRow(name)).toBeUndefined()
  })

  it('takes an empty answer as no', async () => {
    const name = await userWithSessions('cli-ask-empty', 0)
    const run = await tessera(['users', 'disable', name], { terminal: true, answer: '' })
    expect(run.stdout).toContain(`Disable user ${name} (logins refused)? [y/N] \n`)
    expect(run.code).toBe(1)
    expect(userRow(name)?.disabled).toBe(0)
  })

  describe('on a database with one admin', () => {
    const alone = useServer()

    it('says when the user is the last enabled admin, and disables on "yes"', async () => {
      const name = await userWithSessions('cli-ask-admin', 1, true, alone)
      const run = await tessera(['users', 'disable', name], { terminal: true, answer: 'yes', on: alone })
      expect(run.stdout).toContain(
        `${name} is the last enabled admin. Disable user ${name} (logins refused) and end their 1 session? [y/N] yes\n`,
      )
      expect(run.code, run.stdout).toBe(0)
      expect(run.stdout).toContain('warning: no enabled admin is left')
      expect(rowOf(alone, 'select disabled from users where username = ?', name)).toEqual({ disabled: 1 })
    })
  })

  it('asks before removing the admin role, and only then', async () => {
    const name = await userWithSessions('cli-ask-demote', 1, true)
    const kept = await tessera(['users', 'set-roles', name, 'admin,editor'], { terminal: true })
    expect([kept.code, kept.asked], kept.stdout).toEqual([0, false])
    const run = await tessera(['users', 'set-roles', name, 'editor'], { terminal: true, answer: 'Y' })
    expect(run.stdout).toMatch(
      new RegExp(`Remove the admin role from ${name} and end their 1 session\\? \\[y/N\\] Y\\n`),
    )
    expect(run.code, run.stdout).toBe(0)
    expect(userRow(name)?.roles).toBe('["editor"]')
  })

  it('asks before revoking a key, naming it', async () => {
    const kid = await retiredKid()
    const declined = await tessera(['keys', 'revoke', kid], { terminal: true, answer: 'no' })
    expect(declined.stdout).toContain(
      `Revoke key ${kid} (EdDSA, retired): drop it from the JWKS and refuse every token it signed? [y/N] no\n`,
    )
    expect(declined.code).toBe(1)
    expect(row('select revoked_at from signing_keys where kid = ?', kid)).toEqual({ revoked_at: null })
    const confirmed = await tessera(['keys', 'revoke', kid], { terminal: true, answer: 'y' })
    expect(confirmed.code, confirmed.stdout).toBe(0)
    expect(confirmed.stdout).toContain(`Revoked ${kid}`)
    // Already revoked: nothing to ask.
    const again = await tessera(['keys', 'revoke', kid], { terminal: true })
    expect([again.code, again.asked]).toEqual([0, false])
    expect(again.stdout).toContain(`${kid} was already revoked`)
  })

  it('does not ask with --yes, nor for the commands that lock nobody out', async () => {
    const name = await userWithSessions('cli-no-ask', 1)
    for (const args of [
      ['users', 'list'],
      ['users', 'set-roles', name, 'editor'],
      ['users', 'enable', name],
      ['keys', 'list'],
      ['keys', 'rotate'],
      ['keys', 'prune'],
      ['users', 'disable', name, '--yes'],
      ['users', 'delete', name, '-y'],
    ]) {
      const run = await tessera(args, { terminal: true })
      expect([args.join(' '), run.code, run.asked], run.stdout).toEqual([args.join(' '), 0, false])
    }
    expect(userRow(name)).toBeUndefined()
  })
})
