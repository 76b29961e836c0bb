/**
 * How much of a protected-route measurement is the process rather than the code: several identical
 * auth servers as `npm start` runs them (every setting at its default, logs to a file), all pinned to
 * the server core, loaded in turn round after round (`GET /protected`, EdDSA, 50 connections,
 * autocannon on the other core); each server's CPU per response is read from /proc. Identical processes
 * can keep different speeds for their whole lives (up to ~1.3 × here), an offset that rounds over the
 * same processes repeat instead of sampling (bench/RESULTS.md §13): why bench/run.ts and bench:ab start
 * fresh processes every round. The second form turns address-space layout randomisation off, to tell
 * that source from others (physical page placement, huge pages).
 *
 *   npm run bench:layout -- [--servers 4] [--rounds 8] [--seconds 4]
 *   setarch "$(uname -m)" -R npx tsx bench/layout.ts     (the same with randomisation off: the
 *                                                        personality is inherited by every server)
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { compileBuild } from './lib/build.js'
import { SERVER_CPU } from './lib/procs.js'
import { cpuPerResponse, startShipped, type ShippedServer } from './lib/shipped.js'
import { median } from './lib/stats.js'

const { values } = parseArgs({
  options: {
    servers: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '4' },
  },
  strict: true,
})
const count = Number(values.servers)
const rounds = Number(values.rounds)
const seconds = Number(values.seconds)
if (!(count >= 2 && rounds >= 1 && seconds > 0))
  throw new Error('usage: npx tsx bench/layout.ts [--servers N≥2] [--rounds N≥1] [--seconds S>0]')

// ADDR_NO_RANDOMIZE (0x0040000) in this process's personality, which the servers inherit.
const personality = Number.parseInt(readFileSync('/proc/self/personality', 'utf8').trim(), 16)
const randomised = (personality & 0x0040000) === 0
console.log(
  `address-space layout randomisation: ${randomised ? 'on' : 'off (setarch -R)'}; ${count} identical servers, ${rounds} rounds of ${seconds} s`,
)

compileBuild()
const servers: ShippedServer[] = []
try {
  for (let i = 0; i < count; i++)
    servers.push(await startShipped({ cpu: SERVER_CPU, tamper: (token) => token }))
  const samples: number[][] = servers.map(() => [])
  for (let round = 0; round < rounds; round++) {
    // Rotate who goes first, so drift within a round is spread over all of them.
    const line: string[] = []
    for (let k = 0; k < count; k++) {
      const i = (k + round) % count
      const us = await cpuPerResponse(servers[i] as ShippedServer, seconds)
      samples[i]?.push(us)
      line.push(`#${i + 1} ${us.toFixed(2)}`)
    }
    console.log(`round ${round + 1}: ${line.join(', ')} µs/response`)
  }
  const medians = samples.map((s) => median(s))
  medians.forEach((m, i) => {
    const s = [...(samples[i] ?? [])].sort((a, b) => a - b)
    console.log(
      `server #${i + 1}: median ${m.toFixed(2)} µs/response (rounds ${(s[0] ?? NaN).toFixed(2)}–${(s.at(-1) ?? NaN).toFixed(2)})`,
    )
  })
  const fastest = Math.min(...medians)
  const slowest = Math.max(...medians)
  console.log(
    `spread of the servers' medians: slowest ÷ fastest ${(slowest / fastest).toFixed(3)} (randomisation ${randomised ? 'on' : 'off'})`,
  )
} finally {
  await Promise.all(servers.map((s) => s.server.stop()))
}
