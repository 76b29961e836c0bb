// Throwaway servers for the fault tests: a redis-server or a PostgreSQL cluster of our own on a spare
// loopback port, in a temporary directory, that a test can stop and start again. Only processes started
// here are ever stopped, by their own pid or data directory; every wait is bounded.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { postgresReachable } from './postgres.js'
import { redisReachable } from './redis.js'

/** A port nothing listens on right now (the kernel's choice of a free one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => {
        resolve(port)
      })
    })
  })
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

function exited(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      resolve()
    }, timeoutMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** A server a test can stop and start again on the same port. */
export interface ThrowawayServer {
  port: number
  url: string
  start(): Promise<void>
  stop(): Promise<void>
  /** Stops it for good and removes its files. */
  dispose(): Promise<void>
}

/** A throwaway PostgreSQL that can also be frozen in place (every process of it stopped, sockets open). */
export interface FreezableServer extends ThrowawayServer {
  /** SIGSTOP to the postmaster and every backend: connections stay open, nothing answers. */
  freeze(): void
  /** SIGCONT to the same processes. */
  thaw(): void
}

/** True when `command` runs here. */
export function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
}

/** A redis-server without persistence on a spare port (its data is lost when it stops). */
export async function throwawayRedis(): Promise<ThrowawayServer> {
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  const server: ThrowawayServer = {
    port,
    url,
    async start() {
      child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: 'ignore' },
      )
      await until(() => redisReachable(url), 10_000, `redis-server on port ${port} answering`)
    },
    async stop() {
      const running = child
      child = undefined
      if (running === undefined) return
      running.kill('SIGTERM')
      await exited(running, 5_000)
    },
    dispose: () => server.stop(),
  }
  await server.start()
  return server
}

/** The user PostgreSQL runs as: itself, or `postgres` when the tests run as root. */
const PG_USER = userInfo().uid === 0 ? 'postgres' : userInfo().username

function pgCommand(args: string[]): { status: number | null; output: string } {
  const [command, ...rest] = args as [string, ...string[]]
  const result =
    userInfo().uid === 0
      ? spawnSync('runuser', ['-u', PG_USER, '--', command, ...rest], { encoding: 'utf8', timeout: 60_000 })
      : spawnSync(command, rest, { encoding: 'utf8', timeout: 60_000 })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

/** True when initdb and pg_ctl are on the PATH (and, as root, runuser to drop to `postgres`). */
export function canRunPostgres(): boolean {
  return (
    commandExists('initdb') && commandExists('pg_ctl') && (userInfo().uid !== 0 || commandExists('runuser'))
  )
}

/** A PostgreSQL cluster of its own (initdb into a temporary directory, trust auth) on a spare port. */
export async function throwawayPostgres(): Promise<FreezableServer> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'tessera-pg-'))
  chmodSync(dir, 0o700)
  if (userInfo().uid === 0) {
    const pw = spawnSync('id', ['-u', PG_USER], { encoding: 'utf8' })
    const gid = spawnSync('id', ['-g', PG_USER], { encoding: 'utf8' })
    chownSync(dir, Number(pw.stdout.trim()), Number(gid.stdout.trim()))
  }
  const data = join(dir, 'data')
  const init = pgCommand(['initdb', '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'])
  if (init.status !== 0) throw new Error(`initdb failed: ${init.output}`)
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`
  let frozen: number[] = []
  // The postmaster (first line of postmaster.pid) and its children: only this cluster's processes.
  const pids = (): number[] => {
    const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
    const children = spawnSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)], { encoding: 'utf8' })
    return [
      postmaster,
      ...children.stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map(Number),
    ]
  }
  const server: FreezableServer = {
    port,
    url,
    freeze() {
      frozen = pids()
      for (const pid of frozen) process.kill(pid, 'SIGSTOP')
    },
    thaw() {
      for (const pid of frozen) process.kill(pid, 'SIGCONT')
      frozen = []
    },
    async start() {
      const started = pgCommand(['pg_ctl', '-D', data, '-o', options, '-l', join(dir, 'log'), '-w', 'start'])
      if (started.status !== 0) throw new Error(`pg_ctl start failed: ${started.output}`)
      await until(() => postgresReachable(url), 15_000, `PostgreSQL on port ${port} answering`)
    },
    stop() {
      pgCommand(['pg_ctl', '-D', data, '-m', 'fast', '-w', 'stop'])
      return Promise.resolve()
    },
    async dispose() {
      if (frozen.length > 0) server.thaw()
      pgCommand(['pg_ctl', '-D', data, '-m', 'immediate', '-w', 'stop'])
      rmSync(dir, { recursive: true, force: true })
      await Promise.resolve()
    },
  }
  await server.start()
  return server
}
