// The auth server on PostgreSQL (TESSERA_DATABASE_URL=postgres://…): register, log in, refresh, log out,
// and a restart keeps users, keys and revocations.
import { createHmac, randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type RunningServer } from '../../packages/server/src/server/app.js'
import { sessionStore } from '../../packages/server/src/stores/sql/sessions.js'
import { userStore } from '../../packages/server/src/stores/sql/users.js'
import {
  createTestDatabase,
  postgresReachable,
  untilLockAwaited,
  type TestDatabase,
} from '../helpers/postgres.js'
import { serviceAvailable } from '../helpers/services.js'
import {
  E2EClient,
  E2EServer,
  PASSWORD,
  baseConfig,
  checkAfterEach,
  claimsOf,
  expectError,
  expectUnauthorized,
  sleep,
  uniqueName,
} from '../helpers/server-harness.js'

const available = serviceAvailable('PostgreSQL', await postgresReachable())

describe.skipIf(!available)('the server on PostgreSQL', () => {
  let database: TestDatabase
  // The database URL is filled in once the database exists.
  const server = new E2EServer({ databasePoolSize: 3 })
  checkAfterEach(server)

  beforeAll(async () => {
    database = await createTestDatabase('e2e')
    Object.assign(server.overrides, { databaseUrl: database.url })
    await server.start()
  })
  afterAll(async () => {
    await server.dispose()
    await database.drop()
  })

  it('registers, logs in, refreshes and logs out', async () => {
    const name = uniqueName('pg')
    const registered = await server.register(name)
    expect((await server.me(registered.access)).body.username).toBe(name)
    const login = await server.login(name)
    const refreshed = await server.refresh(login.refresh)
    expect(refreshed.status).toBe(200)
    const access = refreshed.body.access_token ?? ''
    expect((await server.me(access)).status).toBe(200)
    expect((await server.api('POST', '/auth/logout', { token: access })).status).toBe(204)
    expectUnauthorized(await server.me(access), 'token_revoked')
    expectUnauthorized(await server.refresh(refreshed.body.refresh_token ?? ''))
    const ready = await server.api('GET', '/readyz')
    expect(ready.body).toMatchObject({ status: 'ready', checks: { database: 'ok' } })
  })

  it('keeps users, signing keys and revocations across a restart', async () => {
    const name = uniqueName('pg-restart')
    const tokens = await server.register(name)
    const revoked = await server.login(name)
    expect((await server.api('POST', '/auth/logout', { token: revoked.access })).status).toBe(204)
    await server.restart()
    expect((await server.me(tokens.access)).status).toBe(200)
    expectUnauthorized(await server.me(revoked.access), 'token_revoked')
    expect((await server.login(name)).userId).toBe(tokens.userId)
  })

  // READ COMMITTED: a plain read would not wait for an admin's transaction that changed the user but
  // has not committed yet; the login then issued the old roles, in a session the change never saw.
  // The login reads the user under a share lock: it waits for the change and issues what it left.
  it.each([
    ['demoted', 200],
    ['deleted', 401],
  ] as const)(
    'waits for a change of the user still in flight when its session opens: %s',
    async (change, status) => {
      const name = uniqueName(`pg-${change}-mid-login`)
      const user = await server.register(name)
      const { db } = server.running.context
      await userStore(db).update(user.userId, { roles: ['admin'] })
      let login: Promise<Awaited<ReturnType<typeof server.api>>> | undefined
      await db.transaction().execute(async (trx) => {
        if (change === 'demoted') await userStore(trx).update(user.userId, { roles: [] })
        else await userStore(trx).delete(user.userId)
        login = server.api('POST', '/auth/login', { body: { username: name, password: PASSWORD } })
        // The login's password check and its transaction's read happen while this one is open.
        await sleep(1_000)
      })
      const res = await login!
      if (status === 401) {
        expectError(res, 401, 'invalid_credentials')
        return
      }
      expect(res.status, res.text).toBe(200)
      expect(claimsOf(String(res.body.access_token)).roles).toEqual([])
    },
  )
})

