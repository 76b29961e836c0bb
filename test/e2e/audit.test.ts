// The audit log: every security event of an e2e run lands in `audit_events` (in the transaction of its
// change) and `GET /audit` (admin only) returns them newest first, paginated, with the subject, the
// actor, the client's IP and user agent, and never a password or a token.
import { beforeAll, describe, expect, it } from 'vitest'
import {
  PASSWORD,
  expectError,
  uniqueName,
  useServer,
  type ApiResponse,
  type Tokens,
} from '../helpers/server-harness.js'
import { ROUTINE_AUDIT_EVENTS } from '../../packages/server/src/stores/sql/audit.js'

const ADMIN = 'auditor'
const ADMIN_PASSWORD = 'auditor password for e2e'
const server = useServer()
let admin: Tokens

interface EventBody {
  id: number
  at: string
  type: string
  user_id: number | null
  actor_id: number | null
  ip: string | null
  user_agent: string | null
  detail: Record<string, unknown> | null
}

const audit = async (query: string): Promise<ApiResponse> =>
  server.api('GET', `/audit${query}`, { token: admin.access })
const eventsOf = (res: ApiResponse): EventBody[] => res.body.events as EventBody[]

beforeAll(async () => {
  await server.createUserWithCli(ADMIN, ADMIN_PASSWORD)
  admin = await server.login(ADMIN, ADMIN_PASSWORD, { headers: { 'user-agent': 'admin-console/2' } })
})

