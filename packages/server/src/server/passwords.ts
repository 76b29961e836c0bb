/**
 * Password hashing: argon2id with the OWASP parameters, computed by @node-rs/argon2 off the event
 * loop, in low-priority worker threads (password-pool.ts).
 *
 * Passwords are NFKC-normalised before hashing (NIST SP 800-63B §5.1.1.2), so one password typed on
 * two keyboards that produce different code points for the same characters still matches.
 */
import { randomBytes } from 'node:crypto'
import { parseForeignHash, type ForeignHash } from './foreign-hashes.js'
import { STRENGTH_MAX_CHARS } from './password-policy.js'
import {
  createPasswordPool,
  DEFAULT_PASSWORD_THREAD_NICE,
  PasswordPoolError,
  type PasswordPool,
  type StrengthJob,
  type StrengthResult,
} from './password-pool.js'

// Every argon2 computation of the process runs in one pool of low-priority threads, one per core
// (see password-pool.ts for why not the libuv pool), created on first use.
let pool: PasswordPool | undefined
let poolOptions: { nice: number; maxWaitMs: number } = {
  nice: DEFAULT_PASSWORD_THREAD_NICE,
  maxWaitMs: Number.POSITIVE_INFINITY,
}

/**
 * The options of the pool this process creates on first use: the threads' `nice` (the server's
 * `passwordThreadNice`) and how long a job may wait for a thread (the server's request deadline; see
 * `maxWaitMs` in password-pool.ts). A pool already running keeps its own.
 */
export function configurePasswordThreads(options: { nice: number; maxWaitMs: number }): void {
  poolOptions = { ...options }
}
// Async, so even a pool that cannot be created fails as a rejected promise, the same way for every
// caller (a synchronous throw here once turned an unknown user's login into a 500 and a known
// user's into a 401).
function getPool(): PasswordPool {
  try {
    return (pool ??= createPasswordPool(poolOptions))
  } catch (error) {
    throw new PasswordPoolError('the password pool could not be created', { cause: error })
  }
}
async function hash(password: string, opts: ReturnType<typeof options>): Promise<string> {
  return getPool().hash(password, opts)
}
async function verify(stored: string, password: string): Promise<boolean> {
  return getPool().verify(stored, password)
}
async function verifyForeign(foreign: ForeignHash, password: string): Promise<boolean> {
  return getPool().verifyForeign(foreign, password)
}

/**
 * Estimates a new password's strength with zxcvbn-ts in the password threads, never on the event
 * loop (see password-policy.ts).
 */
export async function estimateStrength(job: StrengthJob): Promise<StrengthResult> {
  return getPool().strength(job)
}

/**
 * Starts every password thread (each loads argon2) and, with `dictionaries`, loads zxcvbn-ts's
 * dictionaries in each (one estimate per thread, all at once, so each thread takes one). Called when
 * the server starts listening, and `/readyz` answers `starting` until it settles: otherwise the first
 * logins wait for a thread to start and the first registration for the dictionaries (hundreds of ms
 * of CPU, seconds on a loaded machine — enough to run into the request deadline), and logins that
 * arrive meanwhile queue behind them.
 */
export async function warmUpPasswordThreads({ dictionaries }: { dictionaries: boolean }): Promise<void> {
  const pool = getPool()
  const job: StrengthJob = { password: 'warm-up', userInputs: [], maxLength: STRENGTH_MAX_CHARS }
  await Promise.all(
    Array.from({ length: pool.size }, async () => {
      await (dictionaries ? pool.strength(job) : pool.ping())
    }),
  )
}

/** argon2 refused the stored hash (malformed): that verifies nothing. A broken pool is rethrown. */
function refused(error: unknown): false {
  if (error instanceof PasswordPoolError) throw error
  return false
}

/** argon2id cost parameters. */
export interface PasswordHashParams {
  /** Memory in KiB. */
  memoryCost: number
  /** Passes over memory. */
  timeCost: number
  /** Lanes. */
  parallelism: number
}

/** OWASP's argon2id recommendation: m = 19 MiB, t = 2, p = 1. */
export const OWASP_ARGON2ID: Readonly<PasswordHashParams> = Object.freeze({
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
})

/** Shortest password accepted, in UTF-8 bytes. */
export const PASSWORD_MIN_BYTES = 8
/** Longest password accepted, in UTF-8 bytes: bounds the cost an attacker can make us spend. */
export const PASSWORD_MAX_BYTES = 1024

// A string this long (UTF-16 units) is over the byte limit whatever it holds: refused before NFKC runs.
const MAX_UNITS = PASSWORD_MAX_BYTES * 4
// Lone surrogates would be hashed as U+FFFD, making distinct passwords equal.
const LONE_SURROGATE = /\p{Surrogate}/u
const OUTPUT_BYTES = 32

/** Why a password was refused; the route turns this into a 400. */
export type PasswordProblem = 'not_a_string' | 'too_short' | 'too_long' | 'invalid_unicode'

