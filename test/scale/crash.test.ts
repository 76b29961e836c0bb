// `kill -9` of a served instance under a registration/login/refresh/logout load, then a restart on the
// same PostgreSQL: every user that got a 201 exists exactly once, every refresh chain continues from
// its last acknowledged token (no half-rotated session), and every acknowledged logout still holds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../packages/server/src/stores/sql/database.js'
import { PASSWORD, expectUnauthorized, sleep, type E2EClient } from '../helpers/server-harness.js'
import { createTestDatabase, postgresReachable, type TestDatabase } from '../helpers/postgres.js'
import { freePort } from '../helpers/processes.js'
import { REDIS_URL, clearRedisPrefix, redisReachable } from '../helpers/redis.js'
import { serviceAvailable } from '../helpers/services.js'
import { bundleCli, type BundledCli } from '../helpers/bundled-cli.js'
import { serve } from './served.js'

const available =
  serviceAvailable('PostgreSQL', await postgresReachable()) &&
  serviceAvailable('Redis', await redisReachable())

describe.skipIf(!available)('kill -9 under load', { timeout: 120_000 }, () => {
  let cli: BundledCli
  let database: TestDatabase
  let env: Record<string, string>

  beforeAll(async () => {
    cli = await bundleCli()
    database = await createTestDatabase('crash')
    env = {
      TESSERA_DATABASE_URL: database.url,
      TESSERA_REDIS_URL: REDIS_URL,
      TESSERA_REDIS_PREFIX: `tessera-test:crash-${process.pid}:`,
      TESSERA_REGISTER_RATE_PER_IP: '100000',
      TESSERA_REFRESH_RATE_PER_SESSION: '100000',
      TESSERA_LOGIN_RATE_PER_IP: '100000',
      TESSERA_LOGIN_RATE_PER_ACCOUNT: '100000',
      // The second server is stopped with SIGTERM at the end: no need to keep serving for 5 s first.
      TESSERA_SHUTDOWN_DELAY: '0s',
    }
  })
  afterAll(async () => {
    await database.drop()
    await cli.remove()
    await clearRedisPrefix(env.TESSERA_REDIS_PREFIX ?? '')
  })

  it('loses no acknowledged registration, rotation or revocation', async () => {
    const port = await freePort()
    const first = await serve(cli, port, env)
    const registered = new Set<string>()
    /** Per chain: the last refresh token whose rotation was acknowledged. */
    const chains: string[] = []
    /** Access tokens whose logout was acknowledged with 204. */
    const loggedOut: string[] = []
    /** Chains whose logout-all was sent: without its answer it may or may not have committed. */
    const logoutSent = new Set<number>()
    let stop = false
    const running = (): boolean => !stop

    // Each worker registers a user, then refreshes and logs out sessions in a loop until the kill.
    const worker = async (w: number, client: E2EClient): Promise<void> => {
      for (let i = 0; running(); i++) {
        const username = `crash-${w}-${i}`
        const reg = await client
          .api('POST', '/auth/register', { body: { username, password: PASSWORD } })
          .catch(() => undefined)
        if (reg?.status !== 201) continue
        registered.add(username)
        const chain = chains.push(reg.body.refresh_token ?? '') - 1
        for (let r = 0; r < 3 && running(); r++) {
          const res = await client
            .api('POST', '/auth/refresh', { token: chains[chain] })
            .catch(() => undefined)
          if (res?.status === 200) chains[chain] = res.body.refresh_token ?? ''
        }
        // Every other user logs out everywhere; the others' refresh chains must survive the crash.
        if (i % 2 === 1) continue
        const access = reg.body.access_token ?? ''
        logoutSent.add(chain)
        const out = await client.api('POST', '/auth/logout-all', { token: access }).catch(() => undefined)
        if (out?.status === 204) loggedOut.push(access)
      }
    }
    const workers = [0, 1, 2, 3].map((w) => worker(w, first.client))
    // At least 2.5 s of load and four acknowledged registrations (argon2id runs in low-priority
    // threads: on a loaded machine 2.5 s alone may acknowledge none), at most 60 s.
    const loadStart = Date.now()
    while ((Date.now() - loadStart < 2_500 || registered.size <= 3) && Date.now() - loadStart < 60_000) {
      await sleep(100)
    }
    first.child.kill('SIGKILL')
    stop = true
    await Promise.all(workers)
    await first.exit
    // The problems the client saw were the connection resets of the kill, never a 5xx.
    expect(first.client.problems).toEqual([])
    expect(registered.size).toBeGreaterThan(3)

    const second = await serve(cli, port, env)
    try {
      const db = await openDatabase({ url: database.url, poolSize: 1 })
      const rows = await db.selectFrom('users').select('username_normalized').execute()
      await db.destroy()
      const counts = new Map<string, number>()
      for (const row of rows)
        counts.set(row.username_normalized, (counts.get(row.username_normalized) ?? 0) + 1)
      for (const username of registered) expect(counts.get(username), username).toBe(1)

      // logout-all revoked the chain's session too: only chains whose logout was not acknowledged
      // must continue. Their last acknowledged refresh token rotates (or, if a later rotation committed
      // without its answer, yields that same successor within the grace window).
      for (const access of loggedOut) {
        expectUnauthorized(await second.client.api('GET', '/secret', { token: access }), 'token_revoked')
      }
      const revokedUsers = new Set(
        loggedOut.map((t) => (JSON.parse(atob(t.split('.')[1] ?? '')) as { sub: string }).sub),
      )
      let continued = 0
      for (const [index, refresh] of chains.entries()) {
        const sub = (JSON.parse(atob(refresh.split('.')[1] ?? '')) as { sub: string }).sub
        const res = await second.client.refresh(refresh)
        if (revokedUsers.has(sub)) expect(res.status).toBe(401)
        else if (logoutSent.has(index)) {
          // A logout-all cut off by the kill may have committed (401) or not (200); nothing else.
          expect([200, 401], res.text).toContain(res.status)
          if (res.status === 200) continued++
        } else {
          expect(res.status, res.text).toBe(200)
          continued++
        }
      }
      console.log(
        `kill -9 under load: ${registered.size} registrations acknowledged, ${chains.length} refresh chains ` +
          `(${continued} continued after restart), ${loggedOut.length} acknowledged logouts still refused`,
      )
      expect(second.client.problems).toEqual([])
    } finally {
      second.child.kill('SIGTERM')
      await second.exit
    }
  })
})