describe('GET /audit after a full run', () => {
  const name = uniqueName('audited')
  const agent = { 'user-agent': 'audit-e2e/1.0' }
  const secrets: string[] = [PASSWORD]
  let userId: number
  let since: number

  beforeAll(async () => {
    since = Math.floor(Date.now() / 1000) - 1
    const opt = { headers: agent }
    const registered = await server.register(name, PASSWORD, opt)
    userId = registered.userId
    const wrong = await server.api('POST', '/auth/login', {
      body: { username: name, password: 'not the password' },
      headers: agent,
    })
    expect(wrong.status).toBe(401)
    const login = await server.login(name, PASSWORD, opt)
    const refreshed = await server.api('POST', '/auth/refresh', { token: login.refresh, headers: agent })
    expect(refreshed.status).toBe(200)
    // The spent refresh token again, after the grace window's successor was used: reuse.
    const next = refreshed.body.refresh_token as string
    expect((await server.api('POST', '/auth/refresh', { token: next, headers: agent })).status).toBe(200)
    expect((await server.api('POST', '/auth/refresh', { token: login.refresh, headers: agent })).status).toBe(
      401,
    )
    const second = await server.login(name, PASSWORD, opt)
    expect((await server.api('POST', '/auth/logout', { token: second.access, headers: agent })).status).toBe(
      204,
    )
    const third = await server.login(name, PASSWORD, opt)
    const fourth = await server.login(name, PASSWORD, opt)
    const changed = await server.api('POST', '/auth/password', {
      token: third.access,
      headers: agent,
      body: { current_password: PASSWORD, new_password: 'a brand new passphrase' },
    })
    expect(changed.status).toBe(204)
    const fifth = await server.login(name, 'a brand new passphrase', opt)
    const ended = await server.api('DELETE', `/auth/sessions/${fifth.sessionId}`, {
      token: third.access,
      headers: agent,
    })
    expect(ended.status).toBe(204)
    expect(
      (await server.api('POST', '/auth/logout-all', { token: third.access, headers: agent })).status,
    ).toBe(204)
    const patched = await server.api('PATCH', `/users/${userId}`, {
      token: admin.access,
      headers: { 'user-agent': 'admin-console/2' },
      body: { roles: ['editor'] },
    })
    expect(patched.status).toBe(200)
    const rotated = await server.cli(['keys', 'rotate', '--now'])
    expect(rotated.code, rotated.output).toBe(0)
    const deleted = await server.api('DELETE', `/users/${userId}`, {
      token: admin.access,
      headers: { 'user-agent': 'admin-console/2' },
    })
    expect(deleted.status).toBe(204)
    for (const t of [registered, login, second, third, fourth, fifth]) secrets.push(t.access, t.refresh)
    secrets.push(next, 'a brand new passphrase')
  })

  it('returns the user’s events in order, with subject, actor, IP and user agent', async () => {
    const res = await audit(`?user=${userId}`)
    expect(res.status, res.text).toBe(200)
    const events = eventsOf(res).reverse()
    expect(events.map((e) => e.type)).toEqual([
      'register',
      'login_failed',
      'login',
      'refresh',
      'refresh',
      'refresh_reuse_detected',
      'login',
      'logout',
      'login',
      'login',
      'password_changed',
      'login',
      'session_revoked',
      'logout_all',
      'user_updated',
      'user_deleted',
    ])
    const ids = events.map((e) => e.id)
    expect([...ids].sort((a, b) => a - b)).toEqual(ids)
    for (const e of events) {
      expect(e.user_id).toBe(userId)
      expect(e.ip).toBe('127.0.0.1')
      expect(Date.parse(e.at) / 1000).toBeGreaterThanOrEqual(since)
    }
    const own = events.filter((e) => !e.type.startsWith('user_'))
    expect(new Set(own.map((e) => e.user_agent))).toEqual(new Set(['audit-e2e/1.0']))
    expect(new Set(own.map((e) => e.actor_id))).toEqual(new Set([null]))
    const byAdmin = events.filter((e) => e.type.startsWith('user_'))
    expect(byAdmin.map((e) => [e.actor_id, e.user_agent])).toEqual([
      [admin.userId, 'admin-console/2'],
      [admin.userId, 'admin-console/2'],
    ])
    expect(events.find((e) => e.type === 'login_failed')?.detail).toEqual({ reason: 'wrong_password' })
    // The routine events (kept TESSERA_AUDIT_ROUTINE_RETENTION) are types the server writes.
    for (const routine of ROUTINE_AUDIT_EVENTS) expect(events.map((e) => e.type)).toContain(routine)
    expect(events.find((e) => e.type === 'user_updated')?.detail).toMatchObject({
      roles: ['editor'],
      tokens_revoked: false,
    })
  })

  it('never returns a password or a token', async () => {
    const res = await audit('?limit=500')
    for (const secret of secrets) expect(res.text.includes(secret), 'a secret in the audit log').toBe(false)
    // No fragment either: the signature part of a token is the secret part.
    for (const secret of secrets.filter((s) => s.includes('.'))) {
      expect(res.text.includes(secret.split('.')[2]!)).toBe(false)
    }
  })

  it('records the CLI key rotation, with no actor', async () => {
    const [rotation] = eventsOf(await audit('?type=key_rotated'))
    expect(rotation).toMatchObject({ type: 'key_rotated', user_id: null, actor_id: null, ip: null })
    expect(typeof rotation?.detail?.kid).toBe('string')
  })

  it('filters by type and since, and pages with before without gaps or repeats', async () => {
    const logins = eventsOf(await audit(`?user=${userId}&type=login`))
    expect(logins).toHaveLength(5)
    expect(eventsOf(await audit(`?user=${userId}&since=${Math.floor(Date.now() / 1000) + 60}`))).toEqual([])
    const iso = new Date(since * 1000).toISOString()
    expect(eventsOf(await audit(`?user=${userId}&since=${encodeURIComponent(iso)}`))).toHaveLength(16)

    const all = eventsOf(await audit(`?user=${userId}`)).map((e) => e.id)
    const paged: number[] = []
    let cursor = ''
    for (let page = 0; page < 20; page++) {
      const res = await audit(`?user=${userId}&limit=5${cursor}`)
      paged.push(...eventsOf(res).map((e) => e.id))
      if (res.body.next_before === null) break
      cursor = `&before=${res.body.next_before as number}`
    }
    expect(paged).toEqual(all)
  })

  it('is for admins only, and refuses bad filters with 400', async () => {
    const user = await server.register(uniqueName('nosy'))
    expectError(await server.api('GET', '/audit', { token: user.access }), 403, 'forbidden')
    expect((await server.api('GET', '/audit')).status).toBe(401)
    expectError(await audit('?since=yesterday'), 400, 'validation_error')
    expectError(await audit('?user=abc'), 400, 'validation_error')
    expectError(await audit('?password=x'), 400, 'validation_error')
  })

  it('takes a limit from 1 to 500, as documented, and refuses 0 and 501 with 400', async () => {
    expect((await audit('?limit=1')).status).toBe(200)
    expect((await audit('?limit=500')).status).toBe(200)
    expectError(await audit('?limit=0'), 400, 'validation_error')
    expectError(await audit('?limit=501'), 400, 'validation_error')
    expectError(await audit('?limit=999'), 400, 'validation_error')
  })
})
