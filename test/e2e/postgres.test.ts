// The auth server on PostgreSQL (TESSERA_DATABASE_URL=postgres://…): register, log in, refresh, log out,
// and a restart keeps users, keys and revocations.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, postgresReachable, type TestDatabase } from '../helpers/postgres.js'
import { serviceAvailable } from '../helpers/services.js'
import { E2EServer, checkAfterEach, expectUnauthorized, uniqueName } from '../helpers/server-harness.js'

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
})
