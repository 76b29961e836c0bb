// `tessera users set-password|disable|enable|delete` against a running server without Redis: each change
// is written with its audit event and its revocation, which the server reads from the table within its
// key refresh interval (1 s here), as `set-roles` (test/attacks/flows.attacks.test.ts).
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { eventually } from '../scale/cluster.js'
import {
  expectError,
  expectUnauthorized,
  uniqueName,
  useServer,
  type E2EServer,
} from '../helpers/server-harness.js'

const PASSWORD = 'a long enough first password'
const NEW_PASSWORD = 'the second password is longer still'

const server = useServer({ keyRefreshInterval: 1 })

function lastAudit(target: E2EServer, userId: number): { event: string; detail: Record<string, unknown> } {
  const db = new Database(join(target.dir, 'tessera.db'), { readonly: true })
  try {
    const row = db
      .prepare('select event, detail from audit_events where user_id = ? order by id desc limit 1')
      .get(userId) as { event: string; detail: string | null }
    return { event: row.event, detail: JSON.parse(row.detail ?? '{}') as Record<string, unknown> }
  } finally {
    db.close()
  }
}

/** The token is refused with `code` within the server's key refresh interval. */
async function refusedSoon(target: E2EServer, access: string, code = 'token_revoked'): Promise<void> {
  const refused = async (): Promise<boolean> =>
    (await target.api('GET', '/auth/me', { token: access })).status === 401
  expect(await eventually(refused, 10_000, 100)).toBe(true)
  expectUnauthorized(await target.api('GET', '/auth/me', { token: access }), code)
}

describe('tessera users set-password', () => {
  it('sets a new password and ends every session: the old password and tokens stop working', async () => {
    const name = uniqueName('cli-reset')
    await server.createUserWithCli(name, PASSWORD, false)
    const before = await server.login(name, PASSWORD)
    const run = await server.cli(['users', 'set-password', name], { TESSERA_PASSWORD: NEW_PASSWORD })
    expect(run.code, run.output).toBe(0)
    expect(run.output).toContain(
      `${name}: password set; every token of the user is revoked (1 session(s) ended)`,
    )
    await refusedSoon(server, before.access)
    expectUnauthorized(await server.refresh(before.refresh))
    expectError(
      await server.api('POST', '/auth/login', { body: { username: name, password: PASSWORD } }),
      401,
      'invalid_credentials',
    )
    const after = await server.login(name, NEW_PASSWORD)
    expect((await server.api('GET', '/auth/me', { token: after.access })).status).toBe(200)
  })

  it('audits the change as password_changed by the CLI', async () => {
    const name = uniqueName('cli-reset-audit')
    await server.createUserWithCli(name, PASSWORD, false)
    const { userId } = await server.login(name, PASSWORD)
    const run = await server.cli(['users', 'set-password', name], { TESSERA_PASSWORD: NEW_PASSWORD })
    expect(run.code, run.output).toBe(0)
    expect(lastAudit(server, userId)).toEqual({
      event: 'password_changed',
      detail: { sessions_revoked: 1, by: 'cli' },
    })
  })

  it('refuses a weak password or an unknown user, changing nothing', async () => {
    const name = uniqueName('cli-reset-weak')
    await server.createUserWithCli(name, PASSWORD, false)
    const session = await server.login(name, PASSWORD)
    const weak = await server.cli(['users', 'set-password', name], { TESSERA_PASSWORD: 'password1' })
    expect(weak.code, weak.output).toBe(1)
    expect(weak.output).toMatch(/weak_password/)
    const unknown = await server.cli(['users', 'set-password', uniqueName('nobody')], {
      TESSERA_PASSWORD: NEW_PASSWORD,
    })
    expect(unknown.code, unknown.output).toBe(1)
    expect(unknown.output).toMatch(/no user ".*": nothing was changed/)
    const noPassword = await server.cli(['users', 'set-password', name], { TESSERA_PASSWORD: '' })
    expect(noPassword.code).toBe(2)
    expect(noPassword.output).toMatch(/no password: set TESSERA_PASSWORD/)
    expect((await server.api('GET', '/auth/me', { token: session.access })).status).toBe(200)
    expect((await server.login(name, PASSWORD)).access).toBeTruthy()
  })
})

describe('tessera users disable, enable, delete', () => {
  it('disable refuses logins and ends the tokens; enable lets the user log in again, without old tokens', async () => {
    const name = uniqueName('cli-disable')
    await server.createUserWithCli(name, PASSWORD, false)
    const before = await server.login(name, PASSWORD)
    const run = await server.cli(['users', 'disable', name, '--yes'])
    expect(run.code, run.output).toBe(0)
    expect(run.output).toContain(`${name}: disabled (logins refused); every token of the user is revoked`)
    expect(lastAudit(server, before.userId)).toMatchObject({
      event: 'user_updated',
      detail: { disabled: true, tokens_revoked: true, by: 'cli' },
    })
    await refusedSoon(server, before.access)
    expectError(
      await server.api('POST', '/auth/login', { body: { username: name, password: PASSWORD } }),
      403,
      'account_disabled',
    )
    const again = await server.cli(['users', 'disable', name, '--yes'])
    expect(again.code).toBe(0)
    expect(again.output).toContain(`${name} is already disabled: nothing was changed`)

    const enabled = await server.cli(['users', 'enable', name])
    expect(enabled.code, enabled.output).toBe(0)
    expect(enabled.output).toContain(`${name}: enabled (may log in again)`)
    const after = await server.login(name, PASSWORD)
    expect((await server.api('GET', '/auth/me', { token: after.access })).status).toBe(200)
    expectUnauthorized(await server.api('GET', '/auth/me', { token: before.access }), 'token_revoked')
  })

  it('delete removes the user and ends their tokens; the name is free again', async () => {
    const name = uniqueName('cli-delete')
    await server.createUserWithCli(name, PASSWORD, false)
    const before = await server.login(name, PASSWORD)
    const run = await server.cli(['users', 'delete', name, '--yes'])
    expect(run.code, run.output).toBe(0)
    expect(run.output).toContain(
      `${name} (id ${String(before.userId)}): deleted; every token of the user is revoked`,
    )
    await refusedSoon(server, before.access)
    expectUnauthorized(await server.refresh(before.refresh))
    expect((await server.cli(['users', 'list'])).output).not.toContain(` ${name} `)
    expect(lastAudit(server, before.userId)).toEqual({ event: 'user_deleted', detail: { by: 'cli' } })
    const gone = await server.cli(['users', 'delete', name, '--yes'])
    expect(gone.code).toBe(1)
    expect(gone.output).toMatch(/no user ".*": nothing was changed/)
    await server.createUserWithCli(name, PASSWORD, false)
  })
})

describe('the last admin', () => {
  const alone = useServer()

  it('may be disabled from the CLI (how an operator mends administration), which warns', async () => {
    const name = uniqueName('cli-only-admin')
    await alone.createUserWithCli(name, PASSWORD, true)
    const run = await alone.cli(['users', 'disable', name, '--yes'])
    expect(run.code, run.output).toBe(0)
    expect(run.output).toMatch(/warning: no enabled admin is left/)
    const enabled = await alone.cli(['users', 'enable', name])
    expect(enabled.code).toBe(0)
    expect(enabled.output).not.toMatch(/warning/)
  })
})