/** Result of {@link validatePassword}. */
export type PasswordCheck =
  { ok: true } | { ok: false; reason: PasswordProblem; minBytes: number; maxBytes: number }

/** Result of {@link verifyPassword}: `needsRehash` asks the caller to store a new hash after a login. */
export interface PasswordVerification {
  ok: boolean
  needsRehash: boolean
}

/** The parameters read from an argon2 PHC string. */
export interface ParsedPasswordHash extends PasswordHashParams {
  algorithm: 'argon2id' | 'argon2i' | 'argon2d'
  version: number
  /** Length of the raw hash in bytes. */
  outputBytes: number
}

/**
 * Checks a new password: a string of 8 to 1024 UTF-8 bytes (after NFKC normalisation, i.e. what is
 * hashed), without lone surrogates.
 *
 * @example const check = validatePassword(body.password); if (!check.ok) reply.code(400)
 */
export function validatePassword(password: unknown): PasswordCheck {
  const refuse = (reason: PasswordProblem): PasswordCheck => ({
    ok: false,
    reason,
    minBytes: PASSWORD_MIN_BYTES,
    maxBytes: PASSWORD_MAX_BYTES,
  })
  if (typeof password !== 'string') return refuse('not_a_string')
  if (password.length > MAX_UNITS) return refuse('too_long')
  if (LONE_SURROGATE.test(password)) return refuse('invalid_unicode')
  const bytes = Buffer.byteLength(password.normalize('NFKC'), 'utf8')
  if (bytes < PASSWORD_MIN_BYTES) return refuse('too_short')
  if (bytes > PASSWORD_MAX_BYTES) return refuse('too_long')
  return { ok: true }
}

/**
 * Hashes a password into an argon2id PHC string (random 16-byte salt). Throws a TypeError when
 * {@link validatePassword} would refuse it: validate first.
 *
 * @default params OWASP_ARGON2ID
 */
export async function hashPassword(
  password: string,
  params: PasswordHashParams = OWASP_ARGON2ID,
): Promise<string> {
  const check = validatePassword(password)
  if (!check.ok) throw new TypeError(`refusing to hash an invalid password (${check.reason})`)
  return hash(password.normalize('NFKC'), options(params))
}

/**
 * Verifies `password` against a stored hash. `needsRehash` is true after a successful check when the
 * hash was made with other parameters than `params` (or another argon2 variant), or is an imported
 * foreign hash (foreign-hashes.ts): rehash with {@link rehashPassword} and store. A malformed hash
 * verifies nothing.
 *
 * @default params OWASP_ARGON2ID
 */
export async function verifyPassword(
  storedHash: string,
  password: string,
  params: PasswordHashParams = OWASP_ARGON2ID,
  companion?: ForeignHash,
): Promise<PasswordVerification> {
  const parsed = parsePasswordHash(storedHash)
  if (parsed === undefined && verifiable(password)) {
    const foreign = parseForeignHash(storedHash)
    if (foreign !== undefined) return verifyImported(foreign, password, params)
  }
  if (parsed === undefined || !verifiable(password)) {
    // Spend the same time as a real check so a malformed input says nothing through timing.
    await verifyAgainstDummy(undefined, params, companion)
    return { ok: false, needsRehash: false }
  }
  const [ok] = await Promise.all([
    verify(storedHash, password.normalize('NFKC')).catch(refused),
    companionCost(companion, password),
  ])
  return { ok, needsRehash: ok && !sameParams(parsed, params) }
}

/**
 * A hash in the scheme of a typical imported user (passlib pbkdf2_sha256, 29 000 rounds, of a random
 * password nobody knows). While imported hashes remain (the legacy window), pass it as `companion` to
 * {@link verifyPassword} and {@link verifyAgainstDummy}: every check then costs one argon2id and one
 * pbkdf2 verification, whoever the user is (argon2id, imported, unknown), so timing tells none of them
 * apart. docs/migrating-from-flask.md, "Timing".
 */
export const IMPORTED_HASH_COMPANION: ForeignHash = Object.freeze(
  parseForeignHash(
    '$pbkdf2-sha256$29000$cVoFPDE0KPEY.Zl93WeiFA$Ko4P0EdUnsoAZJ5fRHJN6VQgFkbQ3tVne9WreYrkygs',
  ) as ForeignHash,
)

async function companionCost(companion: ForeignHash | undefined, password: string): Promise<void> {
  if (companion === undefined) return
  await verifyForeign(companion, verifiable(password) ? password : '').catch(refused)
}

/**
 * An imported hash: the old system hashed the password exactly as typed (no NFKC), so that is what is
 * checked. The argon2 dummy runs alongside (another worker when one is free): with
 * {@link IMPORTED_HASH_COMPANION} on the other checks, every login costs one argon2id and one pbkdf2
 * verification. A foreign hash slower than that pbkdf2 (bcrypt cost 12, Werkzeug's 600 000 rounds,
 * scrypt) stays measurably slower until the user's first login migrates it
 * (docs/migrating-from-flask.md, "Timing").
 */
