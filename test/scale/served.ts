// `tessera serve` as a real child process for the fault tests: the CLI bundled from the current
// sources into plain JavaScript (test/helpers/bundled-cli.ts), started with a clean environment on a
// given port.
import { spawn, type ChildProcess } from 'node:child_process'
import type { BundledCli } from '../helpers/bundled-cli.js'
import { cleanEnv } from '../helpers/clean-env.js'
import { E2EClient } from '../helpers/server-harness.js'
import { eventually } from './cluster.js'

/** A served process. */
export interface ServedProcess {
  child: ChildProcess
  client: E2EClient
  /** Everything it printed so far. */
  output: () => { stdout: string; stderr: string }
  /** Resolves with the exit code (null when killed by a signal). */
  exit: Promise<number | null>
}

/** Starts `node <cli> serve --port <port>` with `env` (and no inherited TESSERA_*), and waits until it answers. */
export async function serve(
  cli: BundledCli,
  port: number,
  env: Record<string, string>,
): Promise<ServedProcess> {
  const clean = cleanEnv()
  const child = spawn(process.execPath, [cli.path, 'serve', '--port', String(port), '--log-level', 'info'], {
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exit = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code)
    })
  })
  const client = new E2EClient(`http://127.0.0.1:${port}`)
  const up = await eventually(
    () =>
      child.exitCode !== null ||
      client.api('GET', '/healthz').then(
        (r) => r.status === 200,
        () => false,
      ),
    30_000,
    100,
  )
  if (!up || child.exitCode !== null) {
    child.kill('SIGKILL')
    throw new Error(`tessera serve did not start:\n${stderr}\n${stdout.slice(-2000)}`)
  }
  return { child, client, output: () => ({ stdout, stderr }), exit }
}
