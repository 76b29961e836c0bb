// docs/migrating-from-flask-jwt-extended.md stays true: every Tessera name in its table exists where the
// table says (module exports, engine methods, option lists, decorators, request context fields, per-call
// options), and every flask-jwt-extended setting the option hints know (core/suggest.ts) is in the table
// with the same Tessera name.
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import * as expressExports from '../../packages/tessera/src/adapters/express.js'
import * as fastifyExports from '../../packages/tessera/src/adapters/fastify.js'
import { KNOWN_OPTIONS } from '../../packages/tessera/src/core/config.js'
import type { SetCookieOptions } from '../../packages/tessera/src/core/http/cookies.js'
import { ADAPTER_OPTIONS } from '../../packages/tessera/src/core/http/options.js'
import { ROUTE_OPTIONS } from '../../packages/tessera/src/core/http/route.js'
import { FLASK_OPTION_NAMES } from '../../packages/tessera/src/core/suggest.js'
import type { CreateTokenOptions, VerifyOptions } from '../../packages/tessera/src/core/tessera.js'
import * as coreExports from '../../packages/tessera/src/index.js'
import { SECRET } from '../helpers/forge.js'

// Per-call option names, kept exhaustive by the compiler (npm run typecheck covers test/).
const VERIFY_OPTIONS = [
  'type',
  'fresh',
  'audience',
  'issuer',
  'leeway',
  'requiredClaims',
  'skipRevocationCheck',
  'allowExpired',
] as const satisfies readonly (keyof VerifyOptions)[]
const CREATE_OPTIONS = [
  'expiresIn',
  'fresh',
  'claims',
  'headers',
  'sid',
  'jti',
  'csrf',
  'audience',
  'issuer',
] as const satisfies readonly (keyof CreateTokenOptions)[]
const COOKIE_CALL_OPTIONS = ['maxAge', 'domain'] as const satisfies readonly (keyof SetCookieOptions)[]
const exhaustive: [
  Exclude<keyof VerifyOptions, (typeof VERIFY_OPTIONS)[number]>,
  Exclude<keyof CreateTokenOptions, (typeof CREATE_OPTIONS)[number]>,
  Exclude<keyof SetCookieOptions, (typeof COOKIE_CALL_OPTIONS)[number]>,
] extends [never, never, never]
  ? true
  : false = true

interface Row {
  flask: string
  tessera: string[]
  where: string[]
}

const ticks = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)

function rows(): Row[] {
  const text = readFileSync(
    new URL('../../docs/migrating-from-flask-jwt-extended.md', import.meta.url),
    'utf8',
  )
  const table = text.split('\n').filter((line) => line.startsWith('|'))
  expect(table[0]).toMatch(/^\| flask-jwt-extended +\| Tessera +\| where +\| notes +\|$/)
  return table.slice(2).map((line) => {
    const [flask = '', tessera = '', where = ''] = line
      .split('|')
      .slice(1)
      .map((c) => c.trim())
    return { flask, tessera: ticks(tessera), where: ticks(where) }
  })
}

async function places(): Promise<Record<string, (name: string) => boolean>> {
  const auth = coreExports.createTessera({ secret: SECRET })
  const app = Fastify()
  await app.register(fastifyExports.tesseraFastify, { auth })
  app.get('/context', { preHandler: app.jwtRequired() }, (request) => Object.keys(request.jwt ?? {}))
  const res = await app.inject({
    url: '/context',
    headers: { authorization: `Bearer ${await auth.createAccessToken('alice')}` },
  })
  const contextFields = res.json<string[]>()
  await app.close()
  const adapterPaths = Object.entries(ADAPTER_OPTIONS).flatMap(([section, names]) =>
    names.map((n) => (section === '' ? n : `${section}.${n}`)),
  )
  return {
    tessera: (name) => Object.hasOwn(coreExports, name),
    'tessera/fastify': (name) => Object.hasOwn(fastifyExports, name),
    'tessera/express': (name) => Object.hasOwn(expressExports, name),
    auth: (name) => typeof (auth as unknown as Record<string, unknown>)[name] === 'function',
    'createTessera()': (name) => KNOWN_OPTIONS.has(name),
    adapter: (name) =>
      adapterPaths.includes(name) ||
      // errors.formatters.<code>: the formatters section itself
      (name === 'errors.formatters' && adapterPaths.includes('errors.formatters')),
    route: (name) => ROUTE_OPTIONS.includes(name),
    app: (name) => app.hasDecorator(name),
    reply: (name) => app.hasReplyDecorator(name),
    'request.jwt': (name) => contextFields.includes(name),
    'verify()': (name) => (VERIFY_OPTIONS as readonly string[]).includes(name),
    'createAccessToken()': (name) => (CREATE_OPTIONS as readonly string[]).includes(name),
    'setAccessCookies()': (name) => (COOKIE_CALL_OPTIONS as readonly string[]).includes(name),
  }
}

describe('docs/migrating-from-flask-jwt-extended.md', () => {
  it('names only Tessera names that exist where it says', async () => {
    expect(exhaustive).toBe(true)
    const check = await places()
    const table = rows()
    expect(table.length).toBeGreaterThan(60)
    const wrong: string[] = []
    for (const row of table) {
      expect([row.flask, row.tessera.length > 0, row.where.length > 0]).toEqual([row.flask, true, true])
      for (const where of row.where) {
        const exists = check[where]
        if (exists === undefined) wrong.push(`${row.flask}: unknown place ${where}`)
        else
          for (const name of row.tessera)
            if (!exists(name)) wrong.push(`${row.flask}: ${where} has no ${name}`)
      }
    }
    expect(wrong).toEqual([])
  })

  it('lists every flask-jwt-extended setting the option hints know, with the same Tessera name', () => {
    const table = rows()
    const missing: string[] = []
    for (const [flask, [scope, path]] of Object.entries(FLASK_OPTION_NAMES)) {
      const row = table.find(
        (r) =>
          ticks(r.flask).some((f) => f === flask || f.endsWith(`(${flask}=True)`)) ||
          r.flask === `\`${flask}\``,
      )
      const where = scope === 'engine' ? 'createTessera()' : scope === 'adapter' ? 'adapter' : 'route'
      if (row === undefined || !row.tessera.includes(path) || !row.where.includes(where))
        missing.push(`${flask} → ${where} ${path}`)
    }
    expect(missing).toEqual([])
  })
})
