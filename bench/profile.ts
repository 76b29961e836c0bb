/**
 * Profiles one protected-route contender under load: the server (compiled, pinned to core 1) runs with
 * `--cpu-prof`, autocannon (core 0) loads it, and the profile's self time is summarised by function
 * and by origin (Tessera, the framework, node internals, GC).
 *
 *   npx tsx bench/profile.ts tessera-fastify HS256 [--seconds 8] [--token valid|bad] [--no-build]
 *   npx tsx bench/profile.ts tessera-server EdDSA   (the auth server as `npm start` runs it, logs to a file)
 *   npx tsx bench/profile.ts login [--warmup 60] [--seconds 10]
 *     (the event loop of the login bench's auth server, bench/run.ts section 3: 20 logins in flight
 *     after a warm-up of the same load; the password threads write profiles of their own)
 *
 * The .cpuprofile lands in bench/.out/profiles/ (open it in Chrome DevTools or speedscope for a flame
 * graph).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type * as TesseraModule from '../packages/tessera/src/index.js'
import { loginLoads, startAuthServer } from './lib/auth-client.js'
import { compileBuild, outDir, serverScript, srcModule } from './lib/build.js'
import { SERVER_CPU, newBenchKeys, reqPerSec, runLoad, startServer, type LoadResult } from './lib/procs.js'
import { startShipped } from './lib/shipped.js'
import { SUB, type Alg, type ContenderKind } from './servers/protocol.js'

const { values: args, positionals } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    token: { type: 'string', default: 'valid' },
    'no-build': { type: 'boolean', default: false },
    warmup: { type: 'string', default: '60' },
    top: { type: 'string', default: '30' },
  },
  allowPositionals: true,
  strict: true,
})
const [kind, alg = 'EdDSA'] = positionals as [ContenderKind | 'login' | undefined, string | undefined]
if (kind === undefined || (alg !== 'HS256' && alg !== 'EdDSA'))
  throw new Error('usage: npx tsx bench/profile.ts <kind> <HS256|EdDSA> | npx tsx bench/profile.ts login')

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}
interface Profile {
  startTime: number
  endTime: number
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

function origin(url: string, name: string): string {
  if (name === '(garbage collector)') return 'GC'
  if (name === '(idle)' || name === '(program)') return name
  if (url.includes('/packages/tessera/dist/')) return 'Tessera'
  if (url.includes('/bench/.out/build/packages/server/')) return 'Tessera server'
  if (url.includes('/bench/.out/build/bench/')) return 'bench server'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg !== null) return pkg[1] ?? url
  if (url.startsWith('node:')) return 'node internals'
  return url === '' ? 'native / V8' : url
}

if (!args['no-build']) compileBuild()
const dir = `${outDir}profiles/${kind === 'login' ? 'login' : `${kind}-${alg}-${args.token}`}`
rmSync(dir, { recursive: true, force: true })
mkdirSync(dir, { recursive: true })
const profiling = ['--cpu-prof', '--cpu-prof-dir', dir]
const seconds = Number(args.seconds)

/** Load on `GET /protected` of one contender; the server stopped, when the load ended. */
async function profileProtected(kind: ContenderKind, alg: Alg): Promise<number> {
  const engine = (await import(pathToFileURL(srcModule('index.js')).href)) as typeof TesseraModule
  const keys = newBenchKeys()
  const auth =
    alg === 'HS256'
      ? engine.createTessera({ secret: keys.secret, algorithm: 'HS256', accessTokenTtl: '6h' })
      : engine.createTessera({ keys: { alg: 'EdDSA', privateKey: keys.privatePem }, accessTokenTtl: '6h' })
  let token = await auth.createAccessToken(SUB, { expiresIn: '1h', claims: { roles: ['admin', 'editor'] } })
  const tamper = (t: string): string => {
    const at = t.lastIndexOf('.') + 1
    return `${t.slice(0, at)}${t[at] === 'A' ? 'B' : 'A'}${t.slice(at + 1)}`
  }
  if (args.token === 'bad') token = tamper(token)
  // tessera-server: the auth server as `npm start` runs it (its own EdDSA keys and token).
  const shipped =
    kind === 'tessera-server'
      ? await startShipped({ cpu: SERVER_CPU, tamper, nodeArgs: profiling })
      : undefined
  if (shipped !== undefined) token = args.token === 'bad' ? shipped.tokens.bad : shipped.tokens.valid
  const server =
    shipped?.server ??
    (await startServer(serverScript('http'), [kind, alg], {
      env: { ...process.env, BENCH_KEYS: JSON.stringify(keys) },
      cpu: SERVER_CPU,
      nodeArgs: profiling,
    }))
  const load = {
    url: `${server.url}/protected`,
    connections: 50,
    headers: { authorization: `Bearer ${token}` },
  }
  await runLoad({ ...load, seconds: 1 })
  const before = await server.ask({ cmd: 'cpu' }, 'cpu')
  const result = await runLoad({ ...load, seconds })
  const after = await server.ask({ cmd: 'cpu' }, 'cpu')
  const loadEnded = performance.now()
  await server.stop()
  const cpuUs = ((after.user - before.user + after.system - before.system) / result.requests.total).toFixed(1)
  console.log(
    `${kind} ${alg} ${args.token}: ${Math.round(reqPerSec(result))} req/s, server ${cpuUs} µs CPU/request, statuses ${JSON.stringify(result.statusCodeStats)}`,
  )
  return loadEnded
}

