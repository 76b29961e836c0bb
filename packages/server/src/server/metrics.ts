/**
 * Prometheus metrics of one server instance, in a registry of its own (so several instances in one
 * process, as in tests, do not collide).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

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
  readonly requestDuration: Histogram<'method' | 'route' | 'status'>
  /** Rows per table, as counted by the last maintenance pass. */
  readonly tableRows: Gauge<'table'>
  /** Entries in the in-memory revocation replica, by grain (read at scrape time). */
  readonly replicaEntries: Gauge<'grain'>
  /** Unix seconds of the last finished maintenance pass. */
  readonly maintenanceLastRun: Gauge
  readonly maintenanceDeleted: Counter<'table'>
  readonly maintenanceFailures: Counter<'task'>
  /** Requests answered 503 by the request deadline. */
  readonly deadlineExceeded: Counter
  /** Tokens of the previous system (legacy window): exchanges of refresh tokens, access verifications. */
  readonly legacyTokens: Counter<'kind' | 'outcome'>
}

/** What the gauges read at scrape time. */
export interface MetricSources {
  replicaSize?: () => { tokens: number; sessions: number; users: number }
}

/** Creates the metrics with the `tessera_` prefix, plus Node's default process metrics. */
export function createMetrics(sources: MetricSources = {}): ServerMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'tessera_' })
  const registers = [registry]
  return {
    registry,
    logins: new Counter({
      name: 'tessera_logins_total',
      help: 'Login attempts by outcome.',
      labelNames: ['outcome'],
      registers,
    }),
    registrations: new Counter({
      name: 'tessera_registrations_total',
      help: 'Registration attempts by outcome.',
      labelNames: ['outcome'],
      registers,
    }),
    refreshes: new Counter({
      name: 'tessera_refreshes_total',
      help: 'Refresh attempts by outcome (rotated, grace, reuse, revoked, expired, not_found, user_gone).',
      labelNames: ['outcome'],
      registers,
    }),
    refreshReuse: new Counter({
      name: 'tessera_refresh_reuse_total',
      help: 'Spent refresh tokens presented again: each one revoked a session.',
      registers,
    }),
    revocations: new Counter({
      name: 'tessera_revocations_total',
      help: 'Revocations by grain (token, session, user).',
      labelNames: ['grain'],
      registers,
    }),
    verifyFailures: new Counter({
      name: 'tessera_verify_failures_total',
      help: 'Refused tokens and authorisation failures by error code.',
      labelNames: ['code'],
      registers,
    }),
    serverErrors: new Counter({
      name: 'tessera_server_errors_total',
      help: 'Error responses with the server’s own codes (validation_error, invalid_credentials, rate_limited, …) by code.',
      labelNames: ['code'],
      registers,
    }),
    requestDuration: new Histogram({
      name: 'tessera_http_request_duration_seconds',
      help: 'HTTP request latency by method, route and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    tableRows: new Gauge({
      name: 'tessera_table_rows',
      help: 'Rows per table, counted by the last maintenance pass.',
      labelNames: ['table'],
      registers,
    }),
    replicaEntries: new Gauge({
      name: 'tessera_revocation_replica_entries',
      help: 'Entries in this instance’s in-memory revocation replica, by grain.',
      labelNames: ['grain'],
      registers,
      collect() {
        const size = sources.replicaSize?.()
        if (size === undefined) return
        this.set({ grain: 'token' }, size.tokens)
        this.set({ grain: 'session' }, size.sessions)
        this.set({ grain: 'user' }, size.users)
      },
    }),
    maintenanceLastRun: new Gauge({
      name: 'tessera_maintenance_last_run_timestamp_seconds',
      help: 'Unix time of the last finished maintenance pass on this instance.',
      registers,
    }),
    maintenanceDeleted: new Counter({
      name: 'tessera_maintenance_deleted_rows_total',
      help: 'Rows deleted by the maintenance job, by table.',
      labelNames: ['table'],
      registers,
    }),
    maintenanceFailures: new Counter({
      name: 'tessera_maintenance_failures_total',
      help: 'Maintenance tasks that failed, by task (retried at the next pass).',
      labelNames: ['task'],
      registers,
    }),
    deadlineExceeded: new Counter({
      name: 'tessera_request_deadline_exceeded_total',
      help: 'Requests answered 503 because they did not complete within TESSERA_DATABASE_TIMEOUT.',
      registers,
    }),
    legacyTokens: new Counter({
      name: 'tessera_legacy_tokens_total',
      help: 'Tokens of the previous system by kind (exchange: a refresh token for a session; access) and outcome (exchanged, accepted, reused, revoked, refused, window_closed). When exchanges stop, the legacy window can close.',
      labelNames: ['kind', 'outcome'],
      registers,
    }),
  }
}
