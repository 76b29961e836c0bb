// GET /users over HTTP on SQLite and PostgreSQL: keyset pages with `after` and `next_after` beside the
// `page`/`per_page` pages existing clients read, bad cursors refused with 400, the page size bounds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { userStore } from '../../packages/server/src/stores/sql/users.js'
import { createTestDatabase, postgresReachable, type TestDatabase } from '../helpers/postgres.js'
import { serviceAvailable } from '../helpers/services.js'
import {
  E2EServer,
  checkAfterEach,
  expectError,
  uniqueName,
  type ApiResponse,
} from '../helpers/server-harness.js'

const available = serviceAvailable('PostgreSQL', await postgresReachable())

function userListTests(server: E2EServer): void {
  let token: string

  const users = () => userStore(server.running.context.db)
  const list = (query: string): Promise<ApiResponse> => server.api('GET', `/users?${query}`, { token })
  const ids = (res: ApiResponse): number[] => (res.body.users ?? []).map((u) => u.id)
  /** Creates users straight in the store (no password hashing): many, quickly. */
  async function createUsers(count: number): Promise<number[]> {
    const created: number[] = []
    for (let i = 0; i < count; i++) {
      const name = uniqueName('listed')
      const result = await users().create({ username: name, usernameNormalized: name, passwordHash: '$h' })
      if (!result.ok) throw new Error(`could not create ${name}`)
      created.push(result.user.id)
    }
    return created
  }
  /** Every user id, from the store. */
  async function allIds(): Promise<number[]> {
    return (await users().list({ limit: 500, count: false })).users.map((u) => u.id)
  }

  beforeAll(async () => {
    const admin = await server.register(uniqueName('list-admin'))
    await users().update(admin.userId, { roles: ['admin'] })
    token = (await server.login(String(admin.body.user?.username))).access
    await createUsers(9)
  })

  it('walks every user exactly once with after, as users are created and deleted between pages', async () => {
    const before = await allIds()
    const first = await list('per_page=4')
    expect(first.status, first.text).toBe(200)
    expect(first.body).toMatchObject({ total: before.length, page: 1, per_page: 4 })
    expect(first.body.next_after).toBe(ids(first).at(-1))
    const seen = ids(first)
    // Between pages: a listed user and one still to come are deleted, and a user is created.
    const [listed, coming] = [seen[0]!, before.at(-2)!]
    for (const id of [listed, coming]) expect(await users().delete(id)).toBe(true)
    const [created] = await createUsers(1)
    for (let after = first.body.next_after ?? null; after !== null;) {
      const res = await list(`per_page=4&after=${String(after)}`)
      expect(res.status, res.text).toBe(200)
      expect(res.headers.get('cache-control')).toBe('no-store')
      // The count is the first page's: an `after` page does not scan the table again.
      expect(res.body).toMatchObject({ total: null, page: null, per_page: 4 })
      seen.push(...ids(res))
      after = res.body.next_after ?? null
    }
    expect(seen).toEqual([...before.filter((id) => id !== coming), created])
  })

  it('gives the page and per_page of existing clients as before, with the next page’s cursor', async () => {
    const second = await list('page=2&per_page=2')
    expect(second.status, second.text).toBe(200)
    expect(second.body).toMatchObject({ total: (await allIds()).length, page: 2, per_page: 2 })
    // Either way to the third page: by number, or after the second's last user.
    const third = await list('page=3&per_page=2')
    const after = await list(`per_page=2&after=${String(second.body.next_after)}`)
    expect(ids(after)).toEqual(ids(third))
    expect(ids(third)).toHaveLength(2)
  })

  it('answers next_after null on the last page, a full one included', async () => {
    const all = await allIds()
    const whole = await list(`per_page=${String(all.length)}`)
    expect(ids(whole)).toEqual(all)
    expect(whole.body.next_after).toBeNull()
    const last = await list(`per_page=2&after=${String(all.at(-3))}`)
    expect(ids(last)).toEqual(all.slice(-2))
    expect(last.body.next_after).toBeNull()
  })

  it('answers an after past every id with an empty last page (past PostgreSQL’s integer ids too)', async () => {
    for (const after of ['2147483648', '999999999999999']) {
      const res = await list(`after=${after}`)
      expect(res.status, res.text).toBe(200)
      expect(res.body).toMatchObject({ users: [], next_after: null, total: null })
    }
  })

  it('answers a user id past PostgreSQL’s integer ids as no such user: 404, an empty audit page, not a 500', async () => {
    for (const id of ['2147483648', '3000000000', '999999999999999']) {
      expectError(await server.api('GET', `/users/${id}`, { token }), 404, 'not_found')
      const patch = await server.api('PATCH', `/users/${id}`, { token, body: { disabled: true } })
      expectError(patch, 404, 'not_found')
      expectError(await server.api('DELETE', `/users/${id}`, { token }), 404, 'not_found')
      const audit = await server.api('GET', `/audit?user=${id}`, { token })
      expect(audit.status, audit.text).toBe(200)
      expect(audit.json).toEqual({ events: [], next_before: null })
      // Every event is before such an id: the same page as without the cursor.
      const before = await server.api('GET', `/audit?before=${id}&limit=5`, { token })
      const newest = await server.api('GET', '/audit?limit=5', { token })
      expect(before.status, before.text).toBe(200)
      expect(before.json).toEqual(newest.json)
    }
    // The largest id PostgreSQL holds is still asked for: no such user, 404 from the database's answer.
    expectError(await server.api('GET', '/users/2147483647', { token }), 404, 'not_found')
  })

  it('keeps the audit cursor past 2^31 − 1: audit ids are bigint on PostgreSQL (migration 0006)', async () => {
    // An audit log that has outgrown integer ids: the newest event's id is past 2^31 − 1.
    const db = server.running.context.db
    const at = Math.floor(Date.now() / 1000)
    for (const id of [3_000_000_000, 3_000_000_001])
      await db
        .insertInto('audit_events')
        .values({ id, at, event: 'login', user_id: null, detail: null })
        .execute()
    const newest = await server.api('GET', '/audit?limit=1', { token })
    expect(newest.status, newest.text).toBe(200)
    const page1 = newest.json as { events: { id: number }[]; next_before: number | null }
    expect(page1.events.map((e) => e.id)).toEqual([3_000_000_001])
    expect(page1.next_before).toBe(3_000_000_001)
    // The next page continues below the cursor: it is not the first page again (a walk that never ends).
    const next = await server.api('GET', `/audit?limit=1&before=${String(page1.next_before)}`, { token })
    expect(next.status, next.text).toBe(200)
    expect((next.json as { events: { id: number }[] }).events.map((e) => e.id)).toEqual([3_000_000_000])
    const below = await server.api('GET', '/audit?limit=1&before=3000000000', { token })
    const older = (below.json as { events: { id: number }[] }).events.map((e) => e.id)
    expect(older).toHaveLength(1)
    expect(older[0]).toBeLessThan(3_000_000_000)
  })

  it('refuses a bad since with a user id past PostgreSQL’s integer ids as with any other: 400', async () => {
    for (const user of ['5', '3000000000']) {
      const res = await server.api('GET', `/audit?user=${user}&since=2026-13-45`, { token })
      expect([user, res.status, res.body.error]).toEqual([user, 400, 'validation_error'])
    }
  })

  it('refuses page with after: 400 validation_error', async () => {
    for (const query of ['page=1&after=0', 'after=5&page=2&per_page=10']) {
      const res = await list(query)
      expectError(res, 400, 'validation_error')
      expect(res.body.message).toMatch(/\bpage\b.*\bafter\b/)
    }
  })

  it.each(['-1', '1.5', 'abc', '', '1e3', '0x10', ' 1', '1,2', '1234567890123456', '99999999999999999999'])(
    'refuses after=%s: 400 validation_error naming after',
    async (after) => {
      const res = await list(`after=${encodeURIComponent(after)}`)
      expectError(res, 400, 'validation_error')
      expect(res.body.message).toMatch(/\bafter\b/)
    },
  )

  it('refuses after given twice: 400 validation_error', async () => {
    expectError(await list('after=1&after=2'), 400, 'validation_error')
  })

  it('keeps the page size bounds: 1 to 999 taken, cut to 200; 0 and 1000 refused', async () => {
    await createUsers(200)
    for (const query of ['per_page=999', 'per_page=999&after=0']) {
      const res = await list(query)
      expect(res.status, res.text).toBe(200)
      expect(res.body.per_page).toBe(200)
      expect(res.body.users).toHaveLength(200)
      expect(res.body.next_after).toBe(ids(res).at(-1))
    }
    for (const query of ['per_page=0', 'per_page=1000', 'per_page=0&after=0', 'per_page=1000&after=0'])
      expectError(await list(query), 400, 'validation_error')
  })
}

