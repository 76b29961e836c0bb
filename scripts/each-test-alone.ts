/**
 * Runs every test of the given files or directories alone, one vitest process per test, selected with
 * `-t "^<its full name>$"`, and reports the tests that fail alone (they depend on an earlier test: shared
 * state set in another `it`, a user registered elsewhere, an order).
 *
 *   tsx scripts/each-test-alone.ts test/e2e [test/attacks/login.attacks.test.ts …] [--grep TEXT]… [--bail]
 *
 * Slow (a few seconds per test: a vitest start and usually a server), so not part of CI: run it after
 * changing an e2e or attack file. Exits 1 when any test fails alone or is not found by its name.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { grep: { type: 'string', multiple: true }, bail: { type: 'boolean', default: false } },
})
if (positionals.length === 0) {
  console.error('usage: tsx scripts/each-test-alone.ts FILE|DIR… [--grep TEXT] [--bail]')
  process.exit(2)
}

/** One test as `vitest list --json` names it: its suites and title joined by " > ". */
interface Listed {
  name: string
  file: string
}

/** The part of vitest's JSON report this script reads. */
interface JsonReport {
  testResults: {
    status: string
    message: string
    assertionResults: { fullName: string; status: string; failureMessages: string[] }[]
  }[]
}

type Outcome = 'passed' | 'failed' | 'skipped' | 'not found'

const vitest = (args: readonly string[]): ReturnType<typeof spawnSync> =>
  spawnSync('npx', ['vitest', ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })

function list(paths: readonly string[]): Listed[] {
  const result = vitest(['list', ...paths, '--json'])
  const stdout = String(result.stdout)
  const start = stdout.indexOf('[')
  if (result.status !== 0 || start === -1) {
    throw new Error(`vitest list failed:\n${String(result.stderr)}${stdout}`)
  }
  return JSON.parse(stdout.slice(start)) as Listed[]
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')

/** Runs one test alone; vitest's `-t` matches the full name: suites and title joined by spaces. */
function runAlone(test: Listed, reportDir: string): { outcome: Outcome; detail: string } {
  const fullName = test.name.split(' > ').join(' ')
  const report = join(reportDir, 'report.json')
  rmSync(report, { force: true })
  const result = vitest([
    'run',
    relative(process.cwd(), test.file),
    '-t',
    `^${escapeRegExp(fullName)}$`,
    '--reporter=json',
    // Only the .test.ts file named: no type-checking pass over the .test-d.ts files.
    '--typecheck.enabled=false',
    `--outputFile=${report}`,
  ])
  let parsed: JsonReport
  try {
    parsed = JSON.parse(readFileSync(report, 'utf8')) as JsonReport
  } catch {
    return {
      outcome: 'failed',
      detail: `no report (exit ${String(result.status)}): ${String(result.stderr)}`,
    }
  }
  const ran = parsed.testResults
    .flatMap((file) => file.assertionResults)
    .filter((r) => r.status === 'passed' || r.status === 'failed')
  // A hook that failed (a beforeAll, say) fails the file and marks its tests skipped.
  const fileFailure = parsed.testResults.find((file) => file.status === 'failed')
  if (ran.length === 0 && fileFailure !== undefined) {
    return { outcome: 'failed', detail: fileFailure.message.split('\n').slice(0, 6).join('\n') }
  }
  if (ran.length === 0) {
    const skipped = parsed.testResults.flatMap((f) => f.assertionResults).some((r) => r.fullName === fullName)
    return { outcome: skipped ? 'skipped' : 'not found', detail: '' }
  }
  const failures = ran.filter((r) => r.status === 'failed')
  if (failures.length > 0 || result.status !== 0) {
    const message = failures.flatMap((r) => r.failureMessages).join('\n') || String(result.stderr)
    return { outcome: 'failed', detail: message.split('\n').slice(0, 6).join('\n') }
  }
  return { outcome: 'passed', detail: ran.length > 1 ? `(${ran.length} tests matched the name)` : '' }
}

const greps = values.grep ?? []
const tests = list(positionals).filter((t) => greps.length === 0 || greps.some((g) => t.name.includes(g)))
const reportDir = mkdtempSync(join(tmpdir(), 'each-test-alone-'))
const counts: Record<Outcome, number> = { passed: 0, failed: 0, skipped: 0, 'not found': 0 }
const bad: string[] = []
const started = Date.now()
try {
  for (const [index, test] of tests.entries()) {
    const { outcome, detail } = runAlone(test, reportDir)
    counts[outcome] += 1
    const where = `${relative(process.cwd(), test.file)} > ${test.name}`
    console.log(
      `[${index + 1}/${tests.length}] ${outcome.padEnd(9)} ${where}${detail ? `\n    ${detail}` : ''}`,
    )
    if (outcome === 'failed' || outcome === 'not found') {
      bad.push(`${outcome}: ${where}`)
      if (values.bail) break
    }
  }
} finally {
  rmSync(reportDir, { recursive: true, force: true })
}
const minutes = ((Date.now() - started) / 60_000).toFixed(1)
console.log(
  `\n${tests.length} tests checked in ${minutes} min: ${counts.passed} passed alone, ${counts.failed} failed, ` +
    `${counts.skipped} skipped, ${counts['not found']} not found by name`,
)
for (const line of bad) console.log(`  ${line}`)
process.exit(bad.length > 0 ? 1 : 0)
