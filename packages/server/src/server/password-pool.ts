/**
 * Where argon2 runs: a few worker threads of low CPU priority, one per available core.
 *
 * Why not the libuv pool (what `@node-rs/argon2`'s async functions use): it has four threads whatever
 * the core count, they run at the event loop's priority, and a 19 MiB argon2id computation is ~20 ms
 * of solid CPU. On a server with one or two cores, four of them leave the event loop a fraction of the
 * CPU, so every request in flight waits behind the logins (bench/RESULTS.md measured an event-loop
 * delay p99 of 66.7 ms with 20 concurrent logins). Here each worker thread runs the synchronous
 * argon2 functions and, on Linux, lowers its own priority ({@link DEFAULT_PASSWORD_THREAD_NICE};
 * `os.setPriority` changes only the calling thread there): the kernel then runs the event loop first
 * whenever it has work, and hashing takes the cycles left over, so login throughput stays bound by
 * the cores.
 *
 * Jobs queue first come, first served, bounded in number and in waiting time (`maxQueue`,
 * `maxWaitMs`). Idle workers do not keep the process alive; a worker that dies fails its job and is
 * replaced. Failures of the pool itself are {@link PasswordPoolError}s, never
 * a "wrong password".
 *
 * The trade-off: when the event loop alone saturates the cores, hashing gets only a small share
 * (about a tenth of a core at nice 10), so logins slow down before requests of users already signed
 * in do. For an auth server that is the order we want (a login flood must not starve authenticated
 * traffic); give the server more cores, or rate-limit logins harder, if logins must stay fast under
 * such load.
 */
import { availableParallelism } from 'node:os'
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import type { ForeignHash } from './foreign-hashes.js'

/**
 * The pool itself failed (a worker could not start or died, or the pool is closed), as opposed to
 * argon2 refusing its input. Callers must not read it as "wrong password".
 */
export class PasswordPoolError extends Error {
  override name = 'PasswordPoolError'
}

/**
 * The pool works but is saturated: its queue is full, or a job waited past `maxWaitMs`. Expected under
 * a flood of logins (the server answers 503 and logs a warning, not an error).
 */
export class PasswordPoolBusyError extends PasswordPoolError {
  override name = 'PasswordPoolBusyError'
}

/**
 * The password threads' default nice (the server's `passwordThreadNice`). Linux's scheduler weighs a
 * nice-10 thread at 110 against the event loop's 1024: whenever the event loop has work it runs first
 * (bench/RESULTS.md §3: event-loop delay p99 < 5 ms with 20 logins in flight on one core, the same
 * as at nice 19). Nice 19 (weight 15) went further than that buys: the threads then also starved
 * behind the process's own nice-0 helpers (V8's garbage collector threads, libuv) and anything else on
 * the host, so a registration — an argon2id hash and a strength estimate in two threads at once —
 * took half as long again as one without the estimate (bench/register-latency.ts: 13.9 against
 * 9.1 ms; 9.6 against 8.9 ms at nice 10), and under a busy host a first registration waited seconds.
 */
export const DEFAULT_PASSWORD_THREAD_NICE = 10

/** The options passed through to `@node-rs/argon2` (plain data: they cross a thread boundary). */
export interface Argon2Options {
  memoryCost: number
  timeCost: number
  parallelism: number
  outputLen: number
}

/** A strength estimate request: zxcvbn-ts over the first `maxLength` characters, with context words. */
export interface StrengthJob {
  password: string
  /** Words the password must not resemble: the username, the service name. */
  userInputs: string[]
  /** Characters evaluated (zxcvbn's `maxLength`): bounds the cost of a 1024-byte password. */
  maxLength: number
}

/** What zxcvbn-ts found (plain data: it crosses a thread boundary). Never contains the password. */
export interface StrengthResult {
  /** 0 (guessable in a few tries) to 4 (very unguessable). */
  score: number
  /** log10 of the estimated guesses. */
  guessesLog10: number
  /** zxcvbn's explanation of the weakest part, e.g. "This is a heavily used password." */
  warning: string | null
  suggestions: string[]
  /** Dictionaries the cheapest guess used: `passwords-common`, `userInputs`, `commonWords-en`, … */
  dictionaries: string[]
}

