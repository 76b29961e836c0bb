/**
 * The maintenance job, the server's one scheduler: every instance runs the registered tasks every
 * `intervalMs` (with ±25 % jitter, so instances drift apart), one pass at a time. There is no leader:
 * every task must be idempotent and light — batched deletes of what has expired, which any number of
 * instances may run at the same moment (a row deleted twice is simply gone). A failing task is
 * reported and the others still run; the next pass tries again.
 *
 * A task registered with its own `intervalMs` runs on its own cadence instead (no jitter, one run at a
 * time, outside the passes): the key lifecycle, whose refresh interval is a promise made to clients
 * (key-lifecycle.ts). Its failures are reported the same way, and `stop` stops it too.
 *
 * The server registers its purges and gauges with {@link serverMaintenanceTasks}; other periodic work
 * joins with `register`.
 *
 * @example
 * const maintenance = createMaintenance({ intervalMs: 60_000, onError: (task, error) => log(task, error) })
 * maintenance.register('keys', async () => (await lifecycle.refresh()).pruned.length, { intervalMs: 5_000 })
 * maintenance.start()
 */
import type { MemoryRevocationStore } from 'tessera'
import { setImmediate as yieldToRequests } from 'node:timers/promises'
import {
  countRows,
  purgeLegacyExchanges,
  purgeRevocations,
  purgeSessions,
  saveTrustedTime,
} from '../stores/sql/purge.js'
import { ROUTINE_AUDIT_EVENTS } from '../stores/sql/audit.js'
import type { SqlStores } from '../stores/sql/stores.js'
import { nowSeconds } from '../time.js'
import type { ServerMetrics } from './metrics.js'

/** A task: does one bounded round of work at `now` (Unix seconds); returns the rows it deleted. */
export type MaintenanceTask = (now: number) => Promise<number | undefined>

/** What one pass did. */
export interface MaintenanceReport {
  /** Unix seconds the pass started at. */
  at: number
  /** Rows deleted, by task. */
  deleted: Record<string, number>
  /** Tasks that failed, with their error. */
  failed: Record<string, unknown>
}

/** How a task is scheduled. */
export interface TaskSchedule {
  /**
   * Milliseconds between two starts of this task, on its own timer (no jitter) instead of in the
   * passes; 0 or absent: in the passes.
   */
  intervalMs?: number
}

/** The job returned by {@link createMaintenance}. */
export interface Maintenance {
  /**
   * Adds a task (names are unique): it runs from the next pass on, or, with its own `intervalMs`, every
   * such interval once started.
   */
  register(name: string, task: MaintenanceTask, schedule?: TaskSchedule): void
  /** Runs every task of the passes once now (waiting for a pass already running first). */
  runOnce(now?: number): Promise<MaintenanceReport>
  /** Starts the periodic passes (unless `intervalMs` is 0) and the tasks on their own timers. */
  start(): void
  /** Stops the passes and the timed tasks, and waits for the runs in progress. */
  stop(): Promise<void>
  /** The last finished pass, if any. */
  last(): MaintenanceReport | undefined
}

/** Options of {@link createMaintenance}. */
export interface MaintenanceOptions {
  /** Milliseconds between passes; 0 never runs them by itself (tasks with their own interval still run). */
  intervalMs: number
  /** Told about each failing task (of a pass or on its own timer). */
  onError?: (task: string, error: unknown) => void
  /** Told about each finished pass. */
  onPass?: (report: MaintenanceReport) => void
  /**
   * The time tasks run at, Unix seconds: the server passes its trusted clock (clock-guard.ts), so a
   * wall clock set forward does not purge young rows. @default the wall clock
   */
  clock?: () => number
}

/** Creates the job (not started). */
export function createMaintenance(options: MaintenanceOptions): Maintenance {
  const clock = options.clock ?? nowSeconds
  const tasks = new Map<string, MaintenanceTask>()
  const timed = new Map<string, TimedTask>()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<MaintenanceReport> | undefined
  let started = false
  let stopped = false
  let lastReport: MaintenanceReport | undefined

  const pass = async (now: number): Promise<MaintenanceReport> => {
    const report: MaintenanceReport = { at: now, deleted: {}, failed: {} }
    for (const [name, task] of tasks) {
      try {
        const deleted = await task(now)
        if (typeof deleted === 'number') report.deleted[name] = deleted
      } catch (error) {
        report.failed[name] = error
        options.onError?.(name, error)
      }
    }
    lastReport = report
    options.onPass?.(report)
    return report
  }

  const runOnce = async (now = clock()): Promise<MaintenanceReport> => {
    while (running !== undefined) await running.catch(() => undefined)
    running = pass(now)
    try {
      return await running
    } finally {
      running = undefined
    }
  }

  const schedule = (): void => {
    if (stopped || options.intervalMs <= 0) return
    const delay = options.intervalMs * (0.75 + Math.random() * 0.5)
    timer = setTimeout(() => {
      void runOnce().finally(schedule)
    }, delay)
    timer.unref()
  }

  return {
    register(name, task, taskSchedule = {}) {
      if (tasks.has(name) || timed.has(name))
        throw new Error(`maintenance task "${name}" is already registered`)
      const intervalMs = taskSchedule.intervalMs ?? 0
      if (intervalMs <= 0) {
        tasks.set(name, task)
        return
      }
      const entry = timedTask(name, task, intervalMs, clock, options.onError)
      timed.set(name, entry)
      if (started && !stopped) entry.start()
    },
    runOnce,
    start() {
      if (started || stopped) return
      started = true
      schedule()
      for (const entry of timed.values()) entry.start()
    },
    async stop() {
      stopped = true
      clearTimeout(timer)
      await Promise.all([
        running?.catch(() => undefined),
        ...[...timed.values()].map((entry) => entry.stop()),
      ])
    },
    last: () => lastReport,
  }
}

