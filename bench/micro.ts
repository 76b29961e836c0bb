/**
 * In-process micro-benchmark of the JWS engine: HS256 and EdDSA verify and sign, Tessera against a bare
 * node:crypto reference ("the physical limit"), fast-jwt, jose and jsonwebtoken.
 *
 *   npx tsx bench/micro.ts            full: 3 runs, each in a fresh process; writes bench/RESULTS.md
 *   npx tsx bench/micro.ts --smoke    a couple of seconds in this process, for CI; writes nothing
 *
 * Tessera is measured as tsc compiles it (what dist/ ships): full mode first compiles the working
 * tree's src/ into bench/.out/engine. Loading src/ through tsx instead costs Tessera ~20 % on this
 * path (esbuild's keepNames wraps every closure created per call), which a benchmark must not count;
 * the table keeps one such row for reference. --smoke loads src/ through tsx to stay fast.
 *
 * Options (full mode): --runs N (3), --rounds N (3), --time MS per case and round (400),
 * --pin CPU (run the measuring processes under `taskset -c CPU`), --only ID,ID (id prefixes; the
 * group references are always kept; implies --no-write), --no-write, --engine build|src,
 * --results FILE (where the markdown goes instead of bench/RESULTS.md: bench/run.ts uses it to put
 * this section after its own).
 */
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { buildSuite, type BenchCase, type Engine } from './lib/cases.js'
import { machineInfo, renderResults, renderTables, verdictLines } from './lib/report.js'
import { aggregate, measureRounds, type RunResult } from './lib/stats.js'

const repoDir = fileURLToPath(new URL('..', import.meta.url))
const outDir = fileURLToPath(new URL('.out/', import.meta.url))
const engineDir = fileURLToPath(new URL('.out/engine/', import.meta.url))
const bufferEngineDir = fileURLToPath(new URL('.out/engine-buffer/', import.meta.url))
const resultsFile = fileURLToPath(new URL('RESULTS.md', import.meta.url))

const { values: args } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    time: { type: 'string', default: '400' },
    pin: { type: 'string' },
    only: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    engine: { type: 'string' },
    results: { type: 'string' },
    // Internal: one measuring run, results written as JSON to --out.
    child: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
  strict: true,
})

const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

function positive(value: string, name: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new Error(`--${name} must be a positive integer, got ${value}`)
  return n
}

function select(cases: BenchCase[]): BenchCase[] {
  if (args.only === undefined) return cases
  const prefixes = args.only.split(',').filter((p) => p !== '')
  const chosen = cases.filter((c) => prefixes.some((p) => c.id.startsWith(p)))
  const groups = new Set(chosen.map((c) => c.group))
  return cases.filter((c) => chosen.includes(c) || (c.role === 'reference' && groups.has(c.group)))
}

type EngineKind = 'build' | 'src'

/**
 * Compiles src/ with the repository's build settings into bench/.out/engine (no declarations, maps),
 * and a copy, bench/.out/engine-buffer, whose keys.ts hands createHmac the secret's bytes instead of
 * the KeyObject: the same engine otherwise, to measure whether the key's form matters.
 */
