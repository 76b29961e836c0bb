// The error registry: every code unique, with a status, documented in docs/errors.md, and no stale doc.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import * as tessera from '../../packages/tessera/src/index.js'
import {
  errorStatus,
  TesseraError,
  wwwAuthenticate,
  type TesseraErrorCode,
} from '../../packages/tessera/src/index.js'

type ErrorClass = abstract new (...args: never[]) => TesseraError

const errorClasses: [string, ErrorClass][] = []
for (const [name, value] of Object.entries(tessera) as [string, unknown][]) {
  if (typeof value === 'function' && (value as { prototype?: unknown }).prototype instanceof TesseraError) {
    errorClasses.push([name, value as ErrorClass])
  }
}

function instantiate(Class: ErrorClass): TesseraError {
  // Abstract bases construct too at run time; they have no code and are filtered out below.
  return Reflect.construct(Class, ['claim', 'message', { alg: 'HS256' }, { sub: 'a' }]) as TesseraError
}

const docs = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
const documented = [...docs.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|/gm)].map(
  (m) => [m[1]!, Number(m[2])] as const,
)

describe('error registry', () => {
  const concrete = errorClasses
    .map(([name, Class]) => [name, instantiate(Class)] as const)
    .filter(([, error]) => typeof (error as { code?: unknown }).code === 'string')

  it('has one concrete class per code, each code unique', () => {
    const codes = concrete.map(([, error]) => error.code)
    expect(new Set(codes).size).toBe(codes.length)
    expect(new Set(codes)).toEqual(new Set(Object.keys(errorStatus)))
  })

  it('gives every class the status listed in errorStatus', () => {
    for (const [name, error] of concrete) {
      expect([name, error.status]).toEqual([name, errorStatus[error.code]])
      expect(error.name).toBe(name)
      expect(error).toBeInstanceOf(Error)
    }
  })

  it('builds refusals (token errors, forbidden) without stack frames, and keeps the stack of configuration and JWKS errors', () => {
    for (const [name, error] of concrete) {
      const frames = (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line))
      // Not refusals but failures to look into (a bad call site, an unreachable JWKS): their stack stays.
      if (error.code === 'configuration_error' || error.code === 'jwks_unavailable')
        expect([name, frames.length > 0]).toEqual([name, true])
      else expect([name, error.stack]).toEqual([name, `${name}: ${error.message}`])
    }
  })

  it('leaves Error.stackTraceLimit as it found it', () => {
    const before = Error.stackTraceLimit
    instantiate(tessera.TokenInvalidSignatureError)
    instantiate(tessera.ForbiddenError)
    expect(Error.stackTraceLimit).toBe(before)
    expect(new Error('x').stack).toMatch(/\n\s+at /)
  })

  it('documents every code with its status in docs/errors.md, and nothing stale', () => {
    expect(Object.fromEntries(documented)).toEqual(errorStatus)
    expect(documented.length).toBe(Object.keys(errorStatus).length)
  })
})

describe('wwwAuthenticate', () => {
  function make(code: TesseraErrorCode): TesseraError {
    for (const [, Class] of errorClasses) {
      const error = instantiate(Class)
      if ((error as { code?: unknown }).code === code) return error
    }
    throw new Error(`no class for ${code}`)
  }

  it('gives a bare Bearer challenge when no token was sent (RFC 6750 §3.1)', () => {
    expect(wwwAuthenticate(make('token_missing'))).toBe('Bearer')
    expect(wwwAuthenticate(make('token_missing'), 'api')).toBe('Bearer realm="api"')
  })

  it('names invalid_token with a quoted description for other 401s', () => {
    const header = wwwAuthenticate(make('token_expired'))
    expect(header).toMatch(/^Bearer error="invalid_token", error_description="[^"]+"$/)
  })

  it('keeps error_description to the characters RFC 6750 §3 allows: no quote, backslash, control or non-ASCII', () => {
    const error = make('token_expired')
    error.message = 'a "quoted"\r\nvalue\\ é'
    expect(wwwAuthenticate(error)).toBe(
      `Bearer error="invalid_token", error_description="a 'quoted'  value/ ?"`,
    )
  })

  it('gives every code a challenge whose error_description matches RFC 6750 §3, whatever its message', () => {
    const messages = [
      'message',
      'The Authorization header is not "Bearer <token>"',
      'back\\slash, tab\t, DEL\u007f, NUL\u0000, zoë, 🔑',
    ]
    let checked = 0
    for (const code of Object.keys(errorStatus) as TesseraErrorCode[]) {
      for (const message of messages) {
        const error = make(code)
        error.message = message
        const header = wwwAuthenticate(error, 'api')
        if (header === undefined || !header.includes('error_description')) continue
        const description = /error_description="(.*)"$/.exec(header)?.[1]
        expect([code, description]).toEqual([code, expect.stringMatching(/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/)])
        checked++
      }
    }
    // Every 401 but token_missing and every 403 carries one.
    expect(checked).toBeGreaterThan(20 * messages.length)
  })

  it('gives no challenge for configuration errors', () => {
    expect(wwwAuthenticate(make('configuration_error'))).toBeUndefined()
  })
})
