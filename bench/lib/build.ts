/**
 * Compiles what the server benchmarks run: the entry points of src/ that they import (core, both
 * adapters, the auth server) and bench/servers/*.ts, with tsc and the build's settings, into
 * bench/.out/build (bench/.out/build/src/… and bench/.out/build/bench/servers/…). Tessera is thus
 * measured as `dist/` ships it, without tsx's `__name` wrappers.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

export const outDir = fileURLToPath(new URL('../.out/', import.meta.url))
export const buildDir = `${outDir}build/`
const serversDir = fileURLToPath(new URL('../servers/', import.meta.url))

/** Where a compiled bench/servers script lands. */
export const serverScript = (name: string): string => `${buildDir}bench/servers/${name}.js`
/** Where a compiled src module lands (path relative to src/, `.js`). */
export const srcModule = (path: string): string => `${buildDir}src/${path}`

/**
 * Runs tsc. Type errors elsewhere in the working tree (other work in progress) do not stop the
 * benchmark as long as tsc emitted the files it needs; they are returned as a warning.
 */
export function compileBuild(): { warning: string | undefined; ms: number } {
  const started = performance.now()
  rmSync(buildDir, { recursive: true, force: true })
  mkdirSync(outDir, { recursive: true })
  const tsconfig = `${outDir}tsconfig.build-bench.json`
  const servers = readdirSync(serversDir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `../servers/${f}`)
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: '../../tsconfig.build.json',
      compilerOptions: {
        rootDir: '../..',
        outDir: './build',
        declaration: false,
        declarationMap: false,
        sourceMap: false,
        incremental: false,
        // Type checking is the quality gates' job (npm run typecheck); the emit is the same.
        noCheck: true,
      },
      include: [],
      files: [
        '../../src/index.ts',
        '../../src/adapters/fastify.ts',
        '../../src/adapters/express.ts',
        '../../src/server/index.ts',
        ...servers,
      ],
    }),
  )
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const result = spawnSync(process.execPath, [tsc, '-p', tsconfig], { encoding: 'utf8' })
  const needed = [serverScript('http'), srcModule('index.js'), srcModule('server/index.js')]
  const missing = needed.filter((f) => !existsSync(f))
  if (missing.length > 0) {
    throw new Error(`tsc did not emit ${missing.join(', ')}:\n${result.stdout}${result.stderr}`)
  }
  const warning =
    result.status === 0
      ? undefined
      : `tsc reported errors (files were emitted anyway):\n${(result.stdout + result.stderr).slice(0, 2000)}`
  return { warning, ms: performance.now() - started }
}
