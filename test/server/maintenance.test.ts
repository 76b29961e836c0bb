// The maintenance job over a real database (SQLite, and PostgreSQL when reachable): a pass deletes what
// has expired (revocations, sessions and audit events past their retention), in batches, keeps every
// live row, sweeps the replica, counts rows for the gauges; two instances purging at once are harmless.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Kysely, KyselyPlugin } from 'kysely'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { memoryRevocationStore } from '../../packages/tessera/src/index.js'
import { openDatabase } from '../../packages/server/src/stores/sql/database.js'
import { migrateToLatest } from '../../packages/server/src/stores/sql/migrations/index.js'
import type { TesseraDatabase } from '../../packages/server/src/stores/sql/schema.js'
import { sqlStores, type SqlStores } from '../../packages/server/src/stores/sql/stores.js'
import {
  countRows,
  newestRecordedTime,
  saveTrustedTime,
  trustedStart,
} from '../../packages/server/src/stores/sql/purge.js'
import {
  CLOCK_ACCEPT_AFTER_SECONDS,
  createTrustedClock,
} from '../../packages/server/src/server/clock-guard.js'
import { createMaintenance, serverMaintenanceTasks } from '../../packages/server/src/server/maintenance.js'
import { createMetrics } from '../../packages/server/src/server/metrics.js'
import { createTestDatabase, postgresReachable } from '../helpers/postgres.js'
import { serviceAvailable } from '../helpers/services.js'

const NOW = 2_000_000_000
const DAY = 86_400
const settings = { sessionRetention: 7 * DAY, auditRetention: 90 * DAY }

interface Target {
  open(): Promise<Kysely<TesseraDatabase>>
  cleanup(): Promise<void>
}

/** Rows of each kind, expired and live, relative to NOW. */
async function seed(stores: SqlStores): Promise<{ userId: number }> {
  const created = await stores.users.create(
    { username: 'm', usernameNormalized: 'm', passwordHash: 'x' },
    NOW,
  )
  if (!created.ok) throw new Error('seed user')
  const userId = created.user.id
  for (let i = 0; i < 5; i++) await stores.revocations.revokeToken(`expired-${i}`, NOW - 10 - i)
  await stores.revocations.revokeSession('expired-session', NOW - 1)
  await stores.revocations.revokeToken('live', NOW + 100)
  await stores.revocations.revokeToken('edge', NOW) // expires at NOW: still live at NOW
  await stores.revocations.revokeUser(String(userId), NOW - 5, NOW + 900)
  const session = (id: string, expiresAt: number) =>
    stores.sessions.create({ id, userId, jti: `${id}-jti`, expiresAt }, NOW - 60 * DAY)
  await session('live', NOW + DAY)
  await session('expired-recently', NOW - DAY) // within the retention: kept
  await session('expired-long-ago', NOW - 8 * DAY)
  await session('revoked-long-ago', NOW + DAY)
  await stores.sessions.revoke('revoked-long-ago', { reason: 'logout', now: NOW - 8 * DAY })
  await session('revoked-recently', NOW + DAY)
  await stores.sessions.revoke('revoked-recently', { reason: 'logout', now: NOW - DAY })
  for (let i = 0; i < 3; i++) await stores.audit.record({ event: 'old', userId, at: NOW - 91 * DAY - i })
  await stores.audit.record({ event: 'recent', userId, at: NOW - 89 * DAY })
  // Exchanges of the old app's refresh tokens: one whose token expired beyond the retention, one whose
  // token expired within it, one still valid.
  for (const [jti, expiresAt] of [
    ['legacy-old', NOW - 8 * DAY],
    ['legacy-recent', NOW - DAY],
    ['legacy-live', NOW + DAY],
  ] as const) {
    await stores.db
      .insertInto('legacy_exchanges')
      .values({
        jti,
        user_id: userId,
        session_id: 'live',
        exchanged_at: NOW - 30 * DAY,
        expires_at: expiresAt,
      })
      .execute()
  }
  return { userId }
}