/**
 * The login bench's load (bench/run.ts section 3: the auth server on a fresh SQLite database, 20
 * logins in flight, the protected route at a fixed rate beside them) after `--warmup` seconds of it;
 * the server stopped, when the load ended.
 */
async function profileLogin(): Promise<number> {
  const dataDir = mkdtempSync(`${tmpdir()}/tessera-profile-login-`)
  try {
    const server = await startAuthServer(dataDir, { nodeArgs: profiling })
    const { logins, protectedRoute } = await loginLoads(server)
    const both = (s: number): Promise<LoadResult[]> =>
      Promise.all([runLoad({ ...logins, seconds: s }), runLoad({ ...protectedRoute, seconds: s })])
    if (Number(args.warmup) > 0) await both(Number(args.warmup))
    const before = await server.ask({ cmd: 'cpu' }, 'cpu')
    const [result] = await both(seconds)
    const after = await server.ask({ cmd: 'cpu' }, 'cpu')
    const loadEnded = performance.now()
    await server.stop()
    if (result === undefined) throw new Error('no login load result')
    const msPerLogin =
      (after.user - before.user + after.system - before.system) / 1000 / result.requests.total
    console.log(
      `login: ${reqPerSec(result).toFixed(1)} logins/s, server ${msPerLogin.toFixed(2)} ms CPU/login (all threads, the protected stream included), statuses ${JSON.stringify(result.statusCodeStats)}`,
    )
    return loadEnded
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}

const loadEnded = kind === 'login' ? await profileLogin() : await profileProtected(kind, alg)
// Only the timed window counts: start-up (module loading, migrations), warm-up and shutdown are left out.
const afterLoadUs = (performance.now() - loadEnded) * 1000
const windowUs = seconds * 1e6

// The event loop's profile: worker threads (the password pool) write their own, numbered by thread id.
const file = readdirSync(dir).find((f) => /\.0\.\d+\.cpuprofile$/.test(f))
if (file === undefined) throw new Error(`no profile written in ${dir}`)
const profile = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const self = new Map<number, number>()
const stamps: number[] = []
let clock = profile.startTime
for (const delta of profile.timeDeltas) stamps.push((clock += delta))
const windowEnd = profile.endTime - afterLoadUs
profile.samples.forEach((id, i) => {
  const at = stamps[i] ?? 0
  if (at < windowEnd - windowUs || at > windowEnd) return
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
})
const fns = new Map<string, number>()
const origins = new Map<string, number>()
let total = 0
for (const [id, us] of self) {
  const node = byId.get(id)
  if (node === undefined) continue
  const { functionName, url, lineNumber } = node.callFrame
  if (functionName === '(idle)') continue
  total += us
  const where = url.replace(/^.*\/(node_modules|bench\/\.out\/build)\//, '')
  const key = `${functionName || '(anonymous)'}  ${where}:${lineNumber + 1}`
  fns.set(key, (fns.get(key) ?? 0) + us)
  const o = origin(url, functionName)
  origins.set(o, (origins.get(o) ?? 0) + us)
}
const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)} %`
console.log(`\nself time by origin (busy time only, ${(total / 1000).toFixed(0)} ms):`)
for (const [o, us] of [...origins].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${pct(us)}  ${o}`)
console.log('\nself time by function:')
for (const [f, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, Number(args.top)))
  console.log(`${pct(us)}  ${f}`)
console.log(`\nprofile: ${dir}/${file}`)
