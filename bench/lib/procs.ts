/**
 * Child processes of the server benchmarks: servers (compiled JS, pinned with taskset, IPC) and
 * autocannon runs (its CLI, pinned to the other core).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import type { BenchKeys, ServerMessage } from '../servers/protocol.js'
import { serverScript } from './build.js'

/** The two cores: the server gets one, the load generator the other. */
export const SERVER_CPU = '1'
export const LOAD_CPU = '0'

const require = createRequire(import.meta.url)
const autocannonCli = require.resolve('autocannon/autocannon.js')

/** Fresh key material for the contenders (handed to them as BENCH_KEYS). */
export function newBenchKeys(): BenchKeys {
  const ed = generateKeyPairSync('ed25519')
  return {
    secret: randomBytes(32).toString('base64url'),
    privatePem: ed.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: ed.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  }
}

/** A running server process. */
export interface ServerProcess {
  readonly child: ChildProcess
  readonly port: number
  readonly url: string
  /** Sends a command and waits for the first reply carrying `field`. */
  ask<K extends keyof ServerMessage>(
    message: Record<string, unknown>,
    field: K,
    timeoutMs?: number,
  ): Promise<NonNullable<ServerMessage[K]>>
  stop(): Promise<void>
}

/**
 * Starts `node <script> ...args` under `taskset -c cpu` (and `launcher`, e.g. valgrind, when given),
 * waits for its `{ port }`.
 */
export function startServer(
  script: string,
  args: readonly string[],
  options: {
    env?: NodeJS.ProcessEnv
    cpu?: string
    nodeArgs?: readonly string[]
    /** A command that runs node (bench/instructions.ts: valgrind and its options). */
    launcher?: readonly string[]
    timeoutMs?: number
  } = {},
): Promise<ServerProcess> {
  const [command = '', ...rest] = pinned(options.cpu, [
    ...(options.launcher ?? []),
    process.execPath,
    ...(options.nodeArgs ?? []),
    script,
    ...args,
  ])
  const child = spawn(command, rest, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: options.env })
  const label = `${script.split('/').pop() ?? script} ${args.join(' ')}`
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill()
      reject(new Error(`${label}: no port within ${options.timeoutMs ?? 30_000} ms`))
    }, options.timeoutMs ?? 30_000)
    const onExit = (code: number | null): void => {
      clearTimeout(timer)
      reject(new Error(`${label} exited (${String(code)}) before listening`))
    }
    child.once('exit', onExit)
    child.on('message', function first(message: ServerMessage) {
      if (message.error !== undefined) {
        clearTimeout(timer)
        child.off('exit', onExit)
        child.kill()
        reject(new Error(`${label}: ${message.error}`))
        return
      }
      if (message.port === undefined) return
      clearTimeout(timer)
      child.off('exit', onExit)
      child.off('message', first)
      const port = message.port
      resolve({
        child,
        port,
        url: `http://127.0.0.1:${port}`,
        ask(request, field, timeoutMs = 600_000) {
          return new Promise((done, fail) => {
            const t = setTimeout(() => {
              child.off('message', reply)
              fail(new Error(`${label}: no ${field} reply within ${timeoutMs} ms`))
            }, timeoutMs)
            function reply(answer: ServerMessage): void {
              if (answer.error !== undefined) {
                clearTimeout(t)
                child.off('message', reply)
                fail(new Error(`${label}: ${answer.error}`))
                return
              }
              const value = answer[field]
              if (value === undefined) return
              clearTimeout(t)
              child.off('message', reply)
              done(value as never)
            }
            child.on('message', reply)
            child.send(request)
          })
        },
        stop() {
          return new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) {
              done()
              return
            }
            const t = setTimeout(() => child.kill('SIGKILL'), 5000)
            child.once('exit', () => {
              clearTimeout(t)
              done()
            })
            child.kill('SIGTERM')
          })
        },
      })
    })
  })
}

/** The fields of autocannon's JSON result this harness reads. */
export interface LoadResult {
  duration: number
  errors: number
  timeouts: number
  non2xx: number
  '2xx': number
  statusCodeStats: Record<string, { count: number }>
  latency: { p50: number; p99: number; max: number; average: number }
  requests: { total: number; average: number }
}

export interface LoadOptions {
  url: string
  connections: number
  seconds: number
  /**
   * Exactly this many requests (autocannon -a) instead of `seconds` of them; `seconds` then only
   * bounds how long the run may take.
   */
  amount?: number
  method?: string
  headers?: Record<string, string>
  body?: string
  /** Requests per second over all connections (autocannon -R). */
  rate?: number
  cpu?: string
  /**
   * One token per line: each request presents the next one as `Authorization: Bearer` (autocannon's
   * API through bench/servers/rotating-load.ts instead of its CLI; `method`, `body`, `rate` unused).
   */
  tokensFile?: string
}

/** `command` under `taskset -c cpu`, or as it is without a cpu. */
export function pinned(cpu: string | undefined, command: readonly string[]): string[] {
  return cpu === undefined ? [...command] : ['taskset', '-c', cpu, ...command]
}

/** Runs autocannon's CLI (`--json`) pinned to `cpu`; resolves with its result. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const args =
    options.tokensFile !== undefined
      ? rotatingArgs(options, options.tokensFile)
      : [
          autocannonCli,
          '-j',
          '-n',
          '-c',
          String(options.connections),
          ...(options.amount === undefined
            ? ['-d', String(options.seconds)]
            : ['-a', String(options.amount)]),
          ...(options.method === undefined ? [] : ['-m', options.method]),
          ...(options.body === undefined ? [] : ['-b', options.body]),
          ...(options.rate === undefined ? [] : ['-R', String(options.rate)]),
          ...Object.entries(options.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}=${v}`]),
          options.url,
        ]
  const cpu = options.cpu ?? LOAD_CPU
  const child = spawn('taskset', ['-c', cpu, process.execPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), (options.seconds + 30) * 1000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      if (code !== 0) {
        reject(new Error(`autocannon exited ${String(code)}: ${err.slice(0, 500)}`))
        return
      }
      try {
        resolve(JSON.parse(out) as LoadResult)
      } catch {
        reject(new Error(`autocannon printed no JSON: ${out.slice(0, 300)} ${err.slice(0, 300)}`))
      }
    })
  })
}

function rotatingArgs(options: LoadOptions, tokensFile: string): string[] {
  const { url, connections, seconds } = options
  return [serverScript('rotating-load'), JSON.stringify({ url, connections, seconds, tokensFile })]
}

/** Requests per second of a result (all status codes). */
export const reqPerSec = (r: LoadResult): number => r.requests.total / r.duration

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms)
  })

/** Runs `node <script> ...args` (pinned when `cpu` is given) and resolves with its `{ result }`. */
export function runTask(
  script: string,
  args: readonly string[],
  options: { cpu?: string; nodeArgs?: readonly string[]; timeoutMs?: number } = {},
): Promise<unknown> {
  const node = [...(options.nodeArgs ?? []), script, ...args]
  const child =
    options.cpu === undefined
      ? spawn(process.execPath, node, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      : spawn('taskset', ['-c', options.cpu, process.execPath, ...node], {
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        })
  return new Promise((resolve, reject) => {
    let answer: ServerMessage | undefined
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000)
    child.on('message', (message: ServerMessage) => {
      answer = message
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      if (answer?.error !== undefined) reject(new Error(answer.error))
      else if (answer?.result === undefined) reject(new Error(`${args.join(' ')}: exited ${String(code)}`))
      else resolve(answer.result)
    })
  })
}