function suite(name: string, target: () => Target): void {
  describe(name, () => {
    let current: Target | undefined
    const dbs: Kysely<TesseraDatabase>[] = []
    const open = async (): Promise<SqlStores> => {
      current ??= target()
      const db = await current.open()
      dbs.push(db)
      await migrateToLatest(db)
      return sqlStores(db)
    }
    afterEach(async () => {
      for (const db of dbs.splice(0)) await db.destroy()
      await current?.cleanup()
      current = undefined
    })

    it('deletes expired rows in batches and keeps every live one', async () => {
      const stores = await open()
      await seed(stores)
      const metrics = createMetrics()
      const replica = memoryRevocationStore({ sweepIntervalSeconds: 0 })
      replica.revokeToken('gone', 1) // long expired
      replica.revokeToken('kept', NOW * 2)
      const maintenance = createMaintenance({ intervalMs: 0 })
      serverMaintenanceTasks(maintenance, { stores, replica, metrics }, { ...settings, batchSize: 2 })
      const report = await maintenance.runOnce(NOW)

      expect(report.failed).toEqual({})
      expect(report.deleted).toEqual({
        revocations: 6,
        sessions: 2,
        audit_events: 3,
        legacy_exchanges: 1,
        replica: 1,
      })
      const revocations = await stores.db.selectFrom('revocations').select('id').orderBy('id').execute()
      expect(revocations.map((r) => r.id)).toEqual(['1', 'edge', 'live'])
      const sessions = await stores.db.selectFrom('sessions').select('id').orderBy('id').execute()
      expect(sessions.map((s) => s.id)).toEqual(['expired-recently', 'live', 'revoked-recently'])
      const events = await stores.audit.list()
      expect(events.map((e) => e.event)).toEqual(['recent'])
      const exchanges = await stores.db.selectFrom('legacy_exchanges').select('jti').orderBy('jti').execute()
      expect(exchanges.map((e) => e.jti)).toEqual(['legacy-live', 'legacy-recent'])
      expect(replica.size()).toEqual({ tokens: 1, sessions: 0, users: 0 })

      const text = await metrics.registry.metrics()
      expect(text).toMatch(/tessera_table_rows\{table="revocations"\} 3\b/)
      expect(text).toMatch(/tessera_table_rows\{table="sessions"\} 3\b/)
      expect(text).toMatch(/tessera_maintenance_deleted_rows_total\{table="revocations"\} 6\b/)

      // Idempotent: a second pass finds nothing more.
      const again = await maintenance.runOnce(NOW)
      expect(again.deleted).toEqual({
        revocations: 0,
        sessions: 0,
        audit_events: 0,
        legacy_exchanges: 0,
        replica: 0,
      })
    })

    // A system clock set 400 days forward (mistyped, a bad NTP source): the passes count from the
    // newest record on by the process's own time, so they delete what a pass at NOW deletes and no
    // more — until the clock has stayed ahead for a day.
    it('deletes nothing young when the system clock is set forward, and follows it once it has held for a day', async () => {
      const stores = await open()
      const { userId } = await seed(stores)
      expect(await newestRecordedTime(stores.db)).toBe(NOW - 89 * DAY)
      await stores.audit.record({ event: 'login', userId, at: NOW })
      expect(await newestRecordedTime(stores.db)).toBe(NOW)
      // No pass has saved a trusted time yet: the newest record is where the clock starts.
      expect(await trustedStart(stores.db)).toEqual({ start: NOW })
      const elapsed = { seconds: 0 }
      const clock = createTrustedClock({
        ...(await trustedStart(stores.db)),
        wall: () => NOW + 400 * DAY + elapsed.seconds,
        monotonic: () => elapsed.seconds,
      })
      const replica = memoryRevocationStore({ sweepIntervalSeconds: 0 })
      replica.revokeToken('young', NOW + 900)
      const maintenance = createMaintenance({ intervalMs: 0, clock: clock.now })
      serverMaintenanceTasks(maintenance, { stores, replica, metrics: createMetrics() }, settings)

      const report = await maintenance.runOnce()
      expect(report.at).toBe(NOW)
      expect(report.deleted).toEqual({
        revocations: 6,
        sessions: 2,
        audit_events: 3,
        legacy_exchanges: 1,
        replica: 0,
      })
      const sessions = await stores.db.selectFrom('sessions').select('id').orderBy('id').execute()
      expect(sessions.map((s) => s.id)).toEqual(['expired-recently', 'live', 'revoked-recently'])
      const revocations = await stores.db.selectFrom('revocations').select('id').orderBy('id').execute()
      expect(revocations.map((r) => r.id)).toEqual(['1', 'edge', 'live'])
      expect((await stores.audit.list()).map((e) => e.event)).toEqual(['login', 'recent'])
      expect(replica.size().tokens).toBe(1)

      // The pass saved the time it counted by: a restart on the same clock starts from it.
      expect(await trustedStart(stores.db)).toEqual({ start: NOW })
      await stores.audit.record({ event: 'login', userId, at: NOW + 400 * DAY })
      expect(await trustedStart(stores.db)).toEqual({ start: NOW })

      elapsed.seconds = CLOCK_ACCEPT_AFTER_SECONDS
      const accepted = await maintenance.runOnce()
      expect(accepted.at).toBe(NOW + 401 * DAY)
      expect(await countRows(stores.db)).toMatchObject({ sessions: 0, revocations: 0, audit_events: 1 }) // the login dated on the wrong clock
      expect(replica.size().tokens).toBe(0)
    })

    it('purges the routine audit events past their own retention, and every other event past the audit retention', async () => {
      const stores = await open()
      const { userId } = await seed(stores)
      const at = (days: number): number => NOW - days * DAY
      // A login and a refresh (routine) and a refused login, a reuse and a role change (security), 40
      // days old; the same 20 days old.
      for (const age of [40, 20]) {
        for (const event of ['login', 'refresh', 'login_failed', 'refresh_reuse_detected', 'user_updated'])
          await stores.audit.record({ event, userId, at: at(age) })
      }
      const run = async (auditRoutineRetention?: number): Promise<Record<string, number>> => {
        const maintenance = createMaintenance({ intervalMs: 0 })
        serverMaintenanceTasks(
          maintenance,
          { stores, replica: memoryRevocationStore({ sweepIntervalSeconds: 0 }), metrics: createMetrics() },
          { ...settings, auditRoutineRetention, batchSize: 1 },
        )
        const report = await maintenance.runOnce(NOW)
        expect(report.failed).toEqual({})
        return report.deleted
      }
      const kept = async (): Promise<string[]> =>
        (await stores.db.selectFrom('audit_events').select(['event', 'at']).orderBy('id').execute()).map(
          (e) => `${e.event}@${(NOW - Number(e.at)) / DAY}`,
        )
      // Unset, or as long as the audit retention: routine events are kept as long as the others.
      expect(await run()).not.toHaveProperty('audit_events_routine')
      expect(await run(90 * DAY)).not.toHaveProperty('audit_events_routine')
      expect(await kept()).toHaveLength(11)
      // 30 days: the routine events of 40 days ago go (in batches), nothing else.
      expect(await run(30 * DAY)).toMatchObject({ audit_events: 0, audit_events_routine: 2 })
      expect(await kept()).toEqual([
        'recent@89',
        'login_failed@40',
        'refresh_reuse_detected@40',
        'user_updated@40',
        'login@20',
        'refresh@20',
        'login_failed@20',
        'refresh_reuse_detected@20',
        'user_updated@20',
      ])
      expect((await run(30 * DAY)).audit_events_routine).toBe(0)
    })

    it('saves the trusted time over the last one, and when a distrust began until a pass trusts the clock again', async () => {
      const stores = await open()
      expect(await trustedStart(stores.db)).toEqual({})
      await saveTrustedTime(stores.db, NOW + 400 * DAY, undefined)
      await saveTrustedTime(stores.db, NOW, undefined) // the clock put right: the lower time replaces it
      expect(await trustedStart(stores.db)).toEqual({ start: NOW })
      await saveTrustedTime(stores.db, NOW + 60, NOW)
      await saveTrustedTime(stores.db, NOW + 120, NOW + 120) // the distrust began at NOW: kept
      expect(await trustedStart(stores.db)).toEqual({ start: NOW + 120, heldSince: NOW })
      await saveTrustedTime(stores.db, NOW + 180, undefined)
      expect(await trustedStart(stores.db)).toEqual({ start: NOW + 180 })
    })

    // SQLite runs each statement synchronously on the event loop: without a turn between batches, a
    // pass of many batches would hold every request for its whole length. Each delete statement
    // records how many turns the event loop had taken by then.
    it('gives the event loop a turn after every full batch', async () => {
      const stores = await open()
      await seed(stores)
      let turns = 0
      const seen: number[] = []
      const marking: KyselyPlugin = {
        transformQuery({ node }) {
          if (node.kind === 'DeleteQueryNode') seen.push(turns)
          return node
        },
        transformResult: ({ result }) => Promise.resolve(result),
      }
      const maintenance = createMaintenance({ intervalMs: 0 })
      serverMaintenanceTasks(
        maintenance,
        {
          stores: sqlStores(stores.db.withPlugin(marking)),
          replica: memoryRevocationStore({ sweepIntervalSeconds: 0 }),
          metrics: createMetrics(),
        },
        { ...settings, batchSize: 2 },
      )
      let passing = true
      const turn = (): void => {
        turns++
        if (passing) setImmediate(turn)
      }
      setImmediate(turn)
      const report = await maintenance.runOnce(NOW)
      passing = false
      expect(report.deleted).toMatchObject({ revocations: 6, sessions: 2, audit_events: 3 })
      // Full batches: 3 of revocations, 1 of sessions, 1 of audit events; a turn follows each, so at
      // least 5 statements see more turns than the one before them.
      const later = seen.filter((n, i) => i > 0 && n > (seen[i - 1] ?? n)).length
      expect(later, `turns seen by each delete: ${seen.join(', ')}`).toBeGreaterThanOrEqual(5)
    })

    it('counts the rows of each table with a turn of the event loop between tables', async () => {
      const stores = await open()
      await seed(stores)
      let turns = 0
      let counting = true
      const turn = (): void => {
        turns++
        if (counting) setImmediate(turn)
      }
      setImmediate(turn)
      const counts = await countRows(stores.db)
      counting = false
      expect(counts).toMatchObject({ users: 1, sessions: 5, audit_events: 4 })
      expect(turns).toBeGreaterThanOrEqual(Object.keys(counts).length - 1)
    })

    it('stops after maxBatches and continues at the next pass', async () => {
      const stores = await open()
      await seed(stores)
      const maintenance = createMaintenance({ intervalMs: 0 })
      serverMaintenanceTasks(
        maintenance,
        { stores, replica: memoryRevocationStore({ sweepIntervalSeconds: 0 }), metrics: createMetrics() },
        { ...settings, batchSize: 2, maxBatches: 1 },
      )
      expect((await maintenance.runOnce(NOW)).deleted.revocations).toBe(2)
      expect((await maintenance.runOnce(NOW)).deleted.revocations).toBe(2)
      expect((await maintenance.runOnce(NOW)).deleted.revocations).toBe(2)
      expect((await maintenance.runOnce(NOW)).deleted.revocations).toBe(0)
    })

    it('reports a failing task and still runs the others', async () => {
      const stores = await open()
      await seed(stores)
      const failures: string[] = []
      const maintenance = createMaintenance({ intervalMs: 0, onError: (task) => failures.push(task) })
      maintenance.register('broken', () => Promise.reject(new Error('boom')))
      serverMaintenanceTasks(
        maintenance,
        { stores, replica: memoryRevocationStore({ sweepIntervalSeconds: 0 }), metrics: createMetrics() },
        settings,
      )
      const report = await maintenance.runOnce(NOW)
      expect(Object.keys(report.failed)).toEqual(['broken'])
      expect(failures).toEqual(['broken'])
      expect(report.deleted.revocations).toBe(6)
      expect(() => {
        maintenance.register('broken', () => Promise.resolve(0))
      }).toThrow(/already registered/)
    })
  })
}

