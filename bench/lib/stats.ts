/**
 * Measurement rounds (mitata) and their aggregation: per round a p50 per case; per run the median of
 * its rounds; across runs the median of the runs. Ratios to the bare reference are taken per round, so
 * each contender is compared with the reference measured seconds apart, then aggregated the same way.
 */
import { measure } from 'mitata'
import type { BenchCase, Group, Role } from './cases.js'

/** One mitata measurement of one case (ns per operation). */
export interface Sample {
  p50: number
  p25: number
  p75: number
  min: number
  max: number
  /** Operations timed. */
  ticks: number
}

/** What one run (one process) produces. */
export interface RunResult {
  startedAt: string
  rounds: number
  /** Samples per case id, one per round, in round order. */
  samples: Record<string, Sample[]>
}

export interface MeasureOptions {
  rounds: number
  /** Minimum time spent timing each case per round, in milliseconds. */
  minCpuMs: number
  /** Operations per mitata sample (batch); smaller keeps slow cases short. */
  batch: number
  minSamples: number
  /** Each case runs untimed this long first, so the JIT has settled before mitata starts. */
  warmupMs: number
  /** Progress lines go here. */
  log: (line: string) => void
}

/**
 * Times every case `rounds` times. Cases run group by group; inside a group the order is reversed on
 * every other round, so a drift in machine speed does not always favour the same contender.
 */
export async function measureRounds(
  cases: readonly BenchCase[],
  options: MeasureOptions,
): Promise<RunResult> {
  const startedAt = new Date().toISOString()
  const samples: Record<string, Sample[]> = {}
  const groups = [...new Set(cases.map((c) => c.group))]
  for (let round = 0; round < options.rounds; round++) {
    for (const group of groups) {
      const members = cases.filter((c) => c.group === group)
      if (round % 2 === 1) members.reverse()
      for (const c of members) {
        await warmUp(c.fn, options.warmupMs)
        const stats = await measure(c.fn, {
          min_cpu_time: options.minCpuMs * 1e6,
          batch_samples: options.batch,
          min_samples: options.minSamples,
        })
        const sample: Sample = {
          p50: stats.p50,
          p25: stats.p25,
          p75: stats.p75,
          min: stats.min,
          max: stats.max,
          ticks: stats.ticks,
        }
        ;(samples[c.id] ??= []).push(sample)
        options.log(`  round ${round + 1}/${options.rounds}  ${c.id.padEnd(26)} ${formatNs(stats.p50)} ns/op`)
      }
    }
  }
  return { startedAt, rounds: options.rounds, samples }
}

async function warmUp(fn: () => unknown, ms: number): Promise<void> {
  const end = performance.now() + ms
  do {
    for (let i = 0; i < 32; i++) {
      const result = fn()
      if (result instanceof Promise) await result
    }
  } while (performance.now() < end)
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** One line of the results table. */
export interface Row {
  id: string
  group: Group
  label: string
  role: Role
  /** Median across runs of each run's median p50. */
  ns: number
  /** Smallest and largest mitata sample over every run (mitata drops the 2 extreme samples each side). */
  minNs: number
  maxNs: number
  /** Each run's median p50, in run order. */
  runNs: number[]
  /** ops/s of this case as a share of the group's bare reference (median across runs). */
  ratio: number
  /** Each run's ratio, in run order. */
  runRatios: number[]
  /** p50 of every round, per run: for comparisons paired round by round. */
  roundNs: number[][]
  /** Operations timed in total. */
  ops: number
}

export function aggregate(cases: readonly BenchCase[], runs: readonly RunResult[]): Row[] {
  const reference = new Map<Group, string>()
  for (const c of cases) if (c.role === 'reference') reference.set(c.group, c.id)
  return cases.map((c) => {
    const refId = reference.get(c.group)
    const perRun = runs.map((run) => {
      const mine = run.samples[c.id] ?? []
      const ref = refId === undefined ? [] : (run.samples[refId] ?? [])
      const ratios = mine.flatMap((s, round) => {
        const r = ref[round]
        return r === undefined ? [] : [r.p50 / s.p50]
      })
      return { ns: median(mine.map((s) => s.p50)), ratio: median(ratios), samples: mine }
    })
    const all = perRun.flatMap((r) => r.samples)
    return {
      id: c.id,
      group: c.group,
      label: c.label,
      role: c.role,
      ns: median(perRun.map((r) => r.ns)),
      minNs: Math.min(...all.map((s) => s.min)),
      maxNs: Math.max(...all.map((s) => s.max)),
      runNs: perRun.map((r) => r.ns),
      ratio: median(perRun.map((r) => r.ratio)),
      runRatios: perRun.map((r) => r.ratio),
      roundNs: perRun.map((r) => r.samples.map((x) => x.p50)),
      ops: all.reduce((sum, s) => sum + s.ticks, 0),
    }
  })
}

/**
 * How much slower `b` is than `a` (b/a − 1; negative: faster), paired round by round: the median over
 * rounds per run, then the median over runs. Also returns each run's figure.
 */
export function pairedSlowdown(a: Row, b: Row): { median: number; runs: number[] } {
  const runs = a.roundNs.map((rounds, run) =>
    median(
      rounds.flatMap((ns, round) => {
        const other = b.roundNs[run]?.[round]
        return other === undefined ? [] : [other / ns - 1]
      }),
    ),
  )
  return { median: median(runs), runs }
}

export function formatNs(ns: number): string {
  if (!Number.isFinite(ns)) return 'n/a'
  if (ns >= 10_000) return Math.round(ns).toLocaleString('en-US')
  if (ns >= 100) return ns.toFixed(0)
  return ns.toFixed(1)
}

export function formatOps(ns: number): string {
  const ops = 1e9 / ns
  if (!Number.isFinite(ops)) return 'n/a'
  if (ops >= 1e6) return `${(ops / 1e6).toFixed(2)} M`
  if (ops >= 1e3) return `${(ops / 1e3).toFixed(1)} k`
  return ops.toFixed(0)
}