describe.skipIf(!available)('the last enabled admin on PostgreSQL', () => {
  let database: TestDatabase
  const server = new E2EServer({ databasePoolSize: 3 })
  checkAfterEach(server)

  beforeAll(async () => {
    database = await createTestDatabase('e2e_admins')
    Object.assign(server.overrides, { databaseUrl: database.url })
    await server.start()
  })
  afterAll(async () => {
    await server.dispose()
    await database.drop()
  })

  // READ COMMITTED: two transactions each demoting one of two admins would each see the other admin
  // still there and both commit, leaving none. The count waits for the other change's lock.
  it('refuses the second of two demotions in flight at once: one admin is left', async () => {
    const { db } = server.running.context
    const first = await server.register(uniqueName('pg-admin-a'))
    const second = await server.register(uniqueName('pg-admin-b'))
    for (const id of [first.userId, second.userId]) await userStore(db).update(id, { roles: ['admin'] })
    const token = (await server.login(String(first.body.user?.username))).access
    let patch: Promise<Awaited<ReturnType<typeof server.api>>> | undefined
    await db.transaction().execute(async (trx) => {
      await userStore(trx).update(first.userId, { roles: [] })
      expect(await userStore(trx).countAdminsLocked()).toBe(1)
      patch = server.api('PATCH', `/users/${second.userId}`, { token, body: { roles: [] } })
      // The request's transaction demotes the second admin and waits here for the count's lock.
      await untilLockAwaited(db, sql`locktype = 'advisory'`, 'the demotion')
    })
    expectError(await patch!, 409, 'last_admin')
    expect((await userStore(db).get(second.userId))?.roles).toEqual(['admin'])
  })
})