suite('SQLite', () => {
  let dir: string | undefined
  return {
    async open() {
      dir ??= await mkdtemp(join(tmpdir(), 'tessera-maint-'))
      return openDatabase({ url: join(dir, 'db.sqlite') })
    },
    async cleanup() {
      if (dir !== undefined) await rm(dir, { recursive: true, force: true })
    },
  }
})

const postgres = serviceAvailable('PostgreSQL', await postgresReachable())
if (postgres) {
  suite('PostgreSQL', () => {
    let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined
    return {
      async open() {
        database ??= await createTestDatabase('maint')
        return openDatabase({ url: database.url, poolSize: 4 })
      },
      async cleanup() {
        await database?.drop()
      },
    }
  })

  describe('PostgreSQL, two instances at once', () => {
    it('purges each row once between them, without errors', async () => {
      const database = await createTestDatabase('maint2')
      const dbs = [
        await openDatabase({ url: database.url, poolSize: 2 }),
        await openDatabase({ url: database.url, poolSize: 2 }),
      ]
      try {
        await migrateToLatest(dbs[0]!)
        const stores = dbs.map((db) => sqlStores(db))
        for (let i = 0; i < 200; i++) await stores[0]!.revocations.revokeToken(`t${i}`, NOW - 1 - (i % 7))
        await stores[0]!.revocations.revokeToken('live', NOW + 60)
        const jobs = stores.map((s) => {
          const m = createMaintenance({ intervalMs: 0 })
          serverMaintenanceTasks(
            m,
            {
              stores: s,
              replica: memoryRevocationStore({ sweepIntervalSeconds: 0 }),
              metrics: createMetrics(),
            },
            { ...settings, batchSize: 10 },
          )
          return m
        })
        const reports = await Promise.all(jobs.map((m) => m.runOnce(NOW)))
        expect(reports.map((r) => r.failed)).toEqual([{}, {}])
        expect(reports.reduce((sum, r) => sum + (r.deleted.revocations ?? 0), 0)).toBe(200)
        const left = await dbs[0]!.selectFrom('revocations').select('id').execute()
        expect(left.map((r) => r.id)).toEqual(['live'])
      } finally {
        for (const db of dbs) await db.destroy()
        await database.drop()
      }
    })
  })
}