function compileEngine(): void {
  rmSync(engineDir, { recursive: true, force: true })
  // Only src/index.ts and what it imports, with the build's settings: unrelated work in progress
  // elsewhere in src/ cannot stop the benchmark.
  const tsconfig = `${outDir}tsconfig.engine.json`
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: '../../packages/tessera/tsconfig.build.json',
      compilerOptions: {
        rootDir: '../../packages/tessera/src',
        outDir: './engine',
        declaration: false,
        declarationMap: false,
        sourceMap: false,
      },
      include: [],
      files: ['../../packages/tessera/src/index.ts'],
    }),
  )
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const result = spawnSync(process.execPath, [tsc, '-p', tsconfig], {
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  if (result.status !== 0)
    throw new Error('tsc could not compile src/index.ts (see above); or pass --engine src')

  rmSync(bufferEngineDir, { recursive: true, force: true })
  cpSync(engineDir, bufferEngineDir, { recursive: true })
  const keysFile = `${bufferEngineDir}core/keys.js`
  const source = readFileSync(keysFile, 'utf8')
  let unpacked = 0
  let calls = 0
  const patched = source
    .replace(/const \{ secret, (\w+) \} = parts;/g, (match) => {
      unpacked++
      return `${match} const secretBytes = secret?.export();`
    })
    .replace(/createHmac\(([^,()]+), secret\)/g, (_match, hash: string) => {
      calls++
      return `createHmac(${hash}, secretBytes)`
    })
  if (unpacked < 2 || calls < 2) {
    log('note: keys.js no longer matches the Buffer patch; the Buffer-secret row is left out')
    rmSync(bufferEngineDir, { recursive: true, force: true })
    return
  }
  writeFileSync(keysFile, patched)
}

async function loadEngine(kind: EngineKind | 'buffer'): Promise<Engine | undefined> {
  if (kind === 'buffer' && !existsSync(bufferEngineDir)) return undefined
  const url =
    kind === 'src'
      ? new URL('../packages/tessera/src/index.js', import.meta.url)
      : pathToFileURL(`${kind === 'build' ? engineDir : bufferEngineDir}index.js`)
  return (await import(url.href)) as Engine
}

async function main(): Promise<void> {
  const engineKind = args.engine ?? (args.smoke ? 'src' : 'build')
  if (engineKind !== 'build' && engineKind !== 'src') throw new Error('--engine must be "build" or "src"')
  mkdirSync(outDir, { recursive: true })
  if (engineKind === 'build' && !args.child) compileEngine()
  const engine = await loadEngine(engineKind)
  if (engine === undefined) throw new Error(`engine ${engineKind} not found`)
  const suite = await buildSuite(
    engine,
    engineKind === 'build' ? { src: await loadEngine('src'), bufferSecret: await loadEngine('buffer') } : {},
  )
  const cases = select(suite.cases)
  if (cases.length === 0) throw new Error(`--only ${args.only ?? ''} matches no case`)
  // Every contender must accept the token (and refuse a tampered one) before anything is timed.
  for (const c of cases) await c.check()

  if (args.child) {
    if (args.out === undefined) throw new Error('--child needs --out')
    const result = await measureRounds(cases, {
      rounds: positive(args.rounds, 'rounds'),
      minCpuMs: positive(args.time, 'time'),
      batch: 256,
      minSamples: 12,
      warmupMs: 100,
      log,
    })
    writeFileSync(args.out, JSON.stringify(result))
    return
  }

  if (args.smoke) {
    const started = performance.now()
    const result = await measureRounds(cases, {
      rounds: 1,
      minCpuMs: 10,
      batch: 64,
      minSamples: 4,
      warmupMs: 10,
      log: () => {},
    })
    const rows = aggregate(cases, [result])
    console.log(renderTables(rows, suite, { runs: 1 }))
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    console.log(
      `\nsmoke: ${cases.length} cases checked (each accepts its token, refuses a tampered one, or signs a ` +
        `token Tessera and jose verify) and timed in ${seconds} s. The numbers are too short-lived to ` +
        `judge anything${engineKind === 'src' ? ', and Tessera ran from src/ through tsx' : ''}: ` +
        'run the full mode for the verdict.',
    )
    return
  }

  const runs = positive(args.runs, 'runs')
  const rounds = positive(args.rounds, 'rounds')
  const time = positive(args.time, 'time')
  const machineBefore = machineInfo()
  const startedAt = new Date()
  const results: RunResult[] = []
  for (let run = 1; run <= runs; run++) {
    const out = `${outDir}run-${run}.json`
    const node = [
      ...process.execArgv,
      '--expose-gc',
      fileURLToPath(import.meta.url),
      '--child',
      '--out',
      out,
      '--rounds',
      String(rounds),
      '--time',
      String(time),
      '--engine',
      engineKind,
      ...(args.only === undefined ? [] : ['--only', args.only]),
    ]
    const [command, commandArgs] =
      args.pin === undefined
        ? [process.execPath, node]
        : ['taskset', ['-c', args.pin, process.execPath, ...node]]
    log(`run ${run}/${runs}${args.pin === undefined ? '' : ` (taskset -c ${args.pin})`}`)
    const child = spawnSync(command, commandArgs, { stdio: ['ignore', 'inherit', 'inherit'], cwd: repoDir })
    if (child.status !== 0)
      throw new Error(`run ${run} failed (${child.error?.message ?? `exit ${child.status}`})`)
    results.push(JSON.parse(readFileSync(out, 'utf8')) as RunResult)
  }
  const rows = aggregate(cases, results)
  console.log(renderTables(rows, suite, { runs }))
  console.log(verdictLines(rows).join('\n'))
  if (args['no-write'] || args.only !== undefined) return
  const command = ['npx tsx bench/micro.ts', ...process.argv.slice(2)].join(' ')
  const markdown = await renderResults({
    rows,
    suite,
    command,
    startedAt,
    finishedAt: new Date(),
    runs,
    rounds,
    time,
    engine: engineKind,
    pin: args.pin,
    machineBefore,
    machineAfter: machineInfo(),
  })
  const target = args.results ?? resultsFile
  writeFileSync(target, markdown)
  log(`wrote ${target}`)
}

await main()
