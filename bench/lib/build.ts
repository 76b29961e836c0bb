/**
 * Builds what the server benchmarks run. The library is measured as it ships: `npm run build` writes
 * packages/tessera/dist (and packages/server/dist), and the bench servers import `tessera`,
 * `tessera/fastify` and `tessera/express` by name, which node resolves to that dist. bench/servers/*.ts
 * and the server sources they reach into (the auth server, its stores and password hashing) are
 * compiled with tsc and the build's settings into bench/.out/build, without tsx's `__name` wrappers.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

export const outDir = fileURLToPath(new URL('../.out/', import.meta.url))
const buildDir = `${outDir}build/`
const serversDir = fileURLToPath(new URL('../servers/', import.meta.url))

/** Where a compiled bench/servers script lands. */
export const serverScript = (name: string): string => `${buildDir}bench/servers/${name}.js`
const root = fileURLToPath(new URL('../../', import.meta.url))
/** A module of the built library (path relative to packages/tessera/dist/, `.js`): what npm ships. */
export const srcModule = (path: string): string => `${root}packages/tessera/dist/${path}`
/** The compiled `tessera` CLI: what `npm start` runs (`bin.js serve`), from the same sources. */
export const cliScript = (): string => `${buildDir}packages/server/src/cli/bin.js`
/** Where a compiled module of the server package lands (path relative to its src/, `.js`). */
const serverModule = (path: string): string => `${buildDir}packages/server/src/${path}`

/**
 * Runs tsc. Type errors elsewhere in the working tree (other work in progress) do not stop the
 * benchmark as long as tsc emitted the files it needs; they are returned as a warning.
 */
export function compileBuild(): { warning: string | undefined; ms: number } {
  const started = performance.now()
  const npm = spawnSync('npm', ['run', 'build', '-w', 'tessera'], { cwd: root, encoding: 'utf8' })
  if (npm.status !== 0) throw new Error(`npm run build -w tessera failed:\n${npm.stdout}${npm.stderr}`)
  rmSync(buildDir, { recursive: true, force: true })
  mkdirSync(outDir, { recursive: true })
  const tsconfig = `${outDir}tsconfig.build-bench.json`
  const servers = readdirSync(serversDir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `../servers/${f}`)
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: '../../tsconfig.json',
      compilerOptions: {
        rootDir: '../..',
        outDir: './build',
        declaration: false,
        declarationMap: false,
        sourceMap: false,
        incremental: false,
        noEmit: false,
        // Type checking is the quality gates' job (npm run typecheck); the emit is the same.
        noCheck: true,
      },
      include: [],
      files: [
        '../../packages/tessera/src/index.ts',
        '../../packages/tessera/src/adapters/fastify.ts',
        '../../packages/tessera/src/adapters/express.ts',
        '../../packages/server/src/server/index.ts',
        // The `tessera` executable: the auth server as `npm start` runs it (bench/lib/shipped.ts).
        '../../packages/server/src/cli/bin.ts',
        ...servers,
      ],
    }),
  )
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const result = spawnSync(process.execPath, [tsc, '-p', tsconfig], { encoding: 'utf8' })
  const needed = [serverScript('http'), srcModule('index.js'), serverModule('server/index.js')]
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
