/**
 * publint and @arethetypeswrong/cli on the packed tarballs of both packages (what npm would publish,
 * not the work tree). Exits non-zero when either tool finds a problem in either package.
 *
 * Usage: `npm run check:packages` after `npm run build`. attw runs with the esm-only profile: both
 * packages are ESM-only (`"type": "module"`, no `require` condition); CommonJS callers use
 * require(esm), which every Node version in `engines` has.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const bin = (name: string): string => join(ROOT, 'node_modules', '.bin', name)
const work = mkdtempSync(join(tmpdir(), 'tessera-pack-'))
let failed = 0

function step(what: string, command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8' })
  process.stdout.write(result.stdout)
  process.stderr.write(result.stderr)
  if (result.status !== 0) {
    failed++
    console.error(`FAIL ${what} (exit ${String(result.status)})`)
  } else {
    console.log(`ok   ${what}`)
  }
  return result.stdout
}

try {
  const packed = JSON.parse(
    step('npm pack', 'npm', [
      'pack',
      '-w',
      'tessera',
      '-w',
      'tessera-server',
      '--json',
      '--pack-destination',
      work,
    ]),
  ) as { name: string; filename: string }[]
  for (const { name, filename } of packed) {
    const tarball = join(work, filename)
    step(`publint ${name}`, bin('publint'), ['run', tarball, '--strict'])
    step(`attw ${name}`, bin('attw'), [tarball, '--profile', 'esm-only', '--format', 'ascii'])
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}
if (failed > 0) {
  console.error(`package checks: ${failed} failed`)
  process.exit(1)
}
console.log('package checks: publint and attw passed for both packages')