describe('tasks on their own timer', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

  it('runs them at their own interval with the passes off, outside runOnce, and reports their failures', async () => {
    const failures: string[] = []
    const maintenance = createMaintenance({ intervalMs: 0, onError: (task) => failures.push(task) })
    let runs = 0
    maintenance.register('ticking', () => Promise.resolve(++runs), { intervalMs: 10 })
    maintenance.register('failing', () => Promise.reject(new Error('database down')), { intervalMs: 10 })
    maintenance.register('in-passes', () => Promise.resolve(0))
    expect(Object.keys((await maintenance.runOnce(NOW)).deleted)).toEqual(['in-passes'])
    expect(runs).toBe(0)
    maintenance.start()
    // Until each ran twice, not a fixed 100 ms: an event loop stalled that long runs each once (a task's
    // next run is set after its previous one ends, and a late one is not made up).
    await vi.waitFor(
      () => {
        expect(runs).toBeGreaterThan(1)
        expect(failures.length).toBeGreaterThan(1)
      },
      { timeout: 10_000 },
    )
    await maintenance.stop()
    expect(new Set(failures)).toEqual(new Set(['failing']))
    expect(() => {
      maintenance.register('ticking', () => Promise.resolve(0))
    }).toThrow(/already registered/)
  })

  it('stops them on stop, waiting for a run in progress, and starts one registered after start', async () => {
    const maintenance = createMaintenance({ intervalMs: 0 })
    maintenance.start()
    let finished = 0
    let started = 0
    maintenance.register(
      'slow',
      async () => {
        started++
        await sleep(50)
        finished++
        return undefined
      },
      { intervalMs: 10 },
    )
    while (started === 0) await sleep(5)
    await maintenance.stop()
    expect(finished).toBe(started)
    const runs = started
    await sleep(50)
    expect(started).toBe(runs)
  })
})
