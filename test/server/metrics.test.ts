// The request-duration histogram (metrics.ts): recorded without prom-client's per-call label checks,
// exposed exactly as a prom-client Histogram with the same buckets exposes the same observations.
import { Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createMetrics, RequestDurations } from '../../packages/server/src/server/metrics.js'

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

/** Observations across buckets, bounds, routes, methods and statuses (a bound itself falls in its bucket). */
const OBSERVATIONS: [string, string, number, number][] = [
  ['GET', '/protected', 200, 0.0001],
  ['GET', '/protected', 200, 0.0005],
  ['GET', '/protected', 200, 0.0007],
  ['GET', '/protected', 401, 0.002],
  ['POST', '/auth/login', 200, 0.017],
  ['POST', '/auth/login', 401, 0.3],
  ['POST', '/auth/login', 401, 2.5],
  ['POST', '/auth/login', 401, 7],
  ['GET', 'unmatched', 404, 0],
  ['GET', '/users/:id', 200, 1],
]

/** The exposition of one metric, its series sorted (the registry writes them in insertion order). */
function lines(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .sort()
}

describe('the request-duration histogram', () => {
  it('is exposed as prom-client’s Histogram exposes the same observations', async () => {
    const ours = new Registry()
    const durations = new RequestDurations(ours)
    const reference = new Registry()
    const histogram = new Histogram({
      name: 'tessera_http_request_duration_seconds',
      help: 'HTTP request latency by method, route and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: BUCKETS,
      registers: [reference],
    })
    for (const [method, route, status, seconds] of OBSERVATIONS) {
      durations.observe(method, route, status, seconds)
      histogram.observe({ method, route, status: String(status) }, seconds)
    }
    const exposed = lines(await ours.metrics())
    expect(exposed).toEqual(lines(await reference.metrics()))
    expect(exposed).toContain(
      'tessera_http_request_duration_seconds_bucket{le="0.0005",method="GET",route="/protected",status="200"} 2',
    )
    expect(exposed).toContain(
      'tessera_http_request_duration_seconds_bucket{le="2.5",method="POST",route="/auth/login",status="401"} 2',
    )
    expect(exposed).toContain(
      'tessera_http_request_duration_seconds_count{method="POST",route="/auth/login",status="401"} 3',
    )
    // The JSON form (Registry#getMetricsAsJSON) holds the same values (prom-client adds `exemplar`).
    const values = async (registry: Registry) =>
      ((await registry.getMetricsAsJSON())[0]?.values ?? [])
        .map((v) => ({
          metricName: (v as { metricName?: string }).metricName,
          labels: v.labels,
          value: v.value,
        }))
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
    const json = await values(ours)
    // Six series (method, route, status), each with its buckets, +Inf, _sum and _count.
    expect(json).toHaveLength(6 * (BUCKETS.length + 3))
    expect(json).toEqual(await values(reference))
  })

  it('escapes label values in the exposition and starts over on reset', async () => {
    const { registry, requestDuration } = createMetrics()
    requestDuration.observe('GET', '/say/"hi"\\there', 200, 0.001)
    expect(await registry.metrics()).toContain(
      'tessera_http_request_duration_seconds_count{method="GET",route="/say/\\"hi\\"\\\\there",status="200"} 1',
    )
    registry.resetMetrics()
    expect(await registry.metrics()).not.toContain('tessera_http_request_duration_seconds_count')
    requestDuration.observe('GET', '/x', 500, 0.2)
    expect(await registry.metrics()).toContain(
      'tessera_http_request_duration_seconds_bucket{le="0.25",method="GET",route="/x",status="500"} 1',
    )
  })
})
