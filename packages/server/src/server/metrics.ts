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
    requestDuration: new Histogram({
      name: 'tessera_http_request_duration_seconds',
      help: 'HTTP request latency by method, route and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    tableRows: gauge('tessera_table_rows', 'Rows per table, counted by the last maintenance pass.', [
      'table',
    ]),
    replicaEntries: replicaGauge(registry, sources),
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
