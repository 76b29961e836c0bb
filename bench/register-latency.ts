/**
 * Registration latency with and without the new-password strength check (issue 15: "registration
 * latency unchanged within noise"), and its parts: the median time of one registration over HTTP
 * (`app.inject`, SQLite, logs silent) on a server with the default policy and on one with
 * `passwordMinScore: 0` (no estimate), beside one argon2id hash and one strength estimate through the
 * password threads, all interleaved in one process. Registration runs the hash and the estimate at
 * the same time, so it should cost about the slower of them plus the database work, not their sum; a
 * login (one argon2id verification and the same session writes) is printed beside it.
 *
 *   npx tsx bench/register-latency.ts [--n 40]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildServer } from '../packages/server/src/server/index.js'
import { checkPasswordStrength } from '../packages/server/src/server/password-policy.js'
import { estimateStrength, hashPassword } from '../packages/server/src/server/passwords.js'

const { values } = parseArgs({ options: { n: { type: 'string', default: '40' } } })
const n = Number(values.n)
const dir = mkdtempSync(join(tmpdir(), 'tessera-register-latency-'))
const built = await buildServer({
  dataDir: dir,
  logLevel: 'silent',
  registerRatePerIp: 1_000_000,
  loginRatePerIp: 100_000,
})
const unchecked = await buildServer({
  dataDir: join(dir, 'unchecked'),
  logLevel: 'silent',
  registerRatePerIp: 1_000_000,
  passwordMinScore: 0,
})
const quantile = (xs: number[], q: number): number =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * q)] ?? NaN
const median = (xs: number[]): number => quantile(xs, 0.5)
const time = async (fn: () => Promise<unknown>): Promise<number> => {
  const t = performance.now()
  await fn()
  return performance.now() - t
}
/** POSTs user i's credentials to `url` and checks the status. */
async function post(url: string, i: number, status: number, server = built): Promise<void> {
  const res = await server.app.inject({
    method: 'POST',
    url,
    payload: { username: `user${i}`, password: password(i) },
  })
  if (res.statusCode !== status) throw new Error(`${url} answered ${res.statusCode} ${res.body}`)
}
const password = (i: number): string => `violet tractor ${i} umbrella cascade`
const register: number[] = []
const registerUnchecked: number[] = []
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
    // The order of the two registrations alternates, so neither always runs right after the other.
    const checkedFirst = i % 2 === 0
    if (checkedFirst) register.push(await time(() => post('/auth/register', i, 201)))
    registerUnchecked.push(await time(() => post('/auth/register', i, 201, unchecked)))
    if (!checkedFirst) register.push(await time(() => post('/auth/register', i, 201)))
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
  await unchecked.close()
  rmSync(dir, { recursive: true, force: true })
}
const f = (x: number): string => x.toFixed(1)
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')}; n = ${n}`,
)
const spread = (xs: number[]): string =>
  `median ${f(median(xs))} ms (quartiles ${f(quantile(xs, 0.25))}–${f(quantile(xs, 0.75))})`
console.log(`register (HTTP, inject), default policy: ${spread(register)}`)
console.log(`register without the strength check (passwordMinScore 0): ${spread(registerUnchecked)}`)
const overlap = quantile(register, 0.25) <= quantile(registerUnchecked, 0.75)
console.log(
  `with ÷ without: ${(median(register) / median(registerUnchecked)).toFixed(2)} (${overlap ? 'quartiles overlap: within noise' : 'quartiles apart'})`,
)
console.log(`login (HTTP, inject: one argon2id verification + the same session writes): ${spread(login)}`)
console.log(`argon2id hash median ${f(median(hash))} ms; strength estimate median ${f(median(estimate))} ms`)
console.log(
  `sum ${f(median(hash) + median(estimate))} ms, max ${f(Math.max(median(hash), median(estimate)))} ms`,
)
