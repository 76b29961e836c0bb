/**
 * Instructions per protected request, counted by valgrind's callgrind instead of timed: a count repeats
 * on a host where time does not (bench/RESULTS.md §16: the same server measured 20–51 µs per request in
 * one hour; §17: the adapter's count within 4 % over three fresh processes, most runs within 1 %). For a question of a few per cent between the server as shipped
 * and the Fastify adapter alone (issue 14's "≥ 0.95 × the adapter").
 *
 *   npm run bench:instructions [-- --kinds tessera-fastify,tessera-server] [--runs 3]
 *     [--requests 20000] [--warmup 20000] [--connections 10] [--incremental-marking] [--no-build]
 *
 * Each run starts a fresh process under `valgrind --tool=callgrind --instr-atstart=no`, with node's
 * `--no-concurrent-recompilation --single-threaded-gc` (so the JIT's and the collector's work happens on
 * the counted thread, in the same order each time), loads it with `--warmup` requests of `GET /protected`
 * (EdDSA, a valid token, autocannon on the other core), turns the counting on (`callgrind_control -i
 * on`), sends exactly `--requests` more, turns it off and dumps. User-space instructions only: the
 * kernel's work (the socket writes) is not in them.
 *
 * V8's collectors are counted apart ("collectors", each instruction once: V8's foreground tasks, the
 * collections started outside one, the marking steps taken on allocation): a mark-compact with its marking
 * (~240 M instructions) falls in a window or not, and under valgrind, ~50 × slower, objects outlive more
 * scavenges than in a real run. "Mutator" is the rest, the number to compare. A collection's callers are
 * told apart by callgrind itself (`--separate-callers20` on `Heap::CollectGarbage`: each call chain, 20
 * callers deep, is its own context), so whether it ran inside a task does not depend on which of V8's
 * functions the build inlined.
 *
 * Node also runs with `--no-incremental-marking` (unless `--incremental-marking` is given): a real run
 * of either process makes no mark-compact under load (§17's `--trace-gc`), but under valgrind the
 * server's timed objects reach the old generation and marking starts; done incrementally, its write
 * barriers run inside the requests' own code and inflated the mutator's count by 5–18 %
 * (bench/RESULTS.md §18). Without it, a marking is one pause, counted with the collectors.
 *
 * Under valgrind the counted requests take ~50 × longer, so the process's timers (the key set's refresh
 * every 5 s, the access log's batching) fire ~50 × more often per request than in a real run. Each run
 * therefore also counts the same process idle for `--idle` seconds (default 20), takes its timers'
 * instructions per second (libuv's `uv__run_timers`, inclusive, less V8's delayed tasks run from it:
 * the memory reducer's collections, which only an idle process makes) and subtracts that rate × the
 * loaded window's duration from the mutator's count: what is left is the requests' own work.
 *
 * The kinds are bench/servers/http.ts contenders (`tessera-fastify`: the adapter alone) and
 * `tessera-server`: the auth server as `npm start` runs it (bench/lib/shipped.ts, every setting at its
 * default, logs to a file), with `TESSERA_SHUTDOWN_DELAY=0` so that it stops at once after the count.
 * Runs under the node that runs this script: for another Node version, run it from a work tree whose
 * node_modules that node installed (`.ci/node-versions.sh` makes one, TESSERA_NODE_WORK keeps it).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type * as TesseraModule from '../packages/tessera/src/index.js'
import { compileBuild, serverScript, srcModule } from './lib/build.js'
import { SERVER_CPU, newBenchKeys, runLoad, sleep, startServer, type ServerProcess } from './lib/procs.js'
import { startShipped } from './lib/shipped.js'
import { median } from './lib/stats.js'
import { SUB, type ContenderKind } from './servers/protocol.js'

const { values: args } = parseArgs({
  options: {
    kinds: { type: 'string', default: 'tessera-fastify,tessera-server' },
    runs: { type: 'string', default: '3' },
    requests: { type: 'string', default: '20000' },
    warmup: { type: 'string', default: '20000' },
    connections: { type: 'string', default: '10' },
    idle: { type: 'string', default: '20' },
    keep: { type: 'string' },
    cpu: { type: 'string', default: SERVER_CPU },
    'incremental-marking': { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
  },
  strict: true,
})
const kinds = args.kinds.split(',') as ContenderKind[]
const runs = Number(args.runs)
const requests = Number(args.requests)
const warmup = Number(args.warmup)
const connections = Number(args.connections)
const idle = Number(args.idle)
if (![runs, requests, warmup, connections, idle].every((n) => Number.isInteger(n) && n > 0))
  throw new Error('--runs, --requests, --warmup, --connections and --idle take positive integers')

/** V8's foreground tasks (run by node's platform from the event loop): the collections' jobs, marking, the memory reducer. */
const TASKS = /^node::PerIsolatePlatformData::RunForegroundTask\(/
/** A collection: with `--separate-callers`, one context per call chain (`name'caller'caller…`). */
const COLLECTION = /^v8::internal::Heap::CollectGarbage\(/
/** The marking steps taken on allocation. */
const MARKING_ON_ALLOCATION = /^v8::internal::IncrementalMarking::AdvanceOnAllocation\(/
/** A call chain that runs inside one of the above (its cost is counted there). */
const COUNTED_ABOVE = /RunForegroundTask|Task::RunInternal|IncrementalMarking::AdvanceOnAllocation/
const TIMERS = /^uv__run_timers$/
const DELAYED_TASKS = /^node::PerIsolatePlatformData::RunForegroundTask\(uv_timer_s\*\)/

interface Count {
  total: number
  collectors: number
  /** The event loop's timers (libuv's `uv__run_timers`), V8's delayed tasks run from them excepted. */
  timers: number
}

interface Window extends Count {
  /** How long the counted requests took (under valgrind). */
  seconds: number
  /** Instructions per second of the same process's timers with no requests. */
  idlePerSecond: number
}

/** The dumps `callgrind_control -d` made in `dir` (`callgrind.out.<n>`; the one without a number is the exit's). */
const dumps = (dir: string): string[] => readdirSync(dir).filter((f) => /\.\d+$/.test(f))

const cost = (text: string): number => Number(text.replaceAll(',', ''))

/**
 * Sums dumps in `dir`: all instructions, and the collectors' (each instruction once): V8's foreground
 * tasks, inclusive (in a server they are all the collector's: minor GC jobs, marking jobs, the memory
 * reducer; with `--no-concurrent-recompilation` no compile job runs as a task), the collections
 * started outside a task (allocation, the stack guard), and the marking steps taken on allocation.
 */
function readCounts(dir: string, files: readonly string[]): Count {
  let total = 0
  let collectors = 0
  let timers = 0
  let functions = 0
  // Collections read with and without their call chain: none with one means callgrind did not
  // separate them (its option was not applied), and the count below would be wrong.
  let chained = 0
  let chainless = 0
  for (const file of files) {
    const text = execFileSync(
      'callgrind_annotate',
      ['--tree=caller', '--inclusive=yes', '--threshold=100', join(dir, file)],
      { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 },
    )
    total += cost(/^ *([\d,]+) +(?:\([ \d.]+%\) +)?PROGRAM TOTALS/m.exec(text)?.[1] ?? '0')
    // Blocks of `< caller` lines (the cost of each call into the function) ending with `* function`.
    let callers: { name: string; cost: number }[] = []
    for (const line of text.split('\n')) {
      const row = /^ *([\d,]+) +\([ \d.]+%\) +([<*]) +[^:]*:(.*?)(?: \([\d,]+x\))? \[[^\]]*\]$/.exec(line)
      if (row === null) {
        if (line.trim() === '') callers = []
        continue
      }
      const [, amount = '0', mark, name = ''] = row
      if (mark === '<') {
        callers.push({ name, cost: cost(amount) })
        continue
      }
      if (TIMERS.test(name)) timers += cost(amount)
      else if (DELAYED_TASKS.test(name)) timers -= cost(amount)
      functions++
      if (TASKS.test(name) || MARKING_ON_ALLOCATION.test(name)) {
        // Once: not again where one task function calls another (node's timer-run task, a clone).
        collectors += cost(amount)
        for (const caller of callers) if (TASKS.test(caller.name)) collectors -= caller.cost
      } else if (COLLECTION.test(name)) {
        const chainAt = name.indexOf("'")
        if (chainAt >= 0) {
          chained++
          if (!COUNTED_ABOVE.test(name.slice(chainAt + 1))) collectors += cost(amount)
        } else {
          // No chain: callgrind knew no caller when the collection began (it was entered before the
          // counting was turned on, say). Its direct callers, if any, still tell.
          chainless++
          collectors += cost(amount)
          for (const caller of callers) if (COUNTED_ABOVE.test(caller.name)) collectors -= caller.cost
        }
      }
      callers = []
    }
  }
  // callgrind_annotate's format changed, or nothing was counted: say so instead of reporting zeros.
  if (total <= 0 || functions === 0) throw new Error(`${dir}: no function read from ${files.join(', ')}`)
  if (chainless > 0 && chained === 0)
    throw new Error(`${dir}: no collection with its call chain (is --separate-callers applied?)`)
  return { total, collectors, timers }
}

const bench = args.keep ?? mkdtempSync(join(tmpdir(), 'tessera-instructions-'))
async function countOne(kind: ContenderKind, run: number): Promise<Window> {
  const dir = join(bench, `${kind}-${run}`)
  const launcher = [
    'valgrind',
    '--tool=callgrind',
    '--instr-atstart=no',
    '--separate-callers20=*Heap::CollectGarbage*',
    `--callgrind-out-file=${dir}/callgrind.out`,
    '--quiet',
  ]
  // Empty, so that only this run's dumps are read (`--keep` may name a directory used before).
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const nodeArgs = [
    '--no-concurrent-recompilation',
    '--single-threaded-gc',
    ...(args['incremental-marking'] ? [] : ['--no-incremental-marking']),
  ]
  let server: ServerProcess
  let token: string
  if (kind === 'tessera-server') {
    const shipped = await startShipped({
      cpu: args.cpu,
      tamper: (t) => t,
      launcher,
      nodeArgs,
      env: { TESSERA_SHUTDOWN_DELAY: '0' },
    })
    server = shipped.server
    token = shipped.tokens.valid
  } else {
    const engine = (await import(pathToFileURL(srcModule('index.js')).href)) as typeof TesseraModule
    const keys = newBenchKeys()
    const auth = engine.createTessera({
      keys: { alg: 'EdDSA', privateKey: keys.privatePem },
      accessTokenTtl: '6h',
    })
    token = await auth.createAccessToken(SUB, { expiresIn: '1h', claims: { roles: ['admin', 'editor'] } })
    server = await startServer(serverScript('http'), [kind, 'EdDSA'], {
      env: { ...process.env, BENCH_KEYS: JSON.stringify(keys) },
      cpu: args.cpu,
      launcher,
      nodeArgs,
      timeoutMs: 600_000,
    })
  }
  try {
    const pid = String(server.child.pid)
    const load = {
      url: `${server.url}/protected`,
      connections,
      headers: { authorization: `Bearer ${token}` },
      seconds: 1800,
    }
    await runLoad({ ...load, amount: warmup })
    const control = (...options: string[]): void => {
      execFileSync('callgrind_control', [...options, pid], { stdio: 'ignore' })
    }
    // callgrind_control can return before a process blocked in a system call (an idle server) has
    // written its dump: wait for the dump's last line.
    const complete = (): number =>
      dumps(dir).filter((f) => /\ntotals: [\d ]+\n?$/.test(readFileSync(join(dir, f), 'utf8'))).length
    const dump = async (): Promise<void> => {
      const before = complete()
      control('-d')
      for (let waited = 0; ; waited += 100) {
        if (complete() > before) return
        if (waited > 120_000) throw new Error(`${kind}: callgrind wrote no dump in ${dir} within 120 s`)
        await sleep(100)
      }
    }
    // Seconds for which the counting was on: from the middle of the `on` call to the middle of the
    // `off` call (each a round trip through vgdb).
    const counting = async (during: () => Promise<void>): Promise<number> => {
      const a = performance.now()
      control('-i', 'on')
      const b = performance.now()
      await during()
      const c = performance.now()
      control('-i', 'off')
      const d = performance.now()
      await dump()
      return ((c + d) / 2 - (a + b) / 2) / 1000
    }
    let result: Awaited<ReturnType<typeof runLoad>> | undefined
    const seconds = await counting(async () => {
      result = await runLoad({ ...load, amount: requests })
    })
    if (result === undefined) throw new Error(`${kind}: no load result`)
    const statuses = Object.keys(result.statusCodeStats)
    if (result.requests.total !== requests || statuses.join() !== '200')
      throw new Error(
        `${kind}: expected ${requests} answers 200, got ${JSON.stringify(result.statusCodeStats)}`,
      )
    const loaded = readCounts(dir, dumps(dir))
    const counted = dumps(dir)
    // The same process with no request for `--idle` seconds: its timers' work (the key set's refresh,
    // metrics, the access log's batch) per second, which the loaded window holds too.
    const quietSeconds = await counting(() => sleep(idle * 1000))
    const quiet = readCounts(
      dir,
      dumps(dir).filter((f) => !counted.includes(f)),
    )
    return { ...loaded, seconds, idlePerSecond: quiet.timers / quietSeconds }
  } finally {
    await server.stop()
  }
}

if (!args['no-build']) compileBuild()
const k = (n: number): string => `${(n / 1000).toFixed(1)} k`
const mutators = new Map<ContenderKind, number[]>()
console.log(
  `node ${process.version}, ${requests} requests counted after ${warmup}, ${connections} connections, EdDSA`,
)
try {
  for (let run = 1; run <= runs; run++) {
    for (const kind of kinds) {
      const { total, collectors, seconds, idlePerSecond } = await countOne(kind, run)
      const raw = (total - collectors) / requests
      const timers = (idlePerSecond * seconds) / requests
      const mutator = raw - timers
      if (!(total > 0 && collectors >= 0 && mutator > 0))
        throw new Error(
          `${kind}: callgrind's counts make no sense (total ${total}, collectors ${collectors})`,
        )
      mutators.set(kind, [...(mutators.get(kind) ?? []), mutator])
      console.log(
        `run ${run} ${kind}: mutator ${k(mutator)} per request (${k(raw)} less the timers' ${k(timers)}: ${k(idlePerSecond)}/s idle × ${seconds.toFixed(0)} s), collectors ${k(collectors / requests)}, total ${k(total / requests)}`,
      )
    }
  }
} finally {
  if (args.keep === undefined) rmSync(bench, { recursive: true, force: true })
}
console.log('\nmutator instructions per request, median (runs):')
for (const [kind, values] of mutators)
  console.log(`  ${kind}: ${k(median(values))} (${values.map(k).join(', ')})`)
const [first, ...others] = kinds
const base = first === undefined ? undefined : mutators.get(first)
for (const other of others) {
  const values = mutators.get(other)
  if (base === undefined || values === undefined) continue
  console.log(`${first} ÷ ${other}: ${(median(base) / median(values)).toFixed(3)}`)
}
