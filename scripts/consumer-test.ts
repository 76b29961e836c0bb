/**
 * The packaging consumer test: packs both workspace packages, installs each tarball into an empty
 * project as a user would (`npm install <tarball>`), and checks what a user gets:
 *
 * - `tessera` alone installs nothing else (`npm ls --omit=dev --all`), no install script, no EBADENGINE;
 * - every `tessera` subpath compiles in a strict TypeScript consumer (`strict`, `skipLibCheck: false`,
 *   NodeNext) with only the peers that subpath uses installed (the root and `tessera/client` with none);
 * - no shipped file of `tessera` names a source map (`//# sourceMappingURL=`) that the tarball lacks;
 * - `tessera/sql` compiles and runs with kysely 0.29 (the current release) and 0.28: its ESM script
 *   revokes, checks, lists and purges on SQLite in memory (better-sqlite3 from this repository's
 *   node_modules, built for this Node by `npm ci`: the driver is the user's, Kysely only receives it);
 * - ESM scripts run: a token is created and verified with no peer installed, the Fastify and Express
 *   adapters answer 401 then 200;
 * - `tessera-server` (on the Node versions its `engines` accepts) installs without EBADENGINE, its types
 *   compile, `tessera --help` runs; with `--server-build`, better-sqlite3's install script runs (the
 *   project's package.json#allowScripts approves it; otherwise it denies it, saving minutes) and the
 *   server starts on SQLite and answers /healthz.
 *
 * Usage: `npm run test:packaging [-- --server-build] [--keep]` after `npm run build`.
 * The projects live in one temporary directory for the run (installs are made once and reused by the
 * checks); `--keep` leaves it for inspection. Exits non-zero on the first failed check.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const args = new Set(process.argv.slice(2))
const serverBuild = args.has('--server-build')
const keep = args.has('--keep')

interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** `work` over `items`, at most `n` at a time; the results in the items' order. */
async function atMost<T, R>(n: number, items: readonly T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i] as T)
  }
  await Promise.all(Array.from({ length: n }, worker))
  return results
}

