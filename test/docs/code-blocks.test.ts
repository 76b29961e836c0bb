// The README's and docs/'s code blocks marked to run cannot rot: every ```ts check block is type-checked
// and every ```ts run block is type-checked and then executed (it must exit 0; most assert what they
// show). The marker is the fence's info string, which GitHub and prettier keep (GitHub highlights by its
// first word). Blocks are written next to this file so the repository's tsconfig paths resolve `tessera`,
// `tessera/fastify`, … to the package sources, for tsc and for tsx alike.
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import ts from 'typescript'
import { afterAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
const dir = mkdtempSync(join(root, 'test/docs/.blocks-'))
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

/** One marked block: where it is, what to do with it, and its source. */
interface Block {
  doc: string
  line: number
  mode: 'run' | 'check'
  source: string
  file: string
}

const FENCE = /^( *)```ts (run|check)\s*$/

/** The marked blocks of one Markdown file (fenced blocks inside list items included). */
export function extractBlocks(doc: string, text: string): Omit<Block, 'file'>[] {
  const lines = text.split('\n')
  const blocks: Omit<Block, 'file'>[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!)
    if (open === null) continue
    const indent = open[1]!.length
    const body: string[] = []
    let j = i + 1
    for (; j < lines.length && lines[j]!.trim() !== '```'; j++) body.push(lines[j]!.slice(indent))
    if (j === lines.length) throw new Error(`${doc}:${i + 1}: unclosed code block`)
    blocks.push({ doc, line: i + 1, mode: open[2] as 'run' | 'check', source: body.join('\n') })
    i = j
  }
  return blocks
}

const docs = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
]
const blocks: Block[] = docs.flatMap((doc) =>
  extractBlocks(doc, readFileSync(join(root, doc), 'utf8')).map((block) => {
    const file = join(dir, `${doc.replace(/[^A-Za-z0-9]+/g, '-')}-${block.line}.ts`)
    // `export {}` makes every block a module (top-level await, no global name clashes between blocks).
    writeFileSync(file, `${block.source}\nexport {}\n`)
    return { ...block, file }
  }),
)

function diagnostics(): Map<string, string[]> {
  const config = {
    extends: '../../../tsconfig.json',
    // As strict as the strictest consumer: exactOptionalPropertyTypes lets `{ secret: process.env.X }` through
    // only because every optional option also accepts `undefined`.
    compilerOptions: { noEmit: true, noUnusedLocals: false, exactOptionalPropertyTypes: true },
    files: blocks.map((b) => relative(dir, b.file)),
  }
  const configPath = join(dir, 'tsconfig.json')
  writeFileSync(configPath, JSON.stringify(config))
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  )
  if (parsed === undefined) throw new Error('cannot read the blocks tsconfig')
  const program = ts.createProgram(parsed.fileNames, parsed.options)
  const out = new Map<string, string[]>()
  for (const block of blocks) {
    const file = program.getSourceFile(block.file)
    out.set(
      block.file,
      [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)].map((d) => {
        const at =
          d.start === undefined || file === undefined
            ? ''
            : `line ${file.getLineAndCharacterOfPosition(d.start).line + 1}: `
        return at + ts.flattenDiagnosticMessageText(d.messageText, '\n')
      }),
    )
  }
  return out
}

describe('documentation code blocks', () => {
  it('finds the marked blocks, runnable ones among them', () => {
    expect(blocks.filter((b) => b.mode === 'run').length).toBeGreaterThanOrEqual(3)
    expect(extractBlocks('x.md', '1. step\n\n   ```ts run\n   const a = 1\n   ```\n')).toEqual([
      { doc: 'x.md', line: 3, mode: 'run', source: 'const a = 1' },
    ])
  })

  // The Node-version legs of CI set TESSERA_TYPES_CHECKED=1: the same tsc checked these blocks on the
  // machine's Node in the same run, and TypeScript's verdict does not depend on the Node running it.
  it.skipIf(process.env.TESSERA_TYPES_CHECKED === '1')(
    'type-checks every marked block',
    () => {
      const found = diagnostics()
      const failures = blocks
        .map((b) => ({ at: `${b.doc}:${b.line}`, errors: found.get(b.file) ?? [] }))
        .filter((f) => f.errors.length > 0)
      expect(failures).toEqual([])
    },
    120_000,
  )

  const run = promisify(execFile)
  for (const block of blocks.filter((b) => b.mode === 'run')) {
    it(`runs ${block.doc}:${block.line}`, async () => {
      const { stderr } = await run(process.execPath, ['--import', 'tsx', block.file], {
        cwd: root,
        timeout: 60_000,
        env: { ...process.env, NODE_ENV: 'test' },
      })
      expect(stderr).toBe('')
    }, 90_000)
  }
})
