/**
 * Prometheus metrics of one server instance, in a registry of its own (so several instances in one
 * process, as in tests, do not collide).
 */
import { collectDefaultMetrics, Counter, Gauge, type Histogram, Registry } from 'prom-client'

/** The metrics a server records. */
export interface ServerMetrics {
  readonly registry: Registry
  readonly logins: Counter<'outcome'>
  readonly registrations: Counter<'outcome'>
  readonly refreshes: Counter<'outcome'>
  readonly refreshReuse: Counter
  readonly revocations: Counter<'grain'>
  readonly verifyFailures: Counter<'code'>
  /** Error answers of the server's own codes (errors.ts), by code; token refusals are `verifyFailures`. */
  readonly serverErrors: Counter<'code'>
  readonly requestDuration: RequestDurations
  /** Rows per table, as counted by the last maintenance pass. */
  readonly tableRows: Gauge<'table'>
  /** Entries in the in-memory revocation replica, by grain (read at scrape time). */
  readonly replicaEntries: Gauge<'grain'>
  /** Present when Redis is configured. */
  readonly redisUp?: Gauge
  /** Unix seconds of the last finished maintenance pass. */
  readonly maintenanceLastRun: Gauge
  readonly maintenanceDeleted: Counter<'table'>
  readonly maintenanceFailures: Counter<'task'>
  /** Seconds the wall clock runs ahead of the maintenance job's trusted time (clock-guard.ts); 0 mostly. */
  readonly clockAhead: Gauge
  /** Requests answered 503 by the request deadline. */
  readonly deadlineExceeded: Counter
  /** Tokens of the previous system (legacy window): exchanges of refresh tokens, access verifications. */
  readonly legacyTokens: Counter<'kind' | 'outcome'>
}

/** What the gauges read at scrape time. */
export interface MetricSources {
  replicaSize?: () => { tokens: number; sessions: number; users: number }
  /** Whether the link to Redis is up; `tessera_redis_up` exists only when Redis is configured. */
  redisUp?: () => boolean
}

/** Creates the metrics with the `tessera_` prefix, plus Node's default process metrics. */
export function createMetrics(sources: MetricSources = {}): ServerMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'tessera_' })
  const { counter, gauge } = inRegistry(registry)
  return {
    registry,
    logins: counter('tessera_logins_total', 'Login attempts by outcome.', ['outcome']),
    registrations: counter('tessera_registrations_total', 'Registration attempts by outcome.', ['outcome']),
    refreshes: counter(
      'tessera_refreshes_total',
      'Refresh attempts by outcome (rotated, grace, reuse, revoked, expired, not_found, user_gone).',
      ['outcome'],
    ),
    refreshReuse: counter(
      'tessera_refresh_reuse_total',
      'Spent refresh tokens presented again: each one revoked a session.',
    ),
    revocations: counter('tessera_revocations_total', 'Revocations by grain (token, session, user).', [
      'grain',
    ]),
    verifyFailures: counter(
      'tessera_verify_failures_total',
      'Refused tokens and authorisation failures by error code.',
      ['code'],
    ),
    serverErrors: counter(
      'tessera_server_errors_total',
      'Error responses with the server’s own codes (validation_error, invalid_credentials, rate_limited, …) by code.',
      ['code'],
    ),
    requestDuration: new RequestDurations(registry),
    tableRows: gauge('tessera_table_rows', 'Rows per table, counted by the last maintenance pass.', [
      'table',
    ]),
    replicaEntries: replicaGauge(registry, sources),
    ...(sources.redisUp === undefined ? {} : { redisUp: redisGauge(registry, sources.redisUp) }),
    maintenanceLastRun: gauge(
      'tessera_maintenance_last_run_timestamp_seconds',
      'Unix time of the last finished maintenance pass on this instance.',
    ),
    maintenanceDeleted: counter(
      'tessera_maintenance_deleted_rows_total',
      'Rows deleted by the maintenance job, by table.',
      ['table'],
    ),
    maintenanceFailures: counter(
      'tessera_maintenance_failures_total',
      'Maintenance tasks that failed, by task (retried at the next pass).',
      ['task'],
    ),
    clockAhead: gauge(
      'tessera_clock_ahead_seconds',
      'Seconds the wall clock runs ahead of the time the maintenance job trusts (0 while they agree). While above 0, purges, key pruning and automatic rotation count by the trusted time.',
    ),
    deadlineExceeded: counter(
      'tessera_request_deadline_exceeded_total',
      'Requests answered 503 because they did not complete within TESSERA_DATABASE_TIMEOUT.',
    ),
    legacyTokens: counter(
      'tessera_legacy_tokens_total',
      'Tokens of the previous system by kind (exchange: a refresh token for a session; access) and outcome (exchanged, accepted, reused, revoked, refused, window_closed). When exchanges stop, the legacy window can close.',
      ['kind', 'outcome'],
    ),
  }
}

