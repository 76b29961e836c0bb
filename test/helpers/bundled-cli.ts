// The `tessera` CLI bundled from the current sources into one plain JavaScript file (esbuild, about half
// a second): a test that runs the CLI as a process starts `node <path>` instead of going through a
// TypeScript loader each time (a third of the CPU per start), and without the loader's own signal
// handling, which would change what a SIGTERM does.
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from 'esbuild'
import { cleanEnv } from './clean-env.js'

/** A bundled CLI: `path` to run with node, `remove()` when done. */
export interface BundledCli {
  path: string
  remove(): Promise<void>
}

/** Bundles src/cli/bin.ts inside the project (so node finds the external packages in node_modules). */
export async function bundleCli(): Promise<BundledCli> {
  await mkdir('node_modules/.cache', { recursive: true })
  const dir = await mkdtemp(join('node_modules/.cache', 'tessera-cli-'))
  const path = join(dir, 'bin.mjs')
  await build({
    entryPoints: ['packages/server/src/cli/bin.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: path,
    logLevel: 'silent',
  })
  return { path, remove: () => rm(dir, { recursive: true, force: true }) }
}

/** How a CLI process ended: its exit code and everything it wrote. */
export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * `tessera <args>` as a process of the bundled CLI on pipes (no terminal), stdin at EOF, in a clean
 * environment (cleanEnv: no TESSERA_* of the machine) plus `env`.
 */
export function runBundledCli(
  cli: BundledCli | undefined,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    if (cli === undefined) throw new Error('the CLI is not bundled yet')
    const child = spawn(process.execPath, [cli.path, ...args], {
      env: { ...cleanEnv(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) => {
      resolve({ code, stdout, stderr })
    })
  })
}
