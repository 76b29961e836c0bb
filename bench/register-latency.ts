/**
 * Registration latency against its parts (issue 15): the median time of one registration over HTTP
 * (`app.inject`, SQLite, logs silent) beside one argon2id hash and one strength estimate through the
 * password threads, interleaved in one process. Registration runs the two at the same time, so it
 * should cost about the slower of them plus the database work, not their sum; a login (one argon2id
 * verification and the same session writes) is printed beside it for that database work.
 *
 *   npx tsx bench/register-latency.ts [--n 15]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildServer } from '../packages/server/src/server/index.js'
import { checkPasswordStrength } from '../packages/server/src/server/password-policy.js'
import { estimateStrength, hashPassword } from '../packages/server/src/server/passwords.js'

const { values } = parseArgs({ options: { n: { type: 'string', default: '15' } } })
const n = Number(values.n)
const dir = mkdtempSync(join(tmpdir(), 'tessera-register-latency-'))
const built = await buildServer({ dataDir: dir, logLevel: 'silent', registerRatePerIp: 1_000_000 })
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN
const time = async (fn: () => Promise<unknown>): Promise<number> => {
  const t = performance.now()
  await fn()
  return performance.now() - t
}
/** POSTs user i's credentials to `url` and checks the status. */
async function post(url: string, i: number, status: number): Promise<void> {
  const res = await built.app.inject({
    method: 'POST',
    url,
    payload: { username: `user${i}`, password: password(i) },
  })
  if (res.statusCode !== status) throw new Error(`${url} answered ${res.statusCode} ${res.body}`)
}
const password = (i: number): string => `violet tractor ${i} umbrella cascade`
const register: number[] = []
const hash: number[] = []
const estimate: number[] = []
const login: number[] = []
try {
  // Warm-up: the threads load zxcvbn's dictionaries on their first estimate.
  await checkPasswordStrength(
    password(0),
    { minLength: 8, minScore: 3 },
    { username: 'w', serviceNames: [] },
    estimateStrength,
  )
  for (let i = 1; i <= n; i++) {
    register.push(await time(() => post('/auth/register', i, 201)))
    login.push(await time(() => post('/auth/login', i, 200)))
    hash.push(await time(() => hashPassword(password(i))))
    estimate.push(
      await time(() =>
        checkPasswordStrength(
          password(i),
          { minLength: 8, minScore: 3 },
          { username: `user${i}`, serviceNames: ['tessera'] },
          estimateStrength,
        ),
      ),
    )
  }
} finally {
  await built.close()
  rmSync(dir, { recursive: true, force: true })
}
const f = (x: number): string => x.toFixed(1)
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')}; n = ${n}`,
)
console.log(`register (HTTP, inject) median ${f(median(register))} ms`)
console.log(
  `login (HTTP, inject: one argon2id verification + the same session writes) median ${f(median(login))} ms`,
)
console.log(`argon2id hash median ${f(median(hash))} ms; strength estimate median ${f(median(estimate))} ms`)
console.log(
  `sum ${f(median(hash) + median(estimate))} ms, max ${f(Math.max(median(hash), median(estimate)))} ms`,
)
