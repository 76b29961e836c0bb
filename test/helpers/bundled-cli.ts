// The `tessera` CLI bundled from the current sources into one plain JavaScript file (esbuild, about half
// a second): a test that runs the CLI as a process starts `node <path>` instead of going through a
// TypeScript loader each time (a third of the CPU per start), and without the loader's own signal
// handling, which would change what a SIGTERM does.
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from 'esbuild'

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