/** Runs a command to completion; never throws on a non-zero exit (the caller decides). */
function run(
  command: string,
  argv: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<Result> {
  return new Promise((done, fail) => {
    const child = spawn(command, argv, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', fail)
    child.on('close', (code) => {
      done({ code: code ?? 1, stdout, stderr })
    })
  })
}

async function must(what: string, command: string, argv: readonly string[], cwd: string): Promise<Result> {
  const result = await run(command, argv, cwd, npmEnv)
  if (result.code !== 0) {
    throw new Error(`${what} failed (exit ${result.code}):\n${result.stdout}\n${result.stderr}`)
  }
  return result
}

let failures = 0
function check(ok: boolean, message: string, detail = ''): void {
  if (ok) {
    console.log(`  ok   ${message}`)
  } else {
    failures++
    console.log(`  FAIL ${message}${detail === '' ? '' : `\n${detail}`}`)
  }
}

// Native addons (better-sqlite3) are built for the Node running this script: its own headers, never a
// user-level `nodedir` that belongs to another Node.
const nodeDir = resolve(process.execPath, '..', '..')
const npmEnv: NodeJS.ProcessEnv = existsSync(join(nodeDir, 'include', 'node', 'node.h'))
  ? { npm_config_nodedir: nodeDir }
  : {}

/** `^a.b.c || >=x.y.z`-style ranges (the forms our `engines` use) against this Node. */
function nodeSatisfies(range: string): boolean {
  const parse = (v: string): number[] => v.split('.').map((n) => Number(n))
  const current = parse(process.versions.node)
  const atLeast = (want: number[]): boolean => {
    for (let i = 0; i < 3; i++) {
      const have = current[i] ?? 0
      const need = want[i] ?? 0
      if (have !== need) return have > need
    }
    return true
  }
  return range.split('||').some((part) => {
    const spec = part.trim()
    if (spec.startsWith('>=')) return atLeast(parse(spec.slice(2)))
    if (spec.startsWith('^')) {
      const want = parse(spec.slice(1))
      return current[0] === want[0] && atLeast(want)
    }
    throw new Error(`unsupported engines range: ${spec}`)
  })
}

interface PackageJson {
  name: string
  version: string
  engines?: { node?: string }
  scripts?: Record<string, string>
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
}

const rootPackage = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as PackageJson
const typesNode = `@types/node@${rootPackage.devDependencies?.['@types/node'] ?? 'latest'}`
const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

const work = await mkdtemp(join(tmpdir(), 'tessera-consumer-'))
console.log(`== packaging consumer test on node ${process.version} (${work})`)

try {
  // 1. Pack both packages from their built dist/ (no prepare/prepack: build before pack).
  const tarballs = join(work, 'tarballs')
  await mkdir(tarballs)
  for (const dist of ['packages/tessera/dist/index.js', 'packages/server/dist/server/index.js']) {
    if (!existsSync(join(ROOT, dist))) throw new Error(`${dist} is missing: run \`npm run build\` first`)
  }
  const packed = JSON.parse(
    (
      await must(
        'npm pack',
        'npm',
        ['pack', '-w', 'tessera', '-w', 'tessera-server', '--json', '--pack-destination', tarballs],
        ROOT,
      )
    ).stdout,
  ) as { name: string; filename: string }[]
  const tarball = (name: string): string => {
    const entry = packed.find((p) => p.name === name)
    if (entry === undefined) throw new Error(`npm pack made no ${name} tarball`)
    return join(tarballs, entry.filename)
  }
  const lib = tarball('tessera')
  const server = tarball('tessera-server')

  console.log('-- published package.json files')
  const manifests = new Map<string, PackageJson>()
  for (const [name, file] of [
    ['tessera', lib],
    ['tessera-server', server],
  ] as const) {
    const manifest = JSON.parse(
      (await must('tar', 'tar', ['-xzOf', file, 'package/package.json'], work)).stdout,
    ) as PackageJson
    manifests.set(name, manifest)
    const lifecycle = Object.keys(manifest.scripts ?? {}).filter((s) =>
      ['prepare', 'preinstall', 'install', 'postinstall'].includes(s),
    )
    check(
      lifecycle.length === 0,
      `${name}: no install-time script in the published package.json`,
      lifecycle.join(', '),
    )
    const files = (await must('tar', 'tar', ['-tzf', file], work)).stdout.split('\n')
    check(files.includes('package/LICENSE'), `${name}: LICENSE in the tarball`)
    check(files.includes('package/README.md'), `${name}: README.md in the tarball`)
  }
  check(
    Object.keys(manifests.get('tessera')?.dependencies ?? {}).length === 0,
    'tessera: zero dependencies in package.json',
  )

  // A `//# sourceMappingURL=x.map` whose map is not shipped makes bundlers with a source-map loader
  // warn ENOENT for every such file (and points debuggers at nothing): neither package has one.
  console.log('-- source map references in the tarballs')
  for (const [name, file] of [
    ['tessera', lib],
    ['tessera-server', server],
  ] as const) {
    const unpacked = join(work, 'unpacked', name)
    await mkdir(unpacked, { recursive: true })
    await must('tar', 'tar', ['-xzf', file, '-C', unpacked], work)
    const root = join(unpacked, 'package')
    const shipped = (await readdir(root, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name))
    const dangling: string[] = []
    for (const path of shipped.filter((f) => /\.(c|m)?(js|ts)$/.test(f))) {
      const source = await readFile(path, 'utf8')
      for (const [, url] of source.matchAll(/^\s*\/[/*][#@] sourceMappingURL=(\S+?)(?:\s*\*\/)?\s*$/gm)) {
        if (url === undefined || url.startsWith('data:')) continue
        if (!existsSync(join(dirname(path), url))) dangling.push(`${relative(root, path)} → ${url}`)
      }
    }
    const summary = `${name}: no shipped file references a missing source map (${shipped.length} files)`
    check(dangling.length === 0, summary, dangling.slice(0, 10).join('\n'))
  }

  // 2. One empty project per set of peers; installed once, reused by every check below.
  interface Project {
    readonly name: string
    readonly deps: readonly string[]
    readonly devDeps: readonly string[]
    /** package.json#allowScripts of the project (npm 11: true runs the script, false skips it). */
    readonly allowScripts?: Record<string, boolean>
  }
  const projects: Project[] = [
    { name: 'bare', deps: [lib], devDeps: [typesNode] },
    { name: 'fastify', deps: [lib, 'fastify@^5'], devDeps: [typesNode] },
    { name: 'express', deps: [lib, 'express@^5'], devDeps: [typesNode, '@types/express@^5'] },
    // ioredis's own declarations import 'redis-errors', which ships no types: with skipLibCheck false any
    // ioredis user needs @types/redis-errors (tessera/redis's declarations add nothing to that).
    { name: 'redis', deps: [lib, 'ioredis@^6'], devDeps: [typesNode, '@types/redis-errors@^1'] },
    // kysely 0.29 is the current release (its engines ask for Node 22); 0.28 is the lower line of the range.
    { name: 'sql', deps: [lib, 'kysely@^0.29'], devDeps: [typesNode] },
    { name: 'sql-0.28', deps: [lib, 'kysely@^0.28'], devDeps: [typesNode] },
  ]
  const serverEngines = manifests.get('tessera-server')?.engines?.node ?? ''
  const serverSupported = nodeSatisfies(serverEngines)
  if (serverSupported) {
    projects.push({
      name: 'server',
      // tessera-server depends on tessera ^0.2.0: the local tarball satisfies it (nothing from the registry).
      deps: [lib, server],
      devDeps: [typesNode],
      // Without --server-build, better-sqlite3's native build (minutes) is denied: the rest still runs.
      allowScripts: { 'better-sqlite3': serverBuild },
    })
  } else {
    console.log(
      `-- tessera-server: engines "${serverEngines}" excludes node ${process.version}; not installed`,
    )
  }
  const libEngines = manifests.get('tessera')?.engines?.node ?? ''
  check(nodeSatisfies(libEngines), `tessera: engines "${libEngines}" accepts node ${process.version}`)

  const installs = new Map<string, Result>()
  const install = async (project: Project): Promise<void> => {
    const dir = join(work, project.name)
    await mkdir(dir)
    // One `npm install` per project: the tarballs as file: specs, the peers from the registry.
    const spec = (dep: string): [string, string] => {
      if (dep.endsWith('.tgz'))
        return [dep.includes('tessera-server') ? 'tessera-server' : 'tessera', `file:${dep}`]
      const at = dep.lastIndexOf('@')
      return at > 0 ? [dep.slice(0, at), dep.slice(at + 1)] : [dep, '*']
    }
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify(
        {
          name: `consumer-${project.name}`,
          private: true,
          type: 'module',
          dependencies: Object.fromEntries(project.deps.map(spec)),
          devDependencies: Object.fromEntries(project.devDeps.map(spec)),
          ...(project.allowScripts === undefined ? {} : { allowScripts: project.allowScripts }),
        },
        null,
        2,
      ),
    )
    const flags = ['--no-audit', '--no-fund']
    const started = Date.now()
    installs.set(
      project.name,
      await must(`npm install in ${project.name}`, 'npm', ['install', ...flags], dir),
    )
    console.log(`-- installed ${project.name} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  }
  // Three at a time: npm's own work is mostly waiting on the registry and the disk.
  await atMost(3, projects, install)

  console.log('-- install warnings')
  // fastify 5's own dependencies (cookie 2 via light-my-request) require Node 22: below that, a
  // project with the fastify peer gets fastify's warning whatever tessera does. Noted, not failed.
  const major = Number(process.versions.node.split('.')[0])
  for (const [name, result] of installs) {
    const output = result.stdout + result.stderr
    const warned = output.includes('EBADENGINE')
    if (warned && name === 'fastify' && major < 22) {
      console.log(
        `  note fastify: fastify 5's dependencies warn EBADENGINE on node ${process.version} (they need 22)`,
      )
      continue
    }
    // Likewise kysely 0.29 declares Node 22 (it runs on 20: the sql script below shows it).
    if (warned && name === 'sql' && major < 22 && /EBADENGINE[^]*package: 'kysely@0\.29/.test(output)) {
      console.log(`  note sql: kysely 0.29 warns EBADENGINE on node ${process.version} (it declares 22)`)
      continue
    }
    check(!warned, `${name}: no EBADENGINE warning on node ${process.version}`, output)
  }

  console.log('-- runtime dependencies of tessera (npm ls --omit=dev --all)')
  const bare = join(work, 'bare')
  const listed = await must('npm ls', 'npm', ['ls', '--omit=dev', '--all'], bare)
  // Missing optional peers are not listed; anything else under or beside tessera would be.
  const lines = listed.stdout
    .trim()
    .split('\n')
    .slice(1)
    .filter((line) => !line.includes('UNMET OPTIONAL DEPENDENCY'))
  check(
    lines.length === 1 && /^└─[─┬] tessera@\d/.test(lines[0] ?? ''),
    `tessera alone: \`npm ls --omit=dev --all\` lists nothing beyond it (${lines.join(' ').trim()})`,
    listed.stdout,
  )
  const parseable = await must('npm ls', 'npm', ['ls', '--omit=dev', '--all', '--parseable'], bare)
  const installed = parseable.stdout.trim().split('\n').slice(1)
  check(
    installed.length === 1 && installed[0]?.endsWith(join('node_modules', 'tessera')) === true,
    'tessera alone: node_modules holds only tessera (dev types aside)',
    parseable.stdout,
  )

  // 3. Strict TypeScript consumers, one per subpath, each in the project with only its peers.
  console.log('-- strict TypeScript consumers (skipLibCheck: false, NodeNext)')
  const tsconfig = {
    compilerOptions: {
      strict: true,
      skipLibCheck: false,
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      target: 'ES2022',
      noEmit: true,
      types: ['node'],
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
    },
    include: ['*.ts'],
  }
  const sqlConsumer = `import type { Kysely } from 'kysely'
import { createTessera } from 'tessera'
import { createRevocationsTable, sqlRevocationStore, type RevocationsDatabase } from 'tessera/sql'
export const authFor = async (db: Kysely<RevocationsDatabase>) => {
  await createRevocationsTable(db)
  return createTessera({ secret: process.env.JWT_SECRET, revocation: sqlRevocationStore(db) })
}
`
  const consumers: Record<string, Record<string, string>> = {
    bare: {
      'root.ts': `import { createTessera, generateKey, isTesseraError, type VerifiedToken } from 'tessera'
const auth = createTessera({ keys: await generateKey('EdDSA') })
const verified: VerifiedToken = await auth.verify(await auth.createAccessToken('alice'))
export const identity: string = String(verified.identity)
export const guard = (error: unknown): string | undefined => (isTesseraError(error) ? error.code : undefined)
// A string | undefined for an optional option, under exactOptionalPropertyTypes (as the READMEs write it).
export const fromEnv = () => createTessera({ secret: process.env.JWT_SECRET })
`,
      'client.ts': `import { createClient, type TesseraClient } from 'tessera/client'
export const client: TesseraClient = createClient({ mode: 'cookie', baseUrl: 'http://127.0.0.1:8080' })
`,
    },
    fastify: {
      'fastify.ts': `import Fastify from 'fastify'
import { createTessera } from 'tessera'
import { tesseraFastify } from 'tessera/fastify'
const auth = createTessera({ secret: 'a'.repeat(32) })
const app = Fastify()
await app.register(tesseraFastify, { auth })
app.get('/me', { preHandler: app.jwtRequired() }, (request) => ({ id: request.jwt?.identity }))
`,
    },
    express: {
      'express.ts': `import express from 'express'
import { createTessera } from 'tessera'
import { jwtRequired } from 'tessera/express'
const auth = createTessera({ secret: 'a'.repeat(32) })
const app = express()
app.get('/me', jwtRequired(auth), (req, res) => {
  res.json({ id: req.jwt?.identity })
})
`,
    },
    redis: {
      'redis.ts': `import { Redis } from 'ioredis'
import { createTessera } from 'tessera'
import { redisRevocationStore, type RedisRevocationStore } from 'tessera/redis'
const store: RedisRevocationStore = redisRevocationStore({ client: new Redis({ lazyConnect: true }) })
export const auth = createTessera({ secret: 'a'.repeat(32), revocation: store })
`,
    },
    sql: { 'sql.ts': sqlConsumer },
    'sql-0.28': { 'sql.ts': sqlConsumer },
    server: {
      'server.ts': `import { buildServer, type BuiltServer } from 'tessera-server'
export const build = (dataDir: string): Promise<BuiltServer> => buildServer({ dataDir, logLevel: 'silent' })
`,
    },
  }
  // Two compilers at a time (one per core); the checks are reported in the projects' order.
  const compile = async (project: (typeof projects)[number]): Promise<Result> => {
    const dir = join(work, project.name)
    const files = consumers[project.name] ?? {}
    for (const [file, source] of Object.entries(files)) await writeFile(join(dir, file), source)
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2))
    return run(process.execPath, [tsc, '-p', 'tsconfig.json'], dir)
  }
  const compiled = await atMost(2, projects, compile)
  for (const [index, project] of projects.entries()) {
    const files = consumers[project.name] ?? {}
    const result = compiled[index] as Result
    check(
      result.code === 0,
      `tsc --strict --skipLibCheck false: ${Object.keys(files).join(', ')} (peers: ${
        project.deps
          .slice(1)
          .map((d) => (d.endsWith('.tgz') ? 'tessera-server' : d))
          .join(', ') || 'none'
      })`,
      result.stdout + result.stderr,
    )
  }

  // 4. ESM scripts through the packages' exports.
  console.log('-- ESM scripts')
  // tessera/sql on SQLite in memory through the project's own kysely. better-sqlite3 comes from this
  // repository (TESSERA_SQLITE_FROM), as no consumer project builds it; if it cannot load on this Node
  // the script says so and only the import is checked (reported as a note, not a pass).
  const sqlScript = `import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { Kysely, SqliteDialect } from 'kysely'
import { createTessera } from 'tessera'
import { createRevocationsTable, sqlRevocationStore } from 'tessera/sql'
const kysely = JSON.parse(readFileSync(new URL('node_modules/kysely/package.json', import.meta.url), 'utf8')).version
let Database
try {
  Database = createRequire(process.env.TESSERA_SQLITE_FROM)('better-sqlite3')
  new Database(':memory:').close()
} catch (error) {
  if (typeof sqlRevocationStore !== 'function') throw new Error('no sqlRevocationStore')
  console.log('SKIPPED: tessera/sql loads with kysely ' + kysely + '; better-sqlite3 unavailable: ' + String(error).split('\\n')[0])
  process.exit(0)
}
const db = new Kysely({ dialect: new SqliteDialect({ database: new Database(':memory:') }) })
await createRevocationsTable(db)
await createRevocationsTable(db) // idempotent
const store = sqlRevocationStore(db)
const now = Math.floor(Date.now() / 1000)
await store.revokeToken('j1', now + 60)
await store.revokeToken('j1', now + 30) // never shortens
await store.revokeSession('s1', now + 60)
await store.revokeUser('u1', now - 10, now + 60)
await store.revokeUser('u1', now - 100, now + 60) // never moves "before" back
await store.revokeToken('gone', now - 5)
const live = await store.loadLive(now)
const auth = createTessera({ secret: randomBytes(32).toString('base64url'), revocation: store })
const token = await auth.createAccessToken('alice')
const jti = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti
const before = (await auth.verify(token)).identity
await store.revokeToken(jti, now + 600)
const refused = await auth.verify(token).then(() => 'accepted', (error) => error.code)
const checks = {
  token: await store.isRevoked({ jti: 'j1' }),
  session: await store.isRevoked({ sid: 's1' }),
  userBefore: await store.isRevoked({ sub: 'u1', iat: now - 50 }),
  userAfter: !(await store.isRevoked({ sub: 'u1', iat: now })),
  expired: !(await store.isRevoked({ jti: 'gone' })),
  live: live.length === 3 && live.find((e) => e.id === 'j1')?.expiresAt === now + 60,
  userLive: live.find((e) => e.id === 'u1')?.before === now - 10,
  purged: (await store.purgeExpired(now)) === 1,
  verify: before === 'alice' && refused === 'token_revoked',
}
await db.destroy()
const failed = Object.entries(checks).filter(([, ok]) => !ok).map(([name]) => name)
if (failed.length > 0) throw new Error('tessera/sql on SQLite with kysely ' + kysely + ': ' + failed.join(', ') + ' (' + refused + ')')
console.log('tessera/sql on SQLite with kysely ' + kysely + ': ' + Object.keys(checks).length + ' checks')
`
  const scripts: Record<string, string> = {
    bare: `import { createTessera, generateKey } from 'tessera'
import { createClient } from 'tessera/client'
const auth = createTessera({ keys: await generateKey('EdDSA') })
const { identity } = await auth.verify(await auth.createAccessToken('alice'))
if (identity !== 'alice' || typeof createClient !== 'function') throw new Error('unexpected ' + identity)
console.log('verified', identity)
`,
    fastify: `import Fastify from 'fastify'
import { randomBytes } from 'node:crypto'
import { createTessera } from 'tessera'
import { tesseraFastify } from 'tessera/fastify'
const auth = createTessera({ secret: randomBytes(32).toString('base64url') })
const app = Fastify()
await app.register(tesseraFastify, { auth })
app.get('/me', { preHandler: app.jwtRequired() }, (request) => ({ id: request.jwt?.identity }))
const denied = await app.inject('/me')
const token = await auth.createAccessToken('alice')
const ok = await app.inject({ url: '/me', headers: { authorization: 'Bearer ' + token } })
if (denied.statusCode !== 401 || ok.statusCode !== 200 || ok.json().id !== 'alice') throw new Error(denied.statusCode + ' ' + ok.body)
console.log('fastify', denied.statusCode, ok.statusCode)
`,
    express: `import express from 'express'
import { randomBytes } from 'node:crypto'
import { createTessera } from 'tessera'
import { jwtRequired } from 'tessera/express'
const auth = createTessera({ secret: randomBytes(32).toString('base64url') })
const app = express()
app.get('/me', jwtRequired(auth), (req, res) => { res.json({ id: req.jwt?.identity }) })
const server = app.listen(0, '127.0.0.1')
await new Promise((done) => server.once('listening', done))
const url = 'http://127.0.0.1:' + server.address().port + '/me'
const denied = await fetch(url)
const ok = await fetch(url, { headers: { authorization: 'Bearer ' + (await auth.createAccessToken('alice')) } })
const body = await ok.json()
server.close()
if (denied.status !== 401 || ok.status !== 200 || body.id !== 'alice') throw new Error(denied.status + ' ' + JSON.stringify(body))
console.log('express', denied.status, ok.status)
`,
    redis: `import { redisRevocationStore } from 'tessera/redis'
if (typeof redisRevocationStore !== 'function') throw new Error('no redisRevocationStore')
console.log('tessera/redis loads')
`,
    sql: sqlScript,
    'sql-0.28': sqlScript,
    server: serverBuild
      ? `import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from 'tessera-server'
const built = await buildServer({ dataDir: mkdtempSync(join(tmpdir(), 'tessera-data-')), logLevel: 'silent' })
const health = await built.app.inject('/healthz')
await built.close()
if (health.statusCode !== 200) throw new Error(health.statusCode + ' ' + health.body)
console.log('tessera-server on SQLite: /healthz', health.statusCode)
`
      : `import { buildServer } from 'tessera-server'
if (typeof buildServer !== 'function') throw new Error('no buildServer')
console.log('tessera-server loads (better-sqlite3 not built: run with --server-build to start it)')
`,
  }
  for (const project of projects) {
    const dir = join(work, project.name)
    await writeFile(join(dir, 'run.mjs'), scripts[project.name] ?? '')
    const result = await run(process.execPath, ['run.mjs'], dir, {
      TESSERA_SQLITE_FROM: join(ROOT, 'package.json'),
    })
    if (result.code === 0 && result.stdout.startsWith('SKIPPED: ')) {
      console.log(`  note ${project.name}: node run.mjs → ${result.stdout.trim().slice(9)}`)
      continue
    }
    check(result.code === 0, `${project.name}: node run.mjs → ${result.stdout.trim()}`, result.stderr)
  }
  if (serverSupported) {
    const dir = join(work, 'server')
    const bin = join(dir, 'node_modules', '.bin', 'tessera')
    const help = await run(process.execPath, [bin, '--help'], dir)
    check(
      help.code === 0 && help.stdout.includes('serve'),
      'tessera-server: `tessera --help`',
      help.stdout + help.stderr,
    )
    const version = await run(process.execPath, [bin, '--version'], dir)
    const expected = manifests.get('tessera-server')?.version ?? '?'
    check(
      version.stdout.includes(expected),
      `tessera-server: \`tessera --version\` → ${version.stdout.trim()}`,
    )
  }
} finally {
  if (keep) console.log(`kept ${work}`)
  else await rm(work, { recursive: true, force: true })
}

if (failures > 0) {
  console.error(`packaging consumer test: ${failures} check(s) failed`)
  process.exit(1)
}
console.log('packaging consumer test: all checks passed')
