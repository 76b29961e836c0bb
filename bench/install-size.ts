/**
 * Install cost of the `tessera` tarball next to other JWT packages, each installed the same way in the
 * same run: an empty project, its own empty npm cache (so every download counts), `npm install <spec>
 * --no-audit --no-fund`. Reports packages added, bytes of node_modules on disk and wall seconds.
 * tessera-server is measured too, as npm 11 installs it by default: better-sqlite3's install script
 * runs (no prebuilt binary can be downloaded here, so it compiles SQLite).
 *
 * Usage: `npm run bench:install` (after `npm run build`); `--smoke` measures tessera alone. Prints a
 * markdown table to paste into bench/RESULTS.md with the load average.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const smoke = process.argv.includes('--smoke')
const work = mkdtempSync(join(tmpdir(), 'tessera-install-'))

interface Row {
  readonly name: string
  readonly packages: number
  readonly bytes: number
  readonly seconds: number
}

function measure(name: string, spec: string): Row {
  const dir = join(work, name.replace(/[^a-z0-9]/gi, '_'))
  const cache = join(dir, '.npm-cache')
  execFileSync('mkdir', ['-p', dir])
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'empty', private: true }))
  const started = process.hrtime.bigint()
  execFileSync('npm', ['install', spec, '--no-audit', '--no-fund', '--cache', cache], {
    cwd: dir,
    stdio: 'pipe',
  })
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const listed = execFileSync('npm', ['ls', '--all', '--parseable'], { cwd: dir, encoding: 'utf8' })
  const packages = listed.trim().split('\n').length - 1
  const bytes = Number(
    execFileSync('du', ['-sb', join(dir, 'node_modules')], { encoding: 'utf8' }).split('\t')[0],
  )
  return { name, packages, bytes, seconds }
}

try {
  const before = loadavg()
  const packed = JSON.parse(
    execFileSync(
      'npm',
      ['pack', '-w', 'tessera', '-w', 'tessera-server', '--json', '--pack-destination', work],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    ),
  ) as { name: string; filename: string }[]
  const tarball = (name: string): string => join(work, packed.find((p) => p.name === name)?.filename ?? '')
  const targets: [string, string][] = smoke
    ? [['tessera (tarball)', tarball('tessera')]]
    : [
        ['tessera (tarball)', tarball('tessera')],
        ['jose', 'jose'],
        ['@fastify/jwt', '@fastify/jwt'],
        ['express-jwt', 'express-jwt'],
        [
          'tessera-server (tarball; better-sqlite3 built from source)',
          `${tarball('tessera')} ${tarball('tessera-server')}`,
        ],
      ]
  const rows: Row[] = []
  for (const [name, spec] of targets) {
    if (spec.includes(' ')) {
      // Two tarballs: tessera-server's `tessera` dependency is satisfied by the local one.
      const dir = join(work, 'server')
      execFileSync('mkdir', ['-p', dir])
      const [lib, server] = spec.split(' ')
      writeFileSync(
        join(dir, 'package.json'),
        JSON.stringify({
          name: 'empty',
          private: true,
          dependencies: { tessera: `file:${lib}`, 'tessera-server': `file:${server}` },
        }),
      )
      const started = process.hrtime.bigint()
      execFileSync('npm', ['install', '--no-audit', '--no-fund', '--cache', join(dir, '.npm-cache')], {
        cwd: dir,
        stdio: 'pipe',
      })
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const listed = execFileSync('npm', ['ls', '--all', '--parseable'], { cwd: dir, encoding: 'utf8' })
      const bytes = Number(
        execFileSync('du', ['-sb', join(dir, 'node_modules')], { encoding: 'utf8' }).split('\t')[0],
      )
      rows.push({ name, packages: listed.trim().split('\n').length - 1, bytes, seconds })
    } else {
      rows.push(measure(name, spec))
    }
  }
  const after = loadavg()
  console.log(
    `npm run bench:install${smoke ? ' -- --smoke' : ''}; ${new Date().toISOString()}; node ${process.version}, npm ${execFileSync('npm', ['--version'], { encoding: 'utf8' }).trim()}; ${cpus().length} cores (${cpus()[0]?.model ?? '?'}); load average ${before.map((l) => l.toFixed(2)).join(' / ')} before, ${after.map((l) => l.toFixed(2)).join(' / ')} after\n`,
  )
  console.log('| installed into an empty project | packages added | on disk | seconds |')
  console.log('| --- | ---: | ---: | ---: |')
  for (const row of rows) {
    console.log(
      `| ${row.name} | ${row.packages} | ${(row.bytes / 1e6).toFixed(2)} MB | ${row.seconds.toFixed(1)} |`,
    )
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}