/** Counter and gauge factories registering in `registry`. */
function inRegistry(registry: Registry): {
  counter: <L extends string = string>(name: string, help: string, labelNames?: readonly L[]) => Counter<L>
  gauge: <L extends string = string>(name: string, help: string, labelNames?: readonly L[]) => Gauge<L>
} {
  const registers = [registry]
  return {
    counter: (name, help, labelNames = []) => new Counter({ name, help, labelNames, registers }),
    gauge: (name, help, labelNames = []) => new Gauge({ name, help, labelNames, registers }),
  }
}

/** Entries of the in-memory revocation replica, by grain, read at scrape time. */
function replicaGauge(registry: Registry, sources: MetricSources): Gauge<'grain'> {
  return new Gauge({
    name: 'tessera_revocation_replica_entries',
    help: 'Entries in this instance’s in-memory revocation replica, by grain.',
    labelNames: ['grain'],
    registers: [registry],
    collect() {
      const size = sources.replicaSize?.()
      if (size === undefined) return
      this.set({ grain: 'token' }, size.tokens)
      this.set({ grain: 'session' }, size.sessions)
      this.set({ grain: 'user' }, size.users)
    },
  })
}

/** 1 while the link to Redis is up, 0 while revocations queue and rate limits count per instance. */
function redisGauge(registry: Registry, up: () => boolean): Gauge {
  return new Gauge({
    name: 'tessera_redis_up',
    help: 'Whether this instance’s link to Redis is up (1) or down (0: revocations queued for it, rate limits per instance).',
    registers: [registry],
    collect() {
      this.set(up() ? 1 : 0)
    },
  })
}

/** The request-duration histogram's upper bounds, in seconds. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const

/** One line of the exposition, in prom-client's shape. */
interface DurationValue {
  metricName: string
  labels: Record<string, string | number>
  value: number
}

/** One series of {@link RequestDurations}: a method, route and status. */
interface DurationSeries {
  readonly labels: { method: string; route: string; status: string }
  /** Observations per bucket (not cumulative); the last one is `+Inf`. */
  readonly counts: Float64Array
  sum: number
  count: number
}

/**
 * `tessera_http_request_duration_seconds`, the one metric recorded on every request. prom-client's
 * `Histogram.observe` validates the label names and hashes the label object on each call (about 0.8 µs
 * per request on the protected route, the largest of the server's own per-request costs); here a
 * request finds its series through three map lookups on values Fastify already holds (the route
 * pattern, the method, the status code) and adds to a typed array. At scrape time the series are given
 * to the registry in prom-client's own histogram shape (cumulative `_bucket` with `le`, `_sum`,
 * `_count`), so the exposition is the same as a prom-client `Histogram`'s.
 */
export class RequestDurations {
  readonly name = 'tessera_http_request_duration_seconds'
  readonly help = 'HTTP request latency by method, route and status.'
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  /** route → method → status → series. */
  #series = new Map<string, Map<string, Map<number, DurationSeries>>>()

  constructor(registry: Registry) {
    // The registry reads `name`, `help`, `type`, `aggregator`, `get()` and `reset()` of what it holds;
    // its TypeScript signature names only its own metric classes.
    registry.registerMetric(this as unknown as Histogram)
  }

  /** Records one answered request that took `seconds`. */
  observe(method: string, route: string, status: number, seconds: number): void {
    let byMethod = this.#series.get(route)
    if (byMethod === undefined)
      this.#series.set(route, (byMethod = new Map<string, Map<number, DurationSeries>>()))
    let byStatus = byMethod.get(method)
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map<number, DurationSeries>()))
    let series = byStatus.get(status)
    if (series === undefined) {
      series = {
        labels: { method, route, status: String(status) },
        counts: new Float64Array(DURATION_BUCKETS.length + 1),
        sum: 0,
        count: 0,
      }
      byStatus.set(status, series)
    }
    let bucket = 0
    while (bucket < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[bucket] as number)) bucket++
    series.counts[bucket] = (series.counts[bucket] ?? 0) + 1
    series.sum += seconds
    series.count++
  }

  get(): Promise<{
    name: string
    help: string
    type: 'histogram'
    aggregator: 'sum'
    values: DurationValue[]
  }> {
    const values: DurationValue[] = []
    const bucketName = `${this.name}_bucket`
    for (const byMethod of this.#series.values())
      for (const byStatus of byMethod.values())
        for (const { labels, counts, sum, count } of byStatus.values()) {
          let cumulative = 0
          DURATION_BUCKETS.forEach((le, i) => {
            cumulative += counts[i] ?? 0
            values.push({ metricName: bucketName, labels: { le, ...labels }, value: cumulative })
          })
          values.push({ metricName: bucketName, labels: { le: '+Inf', ...labels }, value: count })
          values.push({ metricName: `${this.name}_sum`, labels: { ...labels }, value: sum })
          values.push({ metricName: `${this.name}_count`, labels: { ...labels }, value: count })
        }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' })
  }

  reset(): void {
    this.#series = new Map()
  }
}
