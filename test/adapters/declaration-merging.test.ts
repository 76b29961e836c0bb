// `declare module 'tessera' { interface TesseraTypes { … } }` must reach `request.jwt` (Fastify) and
// `req.jwt` (Express). Checked by compiling small programs in isolation, so the augmentation does not
// leak into the rest of the test suite's types.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
// Made by the suite's beforeAll: a skipped suite (TESSERA_TYPES_CHECKED=1) leaves no directory behind.
let dir = ''

const AUGMENTATION = `
declare module 'tessera' {
  interface TesseraTypes {
    claims: { roles: string[]; tenant: string }
    user: { id: number }
  }
}
`

const USE = `
import Fastify from 'fastify'
import express from 'express'
import { createTessera } from 'tessera'
import 'tessera/fastify'
import 'tessera/express'

// Tokens this app issues carry the declared claims: a wrong type is refused, others are allowed.
const auth = createTessera({ secret: process.env.JWT_SECRET })
await auth.createAccessToken('a', { claims: { roles: ['admin'], tenant: 't', extra: 1 } })
// @ts-expect-error roles is string[]
await auth.createAccessToken('a', { claims: { roles: 'admin' } })

const app = Fastify()
app.get('/', (request) => {
  const roles: readonly string[] = request.jwt!.claims.roles
  const tenant: string = request.jwt!.claims.tenant
  const id: number = request.jwt!.user.id
  // @ts-expect-error roles is readonly string[]: this fails if claims were typed any
  const wrong: number = request.jwt!.claims.roles
  return { roles, tenant, id, wrong }
})
export {}
express().get('/', (req, res) => {
  const tenant: string = req.jwt!.claims.tenant
  const id: number = req.jwt!.user.id
  // @ts-expect-error the user is { id: number }
  const name: string = req.jwt!.user.name
  res.json({ tenant, id, name })
})
`

function diagnostics(name: string, source: string): string[] {
  writeFileSync(join(dir, `${name}.ts`), source)
  const config = {
    extends: '../../../tsconfig.json',
    compilerOptions: {
      noEmit: true,
      exactOptionalPropertyTypes: true,
      paths: {
        tessera: ['../../../packages/tessera/src/index.ts'],
        'tessera/fastify': ['../../../packages/tessera/src/adapters/fastify.ts'],
        'tessera/express': ['../../../packages/tessera/src/adapters/express.ts'],
      },
    },
    files: [`${name}.ts`],
  }
  const configPath = join(dir, `${name}.tsconfig.json`)
  writeFileSync(configPath, JSON.stringify(config))
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  )
  if (parsed === undefined) throw new Error('cannot read the fixture tsconfig')
  const program = ts.createProgram(parsed.fileNames, parsed.options)
  // Checking the fixture alone is enough (and far faster than checking every file it imports).
  const file = program.getSourceFile(join(dir, `${name}.ts`))
  return [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)].map((d) =>
    ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  )
}

// Skipped on CI's Node-version legs (TESSERA_TYPES_CHECKED=1): tsc's verdict is the same on every Node.
describe.skipIf(process.env.TESSERA_TYPES_CHECKED === '1')('declaration merging', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(root, 'test/adapters/.merging-'))
  })
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  // One program (about ten seconds; over 60 s on a loaded 2-core CI machine while the coverage run's
  // other files ran beside it): without the declaration the typed assignments fail, and were the
  // claims typed any, the @ts-expect-error lines would fail instead.
  it('carries the claims and user declared in TesseraTypes to request.jwt, req.jwt and token creation', () => {
    expect(diagnostics('merged', `${USE}\n${AUGMENTATION}`)).toEqual([])
  }, 180_000)
})