type Job =
  | { op: 'hash'; password: string; options: Argon2Options }
  | { op: 'verify'; hash: string; password: string }
  | { op: 'verify-foreign'; foreign: ForeignHash; password: string }
  | ({ op: 'strength' } & StrengthJob)
  | { op: 'ping' }

interface Pending {
  job: Job
  resolve: (value: JobResult) => void
  reject: (error: Error) => void
  /** `performance.now()` when it was queued. */
  queuedAt: number
}

interface Slot {
  worker: Worker
  current: Pending | undefined
}

/**
 * Substitution combinations zxcvbn-ts's l33t matcher tries; it re-runs the whole dictionary search
 * for each one. zxcvbn's default (100) cost one symbol-heavy password seconds. 1 refuses the same
 * l33t spellings of the common-password list as 3 did (p@ssw0rd1, m0nk3y123, s3cr3t1, …: 2,230 of the
 * 2,232 that 10 refuses, out of 2,243; `npx tsx bench/strength.ts` compares them) and makes a typical passphrase's
 * estimate about a third cheaper than 3, so the estimate takes no longer than the argon2id hash it
 * runs beside at registration (bench/register-latency.ts).
 */
export const L33T_MAX_SUBSTITUTIONS = 1

// CommonJS run by `new Worker(..., { eval: true })`: no separate file, so it works the same from
// `dist/` and from the TypeScript sources under a test runner.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
if (workerData.nice !== 0) {
  try { require('node:os').setPriority(workerData.nice) } catch {}
}
const argon2 = require(workerData.argon2)
const crypto = require('node:crypto')
let bcryptjs
// Imported hashes (foreign-hashes.ts parsed them): node:crypto's primitives, a constant-time compare.
function verifyForeign(f, password) {
  if (f.scheme === 'bcrypt') {
    bcryptjs ??= require(workerData.bcrypt)
    return bcryptjs.compareSync(password, f.hash)
  }
  const secret = Buffer.from(password, 'utf8')
  const salt = Buffer.from(f.salt, 'base64')
  const expected = Buffer.from(f.expected, 'base64')
  const actual = f.scheme === 'werkzeug-scrypt'
    ? crypto.scryptSync(secret, salt, expected.length, {
        N: f.n, r: f.r, p: f.p, maxmem: 128 * f.n * f.r * (f.p + 2) + 1048576,
      })
    : crypto.pbkdf2Sync(secret, salt, f.iterations, expected.length, f.digest)
  return crypto.timingSafeEqual(actual, expected)
}
// zxcvbn-ts and its ~7 MB of dictionaries load on this thread's first strength job, never on the
// event loop, and only in processes that check a new password.
const estimators = new Map()
function strength(job) {
  let estimator = estimators.get(job.maxLength)
  if (estimator === undefined) {
    const { ZxcvbnFactory } = require(workerData.zxcvbn.core)
    const common = require(workerData.zxcvbn.common)
    const en = require(workerData.zxcvbn.en)
    estimator = new ZxcvbnFactory({
      dictionary: { ...common.dictionary, ...en.dictionary },
      graphs: common.adjacencyGraphs,
      translations: en.translations,
      maxLength: job.maxLength,
      l33tMaxSubstitutions: ${L33T_MAX_SUBSTITUTIONS},
    })
    estimators.set(job.maxLength, estimator)
  }
  const result = estimator.check(job.password, job.userInputs)
  const dictionaries = new Set()
  for (const match of result.sequence) if (match.dictionaryName) dictionaries.add(match.dictionaryName)
  return {
    score: result.score,
    guessesLog10: result.guessesLog10,
    warning: result.feedback.warning || null,
    suggestions: result.feedback.suggestions,
    dictionaries: [...dictionaries],
  }
}
parentPort.on('message', (job) => {
  try {
    const result = job.op === 'ping'
      ? true
      : job.op === 'hash'
      ? argon2.hashSync(job.password, job.options)
      : job.op === 'verify'
        ? argon2.verifySync(job.hash, job.password)
        : job.op === 'verify-foreign'
          ? verifyForeign(job.foreign, job.password)
          : strength(job)
    parentPort.postMessage({ ok: true, result })
  } catch (error) {
    parentPort.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) })
  }
})
`

function zxcvbnPaths(): { core: string; common: string; en: string } {
  const require = createRequire(import.meta.url)
  return {
    core: require.resolve('@zxcvbn-ts/core'),
    common: require.resolve('@zxcvbn-ts/language-common'),
    en: require.resolve('@zxcvbn-ts/language-en'),
  }
}

/** A fixed set of low-priority threads computing argon2 jobs in order. */
export interface PasswordPool {
  readonly size: number
  hash(password: string, options: Argon2Options): Promise<string>
  verify(hash: string, password: string): Promise<boolean>
  /** Verifies against an imported hash (pbkdf2, scrypt, bcrypt): see foreign-hashes.ts. */
  verifyForeign(foreign: ForeignHash, password: string): Promise<boolean>
  /** Estimates a new password's strength with zxcvbn-ts (see password-policy.ts). */
  strength(job: StrengthJob): Promise<StrengthResult>
  /**
   * Answers from a thread, starting it (and loading argon2 there) if none is idle: calling it `size`
   * times at once starts every thread.
   */
  ping(): Promise<void>
  /** Stops the threads; jobs still queued or running are rejected. */
  close(): Promise<void>
}

/** Options of {@link createPasswordPool}. */
export interface PasswordPoolOptions {
  size?: number
  nice?: number
  /** Absolute path of `@node-rs/argon2`'s entry point, where a bundler moved it. */
  argon2?: string
  /** Absolute path of `bcryptjs`'s CommonJS entry point, where a bundler moved it. */
  bcrypt?: string
  /** Entry points of `@zxcvbn-ts/core`, `language-common` and `language-en` (CommonJS builds). */
  zxcvbn?: { core: string; common: string; en: string }
  /**
   * Jobs that may wait for a thread; one more is refused at once ({@link PasswordPoolError}: the
   * server answers 503 with `Retry-After`). Bounds the memory a flood of logins can hold (each waiting
   * job holds its password). @default 256 per thread
   */
  maxQueue?: number
  /**
   * Milliseconds a job may wait for a thread: one that waited longer is refused when its turn comes,
   * without computing anything. The server passes its request deadline, after which the request was
   * answered already; so after a burst the threads do not go on hashing for requests long gone.
   * @default Infinity
   */
  maxWaitMs?: number
}

/**
 * Creates a pool. `size` defaults to `os.availableParallelism()` (which honours CPU affinity, so a
 * pinned or cgroup-limited server gets what it may use); `nice` is applied on Linux only, where it is
 * per thread (elsewhere it would lower the whole process).
 */
export function createPasswordPool({
  size = availableParallelism(),
  nice = DEFAULT_PASSWORD_THREAD_NICE,
  argon2 = createRequire(import.meta.url).resolve('@node-rs/argon2'),
  bcrypt = createRequire(import.meta.url).resolve('bcryptjs'),
  zxcvbn = zxcvbnPaths(),
  maxQueue,
  maxWaitMs = Number.POSITIVE_INFINITY,
}: PasswordPoolOptions = {}): PasswordPool {
  const threads = Math.max(1, size)
  const pool: PoolState = {
    workerData: { argon2, bcrypt, zxcvbn, nice: process.platform === 'linux' ? nice : 0 },
    slots: Array.from({ length: threads }, () => undefined),
    queue: [],
    closed: false,
    maxQueue: maxQueue ?? threads * 256,
    maxWaitMs,
  }
  const submit = (job: Job): Promise<JobResult> =>
    new Promise((resolve, reject) => {
      if (pool.closed) {
        reject(new PasswordPoolError('the password pool is closed'))
        return
      }
      if (pool.queue.length >= pool.maxQueue) {
        reject(
          new PasswordPoolBusyError(
            `the password threads are busy (${String(pool.queue.length)} jobs waiting)`,
          ),
        )
        return
      }
      pool.queue.push({ job, resolve, reject, queuedAt: performance.now() })
      try {
        const idle = findIdleSlot(pool)
        // A thread was free (or started) for it: the job did not wait, however long starting took.
        if (idle !== undefined) dispatch(pool, idle, false)
      } catch (cause) {
        // No job may stay queued (holding a password) behind a worker that never started.
        failQueue(pool, cause)
      }
    })

  return {
    size: pool.slots.length,
    hash: (password, options) => submit({ op: 'hash', password, options }) as Promise<string>,
    verify: (hash, password) => submit({ op: 'verify', hash, password }) as Promise<boolean>,
    verifyForeign: (foreign, password) =>
      submit({ op: 'verify-foreign', foreign, password }) as Promise<boolean>,
    strength: (job) =>
      submit({
        op: 'strength',
        password: job.password,
        userInputs: job.userInputs,
        maxLength: job.maxLength,
      }) as Promise<StrengthResult>,
    ping: async () => {
      await submit({ op: 'ping' })
    },
    async close() {
      pool.closed = true
      for (const pending of pool.queue.splice(0))
        pending.reject(new PasswordPoolError('the password pool is closed'))
      await Promise.all(pool.slots.flatMap((slot) => (slot === undefined ? [] : [slot.worker.terminate()])))
    },
  }
}

type JobResult = string | boolean | StrengthResult

/** The threads (started on demand) and the jobs waiting for one. */
interface PoolState {
  readonly workerData: { argon2: string; bcrypt: string; zxcvbn: object; nice: number }
  readonly slots: (Slot | undefined)[]
  readonly queue: Pending[]
  closed: boolean
  readonly maxQueue: number
  readonly maxWaitMs: number
}

/** The first slot without a job, starting its thread if it has none yet. */
function findIdleSlot(pool: PoolState): Slot | undefined {
  for (let i = 0; i < pool.slots.length; i++) {
    const slot = pool.slots[i] ?? startSlot(pool, i)
    if (slot.current === undefined) return slot
  }
  return undefined
}

/** Starts the thread of slot `index`; throws when it cannot. */
function startSlot(pool: PoolState, index: number): Slot {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: pool.workerData })
  const slot: Slot = { worker, current: undefined }
  worker.unref()
  worker.on('message', (message: { ok: true; result: JobResult } | { ok: false; message: string }) => {
    const pending = slot.current
    slot.current = undefined
    if (pending !== undefined) {
      if (message.ok) pending.resolve(message.result)
      else pending.reject(new Error(message.message))
    }
    dispatch(pool, slot)
  })
  worker.on('error', (error) => {
    lost(pool, index, slot, error)
  })
  worker.on('exit', (code) => {
    lost(pool, index, slot, new PasswordPoolError(`the password worker thread exited (${String(code)})`))
  })
  pool.slots[index] = slot
  return slot
}

/** A thread died: its job fails, and a replacement takes the queue over (or the queue fails). */
function lost(pool: PoolState, index: number, slot: Slot, error: Error): void {
  if (pool.slots[index] !== slot) return
  pool.slots[index] = undefined
  const pending = slot.current
  slot.current = undefined
  pending?.reject(error instanceof PasswordPoolError ? error : new PasswordPoolError(error.message))
  if (!pool.closed && pool.queue.length > 0) {
    try {
      dispatch(pool, startSlot(pool, index))
    } catch (cause) {
      failQueue(pool, cause)
    }
  }
}

/**
 * Gives `slot` the next queued job, or lets it idle. When `waited` (a thread finished or was
 * replaced), jobs that waited longer than `maxWaitMs` are refused first.
 */
function dispatch(pool: PoolState, slot: Slot, waited = true): void {
  let pending = pool.queue.shift()
  const now = waited ? performance.now() : Number.NEGATIVE_INFINITY
  while (pending !== undefined && now - pending.queuedAt > pool.maxWaitMs) {
    pending.reject(
      new PasswordPoolBusyError(`waited more than ${String(pool.maxWaitMs)} ms for a password thread`),
    )
    pending = pool.queue.shift()
  }
  if (pending === undefined) {
    // Idle: an idle thread must not keep a finished CLI command alive.
    slot.worker.unref()
    return
  }
  slot.current = pending
  slot.worker.ref()
  slot.worker.postMessage(pending.job)
}

function failQueue(pool: PoolState, cause: unknown): void {
  const error = new PasswordPoolError(
    `a password worker thread could not start: ${cause instanceof Error ? cause.message : String(cause)}`,
  )
  for (const pending of pool.queue.splice(0)) pending.reject(error)
}