/** A task on its own timer. */
interface TimedTask {
  start(): void
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>
}

/**
 * Runs `task` every `intervalMs` from its previous start (a run longer than that is followed by the
 * next at once, never overlapped), reporting failures to `onError`.
 */
function timedTask(
  name: string,
  task: MaintenanceTask,
  intervalMs: number,
  clock: () => number,
  onError: MaintenanceOptions['onError'],
): TimedTask {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let stopped = false
  const next = (delay: number): void => {
    if (stopped) return
    timer = setTimeout(() => {
      const startedAt = Date.now()
      running = task(clock()).then(
        () => undefined,
        (error: unknown) => onError?.(name, error),
      )
      void running.finally(() => {
        running = undefined
        next(Math.max(0, intervalMs - (Date.now() - startedAt)))
      })
    }, delay)
    timer.unref()
  }
  return {
    start: () => {
      next(intervalMs)
    },
    async stop() {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}

/** Retention and batch settings of the server's own tasks. */
export interface ServerMaintenanceSettings {
  /** Seconds expired or revoked sessions are kept. */
  sessionRetention: number
  /** Seconds audit events are kept. */
  auditRetention: number
  /**
   * Seconds the routine audit events ({@link ROUTINE_AUDIT_EVENTS}) are kept, when shorter than
   * `auditRetention`. @default auditRetention
   */
  auditRoutineRetention?: number | undefined
  /** Rows per delete statement. @default 1000 */
  batchSize?: number
  /** Statements per table per pass, so one pass stays light; the next pass continues. @default 50 */
  maxBatches?: number
}

/**
 * Registers the server's tasks: purge expired revocations, sessions past their retention and audit
 * events past theirs (the routine ones past their own, when shorter: `audit_events_routine`), in
 * batches; drop expired entries from the in-memory replica, and refresh the
 * row-count gauges.
 */
export function serverMaintenanceTasks(
  maintenance: Maintenance,
  deps: {
    stores: SqlStores
    replica: MemoryRevocationStore
    metrics: ServerMetrics
    /** The trusted time a distrust of the system clock began at, while it lasts (clock-guard.ts). */
    heldSince?: () => number | undefined
  },
  settings: ServerMaintenanceSettings,
): void {
  const { stores, replica, metrics } = deps
  const batch = settings.batchSize ?? 1000
  const maxBatches = settings.maxBatches ?? 50
  const batched = async (table: string, purge: () => Promise<number>): Promise<number> => {
    let total = 0
    for (let i = 0; i < maxBatches; i++) {
      const deleted = await purge()
      total += deleted
      if (deleted < batch) break
      // Requests go first between batches: on SQLite each statement runs synchronously on the event
      // loop, and awaiting one resolves without giving it back, so a pass of many batches would
      // otherwise hold every request for its whole length.
      await yieldToRequests()
    }
    if (total > 0) metrics.maintenanceDeleted.inc({ table }, total)
    return total
  }
  maintenance.register('revocations', (now) =>
    batched('revocations', () => purgeRevocations(stores.db, now, batch)),
  )
  maintenance.register('sessions', (now) =>
    batched('sessions', () => purgeSessions(stores.db, now - settings.sessionRetention, batch)),
  )
  maintenance.register('audit_events', (now) =>
    batched('audit_events', () => stores.audit.purgeBefore(now - settings.auditRetention, batch)),
  )
  const routineRetention = settings.auditRoutineRetention ?? settings.auditRetention
  if (routineRetention < settings.auditRetention) {
    maintenance.register('audit_events_routine', (now) =>
      batched('audit_events', () =>
        stores.audit.purgeBefore(now - routineRetention, batch, { events: ROUTINE_AUDIT_EVENTS }),
      ),
    )
  }
  // Kept as long as sessions are after their end, though an expired legacy token is refused anyway.
  maintenance.register('legacy_exchanges', (now) =>
    batched('legacy_exchanges', () =>
      purgeLegacyExchanges(stores.db, now - settings.sessionRetention, batch),
    ),
  )
  maintenance.register('replica', (now) => Promise.resolve(replica.sweep(now)))
  // The time this pass counted by, where a restart's trusted clock starts (clock-guard.ts).
  maintenance.register('trusted_time', async (now) => {
    await saveTrustedTime(stores.db, now, deps.heldSince?.())
    return undefined
  })
  maintenance.register('gauges', async () => {
    for (const [table, rows] of Object.entries(await countRows(stores.db))) {
      metrics.tableRows.set({ table }, rows)
    }
    return undefined
  })
}