describe('GET /users on SQLite', () => {
  const server = new E2EServer()
  checkAfterEach(server)
  beforeAll(server.start, 60_000)
  afterAll(server.dispose)
  userListTests(server)

  it('documents after and next_after in the OpenAPI document, total and page as nullable', async () => {
    const doc = (await server.api('GET', '/openapi.json')).json as {
      paths: Record<string, Record<string, OperationDoc>>
    }
    const operation = doc.paths['/users']?.get
    expect(operation?.parameters?.map((p) => p.name).sort()).toEqual(['after', 'page', 'per_page'])
    const body = operation?.responses['200']?.content?.['application/json']?.schema
    expect(body?.required).toEqual(
      expect.arrayContaining(['users', 'total', 'page', 'per_page', 'next_after']),
    )
    const nullableInteger = { anyOf: [{ type: 'integer' }, { type: 'null' }] }
    for (const field of ['total', 'page', 'next_after'])
      expect(body?.properties[field], field).toMatchObject(nullableInteger)
  })
})

interface OperationDoc {
  parameters?: { name: string }[]
  responses: Record<
    string,
    { content?: Record<string, { schema?: { required?: string[]; properties: Record<string, unknown> } }> }
  >
}

describe.skipIf(!available)('GET /users on PostgreSQL', () => {
  let database: TestDatabase | undefined
  const server = new E2EServer({ databasePoolSize: 3 })
  checkAfterEach(server)
  beforeAll(async () => {
    database = await createTestDatabase('h53_users')
    Object.assign(server.overrides, { databaseUrl: database.url })
    await server.start()
  }, 60_000)
  afterAll(async () => {
    await server.dispose()
    await database?.drop()
  })
  userListTests(server)
})
