/**
 * The auth server as `npm start` runs it, at another commit against this working tree, paired: both
 * servers pinned to one core with every setting at its default (logs to a file, as
 * `npm start > server.log`), loaded alternately (`GET /protected`, EdDSA, 50 connections, autocannon on
 * the other core), their CPU per response read from /proc. For a change to the server's per-request
 * path on a machine too noisy for separate runs to be compared (bench/RESULTS.md §11).
 *
 *   npm run bench:ab -- --base <commit> [--rounds 16] [--seconds 3] [--token valid|bad]
 *
 * `--token bad` loads both with a bad-signature token (every answer 401): the refusal path.
 *
 * Each round starts both servers afresh (identical processes differ in speed for their whole lives,
 * bench/RESULTS.md §13): the median over rounds samples that, one pair would not.
 *
 * The base is checked out in a temporary git worktree sharing this tree's node_modules and compiled by
 * its own bench build. Both servers import the library (`tessera`) by name, i.e. this tree's
 * packages/tessera/dist: the comparison is of the server package's code.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type * as BuildModule from './lib/build.js'
import { compileBuild } from './lib/build.js'
import { SERVER_CPU } from './lib/procs.js'
import type * as ShippedModule from './lib/shipped.js'
import { cpuPerResponse, startShipped, type ShippedServer } from './lib/shipped.js'

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '3' },
    token: { type: 'string', default: 'valid' },
  },
  strict: true,
})
if (values.base === undefined || (values.token !== 'valid' && values.token !== 'bad'))
  throw new Error('usage: npm run bench:ab -- --base <commit> [--token valid|bad]')
const token = values.token
const rounds = Number(values.rounds)
const seconds = Number(values.seconds)
const root = fileURLToPath(new URL('../', import.meta.url))
const tamper = (token: string): string =>
  `${token.slice(0, -3)}${token.at(-3) === 'A' ? 'B' : 'A'}${token.slice(-2)}`

const worktree = join(mkdtempSync(join(tmpdir(), 'tessera-ab-')), 'base')
execFileSync('git', ['worktree', 'add', '--detach', worktree, values.base], { cwd: root, stdio: 'ignore' })
const servers: ShippedServer[] = []
try {
  symlinkSync(join(root, 'node_modules'), join(worktree, 'node_modules'))
  compileBuild()
  const base = (await import(join(worktree, 'bench/lib/build.ts'))) as typeof BuildModule
  base.compileBuild()
  const baseShipped = (await import(join(worktree, 'bench/lib/shipped.ts'))) as typeof ShippedModule
  // A fresh pair of processes every round: identical processes differ in speed by up to ~1.3 × for
  // their whole lives (bench/RESULTS.md §13), so one pair for all rounds would compare one draw of
  // that luck, not the two trees.
  const startPair = async (): Promise<[ShippedServer, ShippedServer]> => {
    await Promise.all(servers.splice(0).map((s) => s.server.stop()))
    const current = await startShipped({ cpu: SERVER_CPU, tamper })
    servers.push(current)
    const old = await baseShipped.startShipped({ cpu: SERVER_CPU, tamper })
    servers.push(old)
    return [current, old]
  }
  const ratios: number[] = []
  for (let round = 1; round <= rounds; round++) {
    const [current, old] = await startPair()
    // Alternate which goes first, so drift within a round hits both alike.
    const [first, second] = round % 2 === 1 ? [current, old] : [old, current]
    const a = await cpuPerResponse(first, seconds, token)
    const b = await cpuPerResponse(second, seconds, token)
    const [now, then] = round % 2 === 1 ? [a, b] : [b, a]
    ratios.push(then / now)
    console.log(
      `round ${round}: this tree ${now.toFixed(2)} µs/response, ${values.base} ${then.toFixed(2)}: capacity ratio ${(then / now).toFixed(3)}`,
    )
  }
  const sorted = [...ratios].sort((x, y) => x - y)
  const median = sorted[Math.floor(sorted.length / 2)] ?? NaN
  console.log(
    `capacity, this tree ÷ ${values.base}: median ${median.toFixed(3)} (${(sorted[0] ?? NaN).toFixed(3)}–${(sorted.at(-1) ?? NaN).toFixed(3)}) over ${rounds} rounds of ${seconds} s`,
  )
} finally {
  await Promise.all(servers.map((s) => s.server.stop()))
  execFileSync('git', ['worktree', 'remove', '--force', worktree], { cwd: root, stdio: 'ignore' })
  rmSync(join(worktree, '..'), { recursive: true, force: true })
}
