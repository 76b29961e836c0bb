/**
 * Tables, verdicts and bench/RESULTS.md. Every number in the text comes from the rows of this run;
 * the wording only changes with what the numbers say.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { loadavg, release } from 'node:os'
import { fileURLToPath } from 'node:url'
import { format, resolveConfig } from 'prettier'
import { GROUPS, type Suite } from './cases.js'
import { formatNs, formatOps, pairedSlowdown, type Row } from './stats.js'

/** The tracker's target: Tessera's uncached HS256 verify at ≥ 0.8 × the bare reference's ops/s. */
const TARGET_RATIO = 0.8
/** A KeyObject/Buffer difference below this share, or not agreed by every run, is called noise. */
const NOISE_SHARE = 0.03

const repoDir = fileURLToPath(new URL('../../', import.meta.url))

export interface MachineInfo {
  nproc: string
  cpu: string
  node: string
  v8: string
  openssl: string
  kernel: string
  loadavg: string
}

function run(command: string, commandArgs: string[]): string | undefined {
  try {
    return execFileSync(command, commandArgs, { cwd: repoDir, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim()
  } catch {
    return undefined
  }
}

export function machineInfo(): MachineInfo {
  let cpu = 'unknown'
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'))
    if (line !== undefined) cpu = line.slice(line.indexOf(':') + 1).trim()
  } catch {
    // Not Linux: leave "unknown".
  }
  return {
    nproc: run('nproc', []) ?? 'unknown',
    cpu,
    node: process.version,
    v8: process.versions.v8,
    openssl: process.versions.openssl,
    kernel: release(),
    loadavg: loadavg()
      .map((l) => l.toFixed(2))
      .join(' / '),
  }
}

function packageVersion(name: string): string {
  try {
    const pkg = JSON.parse(readFileSync(`${repoDir}node_modules/${name}/package.json`, 'utf8')) as {
      version?: string
    }
    return pkg.version ?? 'unknown'
  } catch {
    return 'not installed'
  }
}

function tesseraVersion(): string {
  const pkg = JSON.parse(readFileSync(`${repoDir}packages/tessera/package.json`, 'utf8')) as {
    version?: string
  }
  const commit = run('git', ['rev-parse', '--short', 'HEAD'])
  const changed = (
    run('git', [
      'status',
      '--porcelain',
      '--untracked-files=all',
      '--',
      'packages/tessera/src/core',
      'packages/tessera/src/index.ts',
    ]) ?? ''
  )
    .split('\n')
    .filter((line) => line !== '')
    // "XY path" (the first line arrives trimmed): keep the path, without the "src/" prefix.
    .map((line) =>
      line
        .trim()
        .replace(/^\S+\s+/, '')
        .replace(/^packages\/tessera\/src\//, ''),
    )
  const state =
    commit === undefined
      ? ''
      : ` (commit ${commit}${changed.length === 0 ? '' : `; uncommitted changes in ${changed.join(', ')}`})`
  return `${pkg.version ?? 'unknown'}${state}`
}

// --- tables --------------------------------------------------------------------------------------

function table(header: string[], body: string[][], align: ('l' | 'r')[]): string {
  const widths = header.map((h, i) => Math.max(3, h.length, ...body.map((r) => (r[i] ?? '').length)))
  const cell = (text: string, i: number): string =>
    align[i] === 'r' ? text.padStart(widths[i]!) : text.padEnd(widths[i]!)
  const line = (cells: string[]): string => `| ${cells.map(cell).join(' | ')} |`
  const rule = `| ${widths.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`
  return [line(header), rule, ...body.map(line)].join('\n')
}

const ratioText = (r: number): string => (Number.isFinite(r) ? r.toFixed(2) : 'n/a')

function spread(values: readonly number[], fmt: (v: number) => string): string {
  if (values.length < 2) return fmt(values[0] ?? Number.NaN)
  return `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`
}

/** One markdown table per group. */
export function renderTables(rows: readonly Row[], suite: Suite, { runs }: { runs: number }): string {
  const parts: string[] = []
  for (const group of GROUPS) {
    const members = rows.filter((r) => r.group === group)
    if (members.length === 0) continue
    const body = members.map((r) => [
      r.role === 'tessera' ? `**${r.label}**` : r.role === 'variant' ? `_${r.label}_` : r.label,
      formatNs(r.ns),
      `${formatNs(r.minNs)}–${formatNs(r.maxNs)}`,
      spread(r.runNs, formatNs),
      formatOps(r.ns),
      r.role === 'reference' ? '1.00' : ratioText(r.ratio),
      spread(r.runRatios, ratioText),
    ])
    for (const u of suite.unsupported.filter((x) => x.group === group)) {
      body.push([`${u.label}: not supported (${u.reason})`, 'n/a', '', '', '', '', ''])
    }
    parts.push(
      `### ${group}\n\n${table(
        [
          'Contender',
          'median ns/op',
          'min–max ns (mitata)',
          runs > 1 ? `range of the ${runs} run medians` : 'run median',
          'ops/s',
          '× bare',
          runs > 1 ? '× bare, range over runs' : '× bare, run',
        ],
        body,
        ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
      )}`,
    )
  }
  return parts.join('\n\n')
}

// --- verdicts ------------------------------------------------------------------------------------

const byId = (rows: readonly Row[], id: string): Row | undefined => rows.find((r) => r.id === id)

const pct = (share: number): string =>
  Number.isFinite(share) ? `${share >= 0 ? '+' : '−'}${Math.abs(share * 100).toFixed(1)} %` : 'n/a'

export interface Verdict {
  target: 'met' | 'missed' | 'borderline' | 'unknown'
  lines: string[]
}

/** The target verdict, the other Tessera verify ratios and the KeyObject/Buffer finding, as sentences. */
function verdict(rows: readonly Row[]): Verdict {
  const lines: string[] = []
  const inline = byId(rows, 'hs-verify/tessera-inline')
  let target: Verdict['target'] = 'unknown'
  if (inline !== undefined) {
    const low = Math.min(...inline.runRatios)
    const high = Math.max(...inline.runRatios)
    if (low >= TARGET_RATIO) target = 'met'
    else if (high < TARGET_RATIO || inline.ratio < TARGET_RATIO) target = 'missed'
    else target = 'borderline'
    const word = {
      met: 'MET',
      missed: 'MISSED',
      borderline: 'MET in the median, not in every run',
      unknown: '?',
    }
    lines.push(
      `Target (Tessera \`verifyInline\` HS256 ≥ ${TARGET_RATIO} × bare): **${word[target]}**: ` +
        `${ratioText(inline.ratio)} × bare, ${formatNs(inline.ns)} ns/op (per run ${inline.runRatios.map(ratioText).join(', ')}).`,
    )
    const text = byId(rows, 'hs-verify/bare-text')
    if (text !== undefined) {
      const d = pairedSlowdown(text, inline)
      lines.push(
        `Against a tighter reference that compares the MAC as base64url text (\`digest('base64url')\`, ` +
          `${formatNs(text.ns)} ns/op), Tessera is at ${ratioText(1 / (1 + d.median))} × ` +
          `(per run ${d.runs.map((x) => ratioText(1 / (1 + x))).join(', ')}).`,
      )
    }
  }
  for (const id of ['hs-verify/tessera-await', 'ed-verify/tessera-inline', 'ed-verify/tessera-await']) {
    const r = byId(rows, id)
    if (r !== undefined) {
      lines.push(`${r.group}, ${r.label}: ${ratioText(r.ratio)} × bare (${formatNs(r.ns)} ns/op).`)
    }
  }
  lines.push(...keyObjectFinding(rows))
  return { target, lines }
}

export function verdictLines(rows: readonly Row[]): string[] {
  return verdict(rows).lines
}

/** Does `createHmac` with a KeyObject cost more or less than with a Buffer? Paired round by round. */
function keyObjectFinding(rows: readonly Row[]): string[] {
  const lines: string[] = []
  const pairs: [string, string, string][] = [
    ['hs-verify/bare', 'hs-verify/bare-buffer', 'bare reference'],
    ['hs-verify/tessera-inline', 'hs-verify/tessera-buffer', 'Tessera verifyInline, keys.ts patched'],
  ]
  for (const [keyObjectId, bufferId, what] of pairs) {
    const keyObject = byId(rows, keyObjectId)
    const buffer = byId(rows, bufferId)
    if (keyObject === undefined || buffer === undefined) continue
    const d = pairedSlowdown(keyObject, buffer)
    const agreed = d.runs.every((x) => Math.sign(x) === Math.sign(d.median))
    const matters = agreed && Math.abs(d.median) >= NOISE_SHARE && d.runs.length > 1
    lines.push(
      `KeyObject vs Buffer secret (${what}): ${formatNs(keyObject.ns)} vs ${formatNs(buffer.ns)} ns/op; ` +
        `Buffer ${pct(d.median)} per op (per run ${d.runs.map(pct).join(', ')}): ` +
        (matters
          ? `${d.median > 0 ? 'the KeyObject' : 'the Buffer'} is faster in every run.`
          : `no difference beyond run-to-run noise (threshold ${NOISE_SHARE * 100} %, same sign in every run).`),
    )
  }
  return lines
}

// --- RESULTS.md ----------------------------------------------------------------------------------

export interface ResultsInput {
  rows: Row[]
  suite: Suite
  command: string
  startedAt: Date
  finishedAt: Date
  runs: number
  rounds: number
  time: number
  engine: 'build' | 'src'
  pin: string | undefined
  machineBefore: MachineInfo
  machineAfter: MachineInfo
}

export async function renderResults(input: ResultsInput): Promise<string> {
  const { rows, suite, machineBefore: m } = input
  const v = verdict(rows)
  const row = (id: string): Row | undefined => byId(rows, id)
  const ns = (id: string): string => formatNs(row(id)?.ns ?? Number.NaN)
  const cite = (id: string): string => `${ns(id)} ns/op, ${ratioText(row(id)?.ratio ?? Number.NaN)} × bare`
  /** How many times Tessera's time `id` takes. */
  const times = (id: string, tessera: string): string => {
    const a = row(id)?.ns
    const b = row(tessera)?.ns
    return a === undefined || b === undefined ? 'n/a' : `${(a / b).toFixed(a / b >= 10 ? 0 : 2)} ×`
  }
  /** How much slower `b` is than `a`, paired round by round. */
  const slower = (a: string, b: string): string => {
    const x = row(a)
    const y = row(b)
    return x === undefined || y === undefined ? 'n/a' : pct(pairedSlowdown(x, y).median)
  }
  const commandOptions = input.command.replace(/^.*bench\/micro\.ts\s*/, '')
  const minutes = ((input.finishedAt.getTime() - input.startedAt.getTime()) / 60_000).toFixed(1)
  const engine =
    input.engine === 'build'
      ? "Tessera as tsc compiles it with `tsconfig.build.json`'s settings (what `dist/` ships): `src/index.ts` and its imports from the working tree, into `bench/.out/engine`, at the start of the command"
      : 'Tessera loaded from `src/` through tsx (slower than what ships: see the tsx row)'
  const text = `# Micro-benchmark: the JWS engine

Written by \`bench/micro.ts\` in full mode; re-run it rather than editing this file.

- **Command:** \`${input.command}\` (or \`npm run bench:micro${commandOptions === '' ? '' : ` -- ${commandOptions}`}\`); CI runs \`npx tsx bench/micro.ts --smoke\`
- **Date:** ${input.startedAt.toISOString()}, ${minutes} min
- **Machine:** \`nproc\` ${m.nproc}, ${m.cpu} (shared cores), Linux ${m.kernel}; load average 1/5/15 min ${m.loadavg} before, ${input.machineAfter.loadavg} after${input.pin === undefined ? '; not pinned' : `; measuring processes pinned with \`taskset -c ${input.pin}\``}
- **Runtime:** Node ${m.node} (V8 ${m.v8}, OpenSSL ${m.openssl})
- **Packages:** tessera ${tesseraVersion()}, fast-jwt ${packageVersion('fast-jwt')}, jose ${packageVersion('jose')}, jsonwebtoken ${packageVersion('jsonwebtoken')}, mitata ${packageVersion('mitata')}, tsx ${packageVersion('tsx')}, typescript ${packageVersion('typescript')}
- **Engine:** ${engine}.
- **Method:** ${input.runs} runs, each a fresh \`node --expose-gc\` process. A run times every case ${input.rounds} times (rounds; the order inside a group is reversed every other round), each time after a 100 ms untimed warm-up, for at least ${input.time} ms with mitata's \`measure\` (samples of 256 operations, GC before each case). A run's figure is the median of its rounds' p50. The table gives the median of the runs' figures, the fastest and slowest mitata sample over all runs (mitata drops the two extreme samples at each end) and the range of the runs' figures. **× bare** is ops/s as a share of the group's bare reference, paired round by round with the reference measured seconds earlier or later, median over rounds and then over runs. The two are aggregated separately, so when one run was disturbed a row's ns/op and × bare can disagree a little: trust × bare for comparisons.
- **Tokens:** one access token per algorithm, made by Tessera: header \`alg\`, \`kid\` (RFC 7638 thumbprint), \`typ: at+jwt\`; claims \`roles\`, \`sub\`, \`iat\`, \`nbf\`, \`exp\` (24 h ahead: nothing expires during a run), \`jti\`, \`type\`, \`fresh\`. HS256: ${suite.tokens.hs256.length} characters; EdDSA: ${suite.tokens.eddsa.length}. Before timing, every verifier must accept its token and refuse the same token with a tampered signature, and every signer's token must verify in both Tessera and jose.
- **Uncached:** Tessera's timed rows run with \`verifyCache: false\` (only parsed _headers_ are cached, by their exact text); the italic \`verifyCache\` rows show the default, where the same token verified again is a cache hit; fast-jwt runs with \`cache: false\`; jose and jsonwebtoken cache nothing. Tessera keeps its default in-memory revocation store (empty). Each signer builds the same claim set on every call, with a new random \`jti\`.

${m.nproc} shared cores make these numbers noisy: compare the per-run columns before trusting a difference of less than about 5 %.

## Results

${renderTables(rows, suite, { runs: input.runs })}

**Bare references.** HS256 verify: \`split('.')\`, \`createHmac('sha256', secretKeyObject).update(signingInput).digest()\`, a length check and \`timingSafeEqual\` against the decoded signature, \`JSON.parse\` of the payload. EdDSA verify: \`crypto.verify(null, data, publicKeyObject, signature)\` and \`JSON.parse\`. Sign: the claims through \`JSON.stringify\` and base64url behind a cached header segment, then \`createHmac\` or \`crypto.sign\`. They check no header, claim or revocation rule. **Bold** rows are Tessera; _italic_ rows are variants for information.

## Target: Tessera HS256 verify ≥ ${TARGET_RATIO} × bare

${v.lines.map((l) => `- ${l}`).join('\n')}

## Decision

Tessera's hot path calls node:crypto directly. Keys are imported once into KeyObjects; HS\\* verification is \`createHmac\` and \`timingSafeEqual\`, the asymmetric algorithms one synchronous \`crypto.verify\`, so \`verifyInline\` answers without a promise. On this token:

| HS256 verify | ns/op | × bare | × Tessera's time |
| --- | ---: | ---: | ---: |
| Tessera \`verifyInline\` | ${ns('hs-verify/tessera-inline')} | ${ratioText(row('hs-verify/tessera-inline')?.ratio ?? Number.NaN)} | 1 × |
| fast-jwt, \`cache: false\` | ${ns('hs-verify/fast-jwt')} | ${ratioText(row('hs-verify/fast-jwt')?.ratio ?? Number.NaN)} | ${times('hs-verify/fast-jwt', 'hs-verify/tessera-inline')} |
| jsonwebtoken | ${ns('hs-verify/jsonwebtoken')} | ${ratioText(row('hs-verify/jsonwebtoken')?.ratio ?? Number.NaN)} | ${times('hs-verify/jsonwebtoken', 'hs-verify/tessera-inline')} |
| jose, pre-imported CryptoKey | ${ns('hs-verify/jose')} | ${ratioText(row('hs-verify/jose')?.ratio ?? Number.NaN)} | ${times('hs-verify/jose', 'hs-verify/tessera-inline')} |
| jose, \`Uint8Array\` secret | ${ns('hs-verify/jose-bytes')} | ${ratioText(row('hs-verify/jose-bytes')?.ratio ?? Number.NaN)} | ${times('hs-verify/jose-bytes', 'hs-verify/tessera-inline')} |

For EdDSA the signature check itself dominates and only jose falls far behind: Tessera ${cite('ed-verify/tessera-inline')}; fast-jwt ${cite('ed-verify/fast-jwt')}; jose ${cite('ed-verify/jose')}.

These Tessera rows run with \`verifyCache: false\`: every call does the whole verification. With the verified-token cache on (the default), a token presented again skips the signature and the payload parsing, and only the claim checks and the revocation lookup run: HS256 ${cite('hs-verify/tessera-cached')}; EdDSA ${cite('ed-verify/tessera-cached')} (the italic rows).

- **jose is not the engine.** jose 6 is built on WebCrypto only: on Node each \`crypto.subtle.verify\`/\`sign\` is an asynchronous job on the libuv thread pool, so every token pays a thread hop and promise turns, plus a key import per call when the secret is given as bytes. That is ${times('hs-verify/jose', 'hs-verify/tessera-inline')} Tessera's time for HS256 verify and ${times('hs-sign/jose', 'hs-sign/tessera')} for HS256 sign, and it would force \`verify\` to be asynchronous. It is the right design for a portable library, not for a per-request path on Node.
- **fast-jwt is not the engine either.** It is in the same league (${times('hs-verify/fast-jwt', 'hs-verify/tessera-inline')} Tessera's time on HS256 verify, ${times('ed-verify/fast-jwt', 'ed-verify/tessera-inline')} on EdDSA verify, ${times('hs-sign/fast-jwt', 'hs-sign/tessera')} on HS256 sign), so speed would not justify owning the code; control does. Wrapping it would still leave Tessera's own checks (algorithm pinned by the key, \`kid\` lookup in the key ring, \`typ\`/\`type\` agreement, freshness, revocation, typed errors) to run on top, and bring its key handling, claim semantics and optional cache into the security boundary. The JWS layer is small (\`src/core/jws.ts\`, \`src/core/keys.ts\`) and already runs at ${ratioText(row('hs-verify/tessera-inline')?.ratio ?? Number.NaN)} × the bare reference on HS256 and ${ratioText(row('ed-verify/tessera-inline')?.ratio ?? Number.NaN)} × on EdDSA, all checks included.
- **jose stays as the interop oracle in tests**: tokens Tessera signs must verify in jose, and tokens jose signs must verify in Tessera (this benchmark checks both on its own tokens: jose verifies Tessera's, and every signer's token, jose's included, must verify in Tessera). It stays off the request path.
- **Measure the compiled engine.** Run through tsx, \`src/\` takes ${slower('hs-verify/tessera-inline', 'hs-verify/tessera-tsx')} time per verify (the tsx row): esbuild's \`keepNames\` wraps every closure created per call in a \`__name()\` call that defines a property. Shipped code has no such cost, so the benchmark compiles \`src/\` with tsc first.
`
  const options = (await resolveConfig(`${repoDir}bench/RESULTS.md`)) ?? {}
  return format(text, { ...options, parser: 'markdown' })
}
