// Cost of the new-password strength check (issue 15): per call through the password worker threads (what
// the server does), the longest event-loop block meanwhile, and — for comparison — the same zxcvbn-ts
// estimate run on the event loop, which is why the server does not do that.
//
//   npx tsx bench/strength.ts            # 3 rounds
//   npx tsx bench/strength.ts --smoke    # 1 round
import { randomBytes } from 'node:crypto'
import { loadavg } from 'node:os'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { checkPasswordStrength, STRENGTH_MAX_CHARS } from '../packages/server/src/server/password-policy.js'
import { L33T_MAX_SUBSTITUTIONS } from '../packages/server/src/server/password-pool.js'
import { estimateStrength } from '../packages/server/src/server/passwords.js'

const rounds = process.argv.includes('--smoke') ? 1 : 3
const random = (n: number): string =>
  Array.from(randomBytes(n), (b) => String.fromCharCode(33 + (b % 94))).join('')
const INPUTS: [string, string][] = [
  ['common (password1)', 'password1'],
  ['passphrase (28 chars)', 'correct horse battery staple'],
  ['like the username', 'alice2024!'],
  ['random, 100 chars', random(100)],
  ['repeated, 1024 bytes', 'aB3$'.repeat(256)],
  ['random, 1024 bytes', random(1024)],
]
const policy = { minLength: 8, minScore: 3 }
const context = { username: 'alice', serviceNames: ['tessera'] }
const ms = (n: number): string => n.toFixed(2)

console.log(
  `load average before: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} (shared machine)`,
)

// Warm-up: the first estimate loads the dictionaries inside each worker thread.
const warmStart = performance.now()
await Promise.all(
  [0, 1, 2, 3].map(() => checkPasswordStrength('warm-up passphrase', policy, context, estimateStrength)),
)
console.log(`first estimates (dictionaries loading in the workers): ${ms(performance.now() - warmStart)} ms`)

// Baseline: the event-loop delay of this process doing nothing, on this (shared) machine.
const idle = monitorEventLoopDelay({ resolution: 1 })
idle.enable()
await new Promise((resolve) => setTimeout(resolve, 2000))
idle.disable()
console.log(
  `idle event-loop delay (2 s, nothing running): max ${ms(idle.max / 1e6)} ms, p99 ${ms(idle.percentile(99) / 1e6)} ms`,
)

const loop = monitorEventLoopDelay({ resolution: 1 })
const elu = performance.eventLoopUtilization()
let calls = 0
loop.enable()
console.log('\nthrough the password threads (the server path):')
for (const [label, password] of INPUTS) {
  const times: number[] = []
  for (let r = 0; r < rounds * 5; r++) {
    const start = performance.now()
    await checkPasswordStrength(password, policy, context, estimateStrength)
    calls += 1
    times.push(performance.now() - start)
  }
  times.sort((a, b) => a - b)
  console.log(
    `  ${label.padEnd(24)} median ${ms(times[times.length >> 1] ?? 0)} ms, max ${ms(times.at(-1) ?? 0)} ms`,
  )
}
loop.disable()
const used = performance.eventLoopUtilization(elu)
console.log(
  `  event-loop delay meanwhile: max ${ms(loop.max / 1e6)} ms, p99 ${ms(loop.percentile(99) / 1e6)} ms`,
)
console.log(
  `  main-thread busy time: ${ms(used.active)} ms for ${calls} checks (${ms(used.active / calls)} ms per check; utilisation ${(used.utilization * 100).toFixed(1)} %)`,
)

// The same estimate on the event loop: what each call would block it for.
const load = performance.now()
const { ZxcvbnFactory } = await import('@zxcvbn-ts/core')
const common = await import('@zxcvbn-ts/language-common')
const en = await import('@zxcvbn-ts/language-en')
const zxcvbn = new ZxcvbnFactory({
  dictionary: { ...common.dictionary, ...en.dictionary },
  graphs: common.adjacencyGraphs,
  translations: en.translations,
  maxLength: STRENGTH_MAX_CHARS,
  l33tMaxSubstitutions: 10,
})
console.log(`\non the event loop (not what the server does): loading ${ms(performance.now() - load)} ms`)
for (const [label, password] of INPUTS) {
  let max = 0
  for (let r = 0; r < rounds * 5; r++) {
    const start = performance.now()
    zxcvbn.check(password, ['alice', 'tessera'])
    max = Math.max(max, performance.now() - start)
  }
  console.log(`  ${label.padEnd(24)} blocks up to ${ms(max)} ms`)
}
// The l33t bound: the server's verdicts (and 3's) against zxcvbn-ts with 10 combinations, over l33t
// spellings of the common-password list (a few spellings of each of its first all-letter words).
const withBound = (l33tMaxSubstitutions: number): InstanceType<typeof ZxcvbnFactory> =>
  new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
    maxLength: STRENGTH_MAX_CHARS,
    l33tMaxSubstitutions,
  })
const bounds = [...new Set([L33T_MAX_SUBSTITUTIONS, 3])].map((bound) => ({ bound, zxcvbn: withBound(bound) }))
const words = common.dictionary['passwords-common']
  .filter((w): w is string => typeof w === 'string' && /^[a-z]{6,}$/.test(w))
  .slice(0, rounds === 1 ? 60 : 600)
const spellings = words.flatMap((w) =>
  [
    w.replace(/a/g, '@').replace(/o/g, '0'),
    `${w.replace(/e/g, '3').replace(/s/g, '$')}1`,
    `${w.replace(/i/g, '1').replace(/a/g, '4')}!`,
    `${(w[0] ?? '').toUpperCase()}${w.slice(1).replace(/o/g, '0').replace(/e/g, '3')}2024`,
  ].filter((v) => v !== w),
)
const refused10 = spellings.filter((p) => zxcvbn.check(p).score < policy.minScore)
console.log(
  `\nl33t bound, minimum score ${policy.minScore}: ${spellings.length} l33t spellings of common passwords, ${refused10.length} refused with 10 combinations`,
)
for (const { bound, zxcvbn: z } of bounds) {
  const accepted = refused10.filter((p) => z.check(p).score >= policy.minScore)
  const timer = performance.now()
  for (let i = 0; i < 50; i++) z.check(`violet tractor ${i} umbrella cascade`, ['alice', 'tessera'])
  console.log(
    `  ${bound}${bound === L33T_MAX_SUBSTITUTIONS ? " (the server's)" : ''}: ${accepted.length} of those accepted${accepted.length === 0 ? '' : ` (${accepted.slice(0, 10).join(', ')})`}; a passphrase's estimate ${ms((performance.now() - timer) / 50)} ms`,
  )
}

console.log(
  `\nload average after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
)
process.exit(0)
