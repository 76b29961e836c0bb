/**
 * The longest functions under the given directories, by lines from their first to their last line
 * (a function's nested functions count inside it: a 400-line factory is a 400-line function).
 *
 *   tsx scripts/function-sizes.ts packages/server/src/server [--max 80] [--top 10]
 *
 * With `--max N`, exits 1 when any function is longer than N lines (issue 18: ≤ 80 in src/server).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import ts from 'typescript'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { max: { type: 'string' }, top: { type: 'string', default: '10' } },
})
if (positionals.length === 0) {
  console.error('usage: tsx scripts/function-sizes.ts DIR… [--max N] [--top N]')
  process.exit(2)
}

interface Sized {
  file: string
  name: string
  line: number
  lines: number
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) return files(path)
    return /\.ts$/.test(entry) && !entry.endsWith('.d.ts') ? [path] : []
  })
}

function nameOf(node: ts.Node, source: ts.SourceFile): string {
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) && node.name !== undefined)
    return node.name.getText(source)
  if (ts.isConstructorDeclaration(node)) return 'constructor'
  const parent = node.parent
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))
    return parent.name.getText(source)
  if (ts.isCallExpression(parent)) return `(argument of ${parent.expression.getText(source).slice(0, 40)})`
  return '(anonymous)'
}

const sized: Sized[] = []
for (const dir of positionals) {
  for (const file of files(dir)) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true)
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
        const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line
        const end = source.getLineAndCharacterOfPosition(node.getEnd()).line
        sized.push({
          file: relative(process.cwd(), file),
          name: nameOf(node, source),
          line: start + 1,
          lines: end - start + 1,
        })
      }
      ts.forEachChild(node, visit)
    }
    visit(source)
  }
}
sized.sort((a, b) => b.lines - a.lines)
for (const f of sized.slice(0, Number(values.top)))
  console.log(`${String(f.lines).padStart(5)}  ${f.file}:${f.line}  ${f.name}`)
const max = values.max === undefined ? undefined : Number(values.max)
if (max !== undefined) {
  const over = sized.filter((f) => f.lines > max)
  if (over.length > 0) {
    console.error(`${over.length} function(s) longer than ${max} lines`)
    process.exit(1)
  }
  console.log(`every function is at most ${max} lines (longest: ${sized[0]?.lines ?? 0})`)
}
