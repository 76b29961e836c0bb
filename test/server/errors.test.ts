// The server's error registry against docs/server-api.md, as the core's is tested against docs/errors.md:
// every code documented with its status and challenge, nothing stale, and every "status `code`" the
// document names is a code of the server or of the core, with that status.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { errorStatus } from '../../packages/tessera/src/index.js'
import { serviceErrorResponse } from '../../packages/server/src/server/error-response.js'
import { serverErrors, ServiceError, type ServerErrorCode } from '../../packages/server/src/server/errors.js'

const docs = readFileSync(new URL('../../docs/server-api.md', import.meta.url), 'utf8')
const codes = Object.keys(serverErrors) as ServerErrorCode[]

/** The rows of the "Error codes" table: code, status, challenge (undefined for "—"). */
function documentedRegistry(): Map<string, { status: number; challenge: string | undefined }> {
  const section = /^## Error codes\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(docs)?.[1] ?? ''
  const rows = new Map<string, { status: number; challenge: string | undefined }>()
  for (const m of section.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|\s*([^|]*?)\s*\|/gm)) {
    const cell = m[3]!
    rows.set(m[1]!, {
      status: Number(m[2]),
      challenge: cell === '—' ? undefined : /^`(.*)`$/.exec(cell)?.[1],
    })
  }
  return rows
}

describe('the server error registry', () => {
  it('documents every code with its status and challenge in docs/server-api.md, and nothing stale', () => {
    const documented = documentedRegistry()
    const registry = new Map(
      codes.map((code) => {
        const spec: { status: number; challenge?: string } = serverErrors[code]
        return [code, { status: spec.status, challenge: spec.challenge }]
      }),
    )
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(registry))
  })

  it('names, wherever the document says "status `code`", a code of the server or the core with that status', () => {
    const mentions = [...docs.matchAll(/\b([45]\d\d)\s+`([a-z][a-z_]*)`/g)].map((m) => [m[2]!, Number(m[1])])
    expect(mentions.length).toBeGreaterThan(10)
    const known: Record<string, number> = { ...errorStatus }
    for (const code of codes) known[code] = serverErrors[code].status
    for (const [code, status] of mentions) expect([code, known[code as string]]).toEqual([code, status])
  })

  it('agrees with the core registry on the codes both answer with', () => {
    for (const code of codes) {
      if (code in errorStatus)
        expect(serverErrors[code].status).toBe(errorStatus[code as keyof typeof errorStatus])
    }
  })

  it('gives every 401 a Bearer challenge and no other status one (RFC 6750 §3)', () => {
    for (const code of codes) {
      const spec: { status: number; challenge?: string } = serverErrors[code]
      expect([code, spec.status === 401]).toEqual([code, spec.challenge?.startsWith('Bearer') === true])
    }
  })

  it('answers a service error with its registry status, challenge, code and message', () => {
    for (const code of codes) {
      const response = serviceErrorResponse(new ServiceError(code))
      const spec: { status: number; message: string; challenge?: string } = serverErrors[code]
      expect(response.status).toBe(spec.status)
      expect(response.body).toEqual({ error: code, message: spec.message })
      expect(response.headers['www-authenticate']).toBe(spec.challenge)
      expect(response.headers['retry-after']).toBeUndefined()
    }
  })

  it('adds Retry-After when the error says when to retry', () => {
    const response = serviceErrorResponse(new ServiceError('rate_limited', 'slow down', { retryAfter: 42 }))
    expect(response).toMatchObject({
      status: 429,
      headers: { 'retry-after': '42' },
      body: { message: 'slow down' },
    })
  })
})