describe.skipIf(!available)('instances starting at once on an empty PostgreSQL database', () => {
  // Each instance found no key and made its own, the last one stored signing: for one refresh interval
  // the others signed with keys their peers did not know, and published different key sets.
  it('agree on one signing key: a token issued by one is accepted by the others at once', async () => {
    const database = await createTestDatabase('start')
    const dir = await mkdtemp(join(tmpdir(), 'tessera-start-'))
    const servers: RunningServer[] = []
    try {
      const config = {
        ...baseConfig(dir),
        databaseUrl: database.url,
        databasePoolSize: 2,
        keyRefreshInterval: 3600,
      }
      const started = await Promise.allSettled([1, 2, 3].map(() => startServer(config)))
      for (const s of started) if (s.status === 'fulfilled') servers.push(s.value)
      expect(started.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled'])
      await Promise.all(servers.map((s) => s.ready))
      const clients = servers.map((s) => new E2EClient(s.url))
      const sets = await Promise.all(clients.map((c) => c.api('GET', '/.well-known/jwks.json')))
      const kids = sets.map((res) => (res.body.keys as { kid: string }[]).map((k) => k.kid))
      expect(kids[0]).toHaveLength(1)
      expect(kids).toEqual([kids[0], kids[0], kids[0]])
      const [a, b, c] = clients as [E2EClient, E2EClient, E2EClient]
      const tokens = await a.register(uniqueName('pg-start'))
      for (const other of [b, c]) expect((await other.me(tokens.access)).status).toBe(200)
    } finally {
      await Promise.allSettled(servers.map((s) => s.close()))
      await rm(dir, { recursive: true, force: true })
      await database.drop()
    }
  })
})

describe.skipIf(!available)("a previous system's refresh token on PostgreSQL", () => {
  const SECRET = 'a-flask-jwt-secret-key-of-32-bytes!'
  let database: TestDatabase
  const server = new E2EServer({ databasePoolSize: 4, refreshGraceSeconds: 10 })
  checkAfterEach(server)

  beforeAll(async () => {
    database = await createTestDatabase('legacy')
    const legacyUntil = Math.floor(Date.now() / 1000) + 86_400
    Object.assign(server.overrides, { databaseUrl: database.url, legacyHsSecret: SECRET, legacyUntil })
    await server.start()
  })
  afterAll(async () => {
    await server.dispose()
    await database.drop()
  })

  /** A flask-jwt-extended refresh token of `identity`, signed with the legacy secret. */
  function flaskRefresh(identity: string, jti: string, fraction = 0): string {
    const now = Math.floor(Date.now() / 1000) - 60 + fraction
    const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url')
    const body = { fresh: false, iat: now, jti, type: 'refresh', sub: identity, nbf: now, exp: now + 86_400 }
    const input = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(body)}`
    return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`
  }

  // READ COMMITTED: each statement sees what committed before it began. The exchange read the jti's
  // record, then its revocation: an exchange of the same token (another tab, another instance)
  // committing between the two showed its revocation without its record, and the second tab was told
  // `token_revoked` ("revoked by the previous system") instead of the session's pair. Here the other
  // exchange commits while the lock on `revocations` holds this one between its reads.
  it('exchanges a token whose times carry fractions of a second (the columns hold whole seconds)', async () => {
    const name = uniqueName('pg-fraction')
    const { userId } = await server.register(name)
    await server.running.context.db
      .insertInto('legacy_identities')
      .values({ identity: name, user_id: userId, imported_at: 0 })
      .execute()
    const res = await server.refresh(flaskRefresh(name, randomUUID(), 0.5))
    expect(res.status, res.text).toBe(200)
  })

  it('a concurrent exchange committing mid-check gives the second presentation the same session', async () => {
    const name = uniqueName('pg-flask')
    const { userId } = await server.register(name)
    const { db } = server.running.context
    await db
      .insertInto('legacy_identities')
      .values({ identity: name, user_id: userId, imported_at: 0 })
      .execute()
    const jti = randomUUID()
    const token = flaskRefresh(name, jti)
    let presented: Promise<Awaited<ReturnType<typeof server.api>>> | undefined
    const first = { id: randomUUID(), jti: randomUUID() }
    await db.transaction().execute(async (trx) => {
      await sql`lock table revocations in access exclusive mode`.execute(trx)
      presented = server.refresh(token)
      // The presentation waits on the lock, between its reads.
      await untilLockAwaited(db, sql`relation = 'revocations'::regclass`, 'the presentation')
      // What the other exchange commits (legacy-exchange.ts): its session, rotated from the old jti;
      // its record; the old jti's revocation.
      const now = Math.floor(Date.now() / 1000)
      await sessionStore(trx).create({ ...first, userId, expiresAt: now + 3_600, predecessorJti: jti })
      await trx
        .insertInto('legacy_exchanges')
        .values({ jti, user_id: userId, session_id: first.id, exchanged_at: now, expires_at: now + 86_400 })
        .execute()
      await trx
        .insertInto('revocations')
        .values({ kind: 'token', id: jti, before: null, expires_at: now + 86_400 })
        .execute()
    })
    const res = await presented!
    expect(res.status, res.text).toBe(200)
    expect(res.body.session_id).toBe(first.id)
    expect(claimsOf(String(res.body.refresh_token)).jti).toBe(first.jti)
  })

  // The exchange opens its session in a transaction of its own: a password change committing while it
  // runs neither saw that session (uncommitted, so not ended) nor was seen by it (its check of the
  // user's legacy tokens came first), and a stolen old token minted a live session past the change.
  // Here the exchange is held before its record is written, after its checks and its session.
  it.each([
    ['a password change', '/auth/password'],
    ['a logout everywhere', '/auth/logout-all'],
  ])('%s committing while an old token is exchanged leaves that session dead', async (_, path) => {
    const name = uniqueName('pg-flask-pw')
    const owner = await server.register(name)
    const { db } = server.running.context
    await db
      .insertInto('legacy_identities')
      .values({ identity: name, user_id: owner.userId, imported_at: 0 })
      .execute()
    const token = flaskRefresh(name, randomUUID())
    let exchanged: Promise<Awaited<ReturnType<typeof server.api>>> | undefined
    let changed: Promise<Awaited<ReturnType<typeof server.api>>> | undefined
    await db.transaction().execute(async (trx) => {
      // SHARE: the exchange's reads of legacy_exchanges pass, its insert waits.
      await sql`lock table legacy_exchanges in share mode`.execute(trx)
      exchanged = server.refresh(token)
      await untilLockAwaited(db, sql`relation = 'legacy_exchanges'::regclass`, 'the exchange')
      changed = server.api('POST', path, {
        token: owner.access,
        ...(path === '/auth/password'
          ? { body: { current_password: PASSWORD, new_password: 'a brand new password for pg' } }
          : {}),
      })
      // The change either completes, or waits for the exchange (a lock on the user).
      let settled = false
      void changed.then(() => (settled = true))
      for (let waited = 0; !settled; waited += 20) {
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from pg_locks where not granted and locktype = 'transactionid'`.execute(
          db,
        )
        if (rows[0]!.n > 0) break
        expect(waited, 'the password change neither ended nor waited').toBeLessThan(10_000)
        await sleep(20)
      }
    })
    const [res, change] = await Promise.all([exchanged!, changed!])
    expect(change.status, change.text).toBe(204)
    if (res.status === 200) {
      const pair = { access: String(res.body.access_token), refresh: String(res.body.refresh_token) }
      expectUnauthorized(await server.me(pair.access), 'token_revoked')
      expectUnauthorized(await server.refresh(pair.refresh))
    } else {
      expectUnauthorized(res, 'token_revoked')
    }
    if (path === '/auth/password') expect((await server.me(owner.access)).status).toBe(200)
  })
})