async function verifyImported(
  foreign: ForeignHash,
  password: string,
  params: PasswordHashParams,
): Promise<PasswordVerification> {
  const [ok] = await Promise.all([
    verifyForeign(foreign, password).catch(refused),
    verifyAgainstDummy(password, params),
  ])
  return { ok, needsRehash: ok }
}

/**
 * Hashes the password of a login that just verified (a rehash), into argon2id. Unlike
 * {@link hashPassword} it does not apply the length policy for new passwords: an imported user whose
 * old system allowed a 6-character password keeps logging in with it (the policy applies at the next
 * password change). Throws a TypeError only for input no login could have verified.
 *
 * @default params OWASP_ARGON2ID
 */
export async function rehashPassword(
  password: string,
  params: PasswordHashParams = OWASP_ARGON2ID,
): Promise<string> {
  if (!verifiable(password) || password === '') throw new TypeError('refusing to rehash this password')
  return hash(password.normalize('NFKC'), options(params))
}

/**
 * Costs what a real {@link verifyPassword} costs and always fails: call it when the user does not
 * exist, so the response time does not reveal which usernames are registered.
 *
 * @default params OWASP_ARGON2ID
 */
export async function verifyAgainstDummy(
  password = '',
  params: PasswordHashParams = OWASP_ARGON2ID,
  companion?: ForeignHash,
): Promise<PasswordVerification> {
  const dummy = await dummyHash(params)
  await Promise.all([
    verify(dummy, verifiable(password) ? password.normalize('NFKC') : '').catch(refused),
    companionCost(companion, password),
  ])
  return { ok: false, needsRehash: false }
}

const PHC =
  /^\$(argon2id|argon2i|argon2d)\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/

/**
 * Reads the parameters of an argon2 PHC string
 * (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), or `undefined` when it is not one.
 */
export function parsePasswordHash(phc: string): ParsedPasswordHash | undefined {
  const match = PHC.exec(phc)
  if (match === null) return undefined
  const [, algorithm = '', version = '', m = '', t = '', p = '', , digest = ''] = match
  // Always true once the pattern matched; the check tells the compiler which variant it is.
  if (!isArgon2Variant(algorithm)) return undefined
  return {
    algorithm,
    version: Number(version),
    memoryCost: Number(m),
    timeCost: Number(t),
    parallelism: Number(p),
    outputBytes: Math.floor((digest.length * 3) / 4),
  }
}

function isArgon2Variant(name: string): name is ParsedPasswordHash['algorithm'] {
  return name === 'argon2id' || name === 'argon2i' || name === 'argon2d'
}

function sameParams(parsed: ParsedPasswordHash, params: PasswordHashParams): boolean {
  return (
    parsed.algorithm === 'argon2id' &&
    parsed.version === 19 &&
    parsed.memoryCost === params.memoryCost &&
    parsed.timeCost === params.timeCost &&
    parsed.parallelism === params.parallelism &&
    parsed.outputBytes === OUTPUT_BYTES
  )
}

function verifiable(password: string): boolean {
  return typeof password === 'string' && password.length <= MAX_UNITS && !LONE_SURROGATE.test(password)
}

// No `algorithm`: the library's default is argon2id, and its Algorithm const enum cannot be referenced
// under isolatedModules. The tests check that hashes start with $argon2id$.
function options(params: PasswordHashParams): PasswordHashParams & { outputLen: number } {
  return {
    memoryCost: params.memoryCost,
    timeCost: params.timeCost,
    parallelism: params.parallelism,
    outputLen: OUTPUT_BYTES,
  }
}

// A hash of a random password nobody knows. The one for the default parameters is precomputed, so
// the first unknown-user login costs no more than the others.
const dummies = new Map<string, Promise<string>>([
  [
    key(OWASP_ARGON2ID),
    Promise.resolve(
      '$argon2id$v=19$m=19456,t=2,p=1$sjfkD9IOMXStvrXR9uC9rg$mtj3ujh+bWXfgYLeEMrwZlpaHqTwxLjHnDfFJjR9DoM',
    ),
  ],
])

function key(params: PasswordHashParams): string {
  return `${params.memoryCost},${params.timeCost},${params.parallelism}`
}

function dummyHash(params: PasswordHashParams): Promise<string> {
  const cached = dummies.get(key(params))
  if (cached !== undefined) return cached
  const dummy = hash(randomBytes(32).toString('base64'), options(params))
  dummies.set(key(params), dummy)
  // A failed computation (the pool could not start a thread) is forgotten, so the next unknown-user
  // login computes it again instead of failing with the same error for the life of the process.
  dummy.catch(() => {
    if (dummies.get(key(params)) === dummy) dummies.delete(key(params))
  })
  return dummy
}
