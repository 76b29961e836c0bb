// The auth server on PostgreSQL (TESSERA_DATABASE_URL=postgres://…): register, log in, refresh, log out,
// and a restart keeps users, keys and revocations.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { userStore } from '../../packages/server/src/stores/sql/users.js'
import { createTestDatabase, postgresReachable, type TestDatabase } from '../helpers/postgres.js'
import { serviceAvailable } from '../helpers/services.js'
import {
  E2EServer,
  PASSWORD,
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
