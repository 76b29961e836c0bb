// Discovery (RFC 8414): `/.well-known/oauth-authorization-server` names the issuer and where its keys
// are, behind a trusted proxy too; the JWKS cache lifetime is a setting; the OpenAPI document lists both.
import { describe, expect, it } from 'vitest'
import { useServer } from '../helpers/server-harness.js'

const PATH = '/.well-known/oauth-authorization-server'

describe('discovery without a configured issuer', () => {
  const server = useServer({ jwksMaxAge: 7 })

  it('names the origin the client used as issuer, and the JWKS under it', async () => {
    const res = await server.api('GET', PATH)
    expect(res.status, res.text).toBe(200)
    expect(res.body).toEqual({
      issuer: server.url,
      jwks_uri: `${server.url}/.well-known/jwks.json`,
      tessera_access_token_signing_alg_values_supported: ['EdDSA'],
      tessera_login_endpoint: `${server.url}/auth/login`,
      tessera_refresh_endpoint: `${server.url}/auth/refresh`,
      tessera_logout_endpoint: `${server.url}/auth/logout`,
    })
    // Tessera speaks no OAuth 2 grant: no token endpoint or response types are advertised.
    expect(res.body).not.toHaveProperty('token_endpoint')
    expect(res.body).not.toHaveProperty('response_types_supported')
    expect(res.headers.get('cache-control')).toBe('public, max-age=7')
    expect(res.headers.get('vary')).toMatch(/host/)
    const jwks = await server.api('GET', String(res.body.jwks_uri))
    expect(jwks.status).toBe(200)
    expect(jwks.headers.get('cache-control')).toBe('public, max-age=7')
  })

  it('ignores X-Forwarded-* headers when no proxy is trusted', async () => {
    const res = await server.api('GET', PATH, {
      headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' },
    })
    expect(res.body.issuer).toBe(server.url)
    expect(res.body.jwks_uri).toBe(`${server.url}/.well-known/jwks.json`)
  })

  it('is listed in the OpenAPI document', async () => {
    const res = await server.api('GET', '/openapi.json')
    expect(Object.keys(res.body.paths ?? {})).toEqual(
      expect.arrayContaining([PATH, '/.well-known/jwks.json']),
    )
  })
})

describe('discovery behind a trusted proxy', () => {
  const server = useServer({ trustProxy: true })

  it('names the origin the proxy received the request on', async () => {
    const res = await server.api('GET', PATH, {
      headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'auth.example.com' },
    })
    expect(res.body).toMatchObject({
      issuer: 'https://auth.example.com',
      jwks_uri: 'https://auth.example.com/.well-known/jwks.json',
    })
  })
})

describe('discovery with TESSERA_ISSUER', () => {
  const server = useServer({ issuer: 'https://auth.example.com', algorithm: 'ES256' })

  it('names the configured issuer exactly, the one the tokens carry', async () => {
    const res = await server.api('GET', PATH)
    expect(res.body.issuer).toBe('https://auth.example.com')
    expect(res.body.jwks_uri).toBe('https://auth.example.com/.well-known/jwks.json')
    expect(res.body.tessera_login_endpoint).toBe('https://auth.example.com/auth/login')
    expect(res.body.tessera_access_token_signing_alg_values_supported).toEqual(['ES256'])
    expect(res.headers.get('vary')).toBeNull()
    expect(res.headers.get('cache-control')).toBe('public, max-age=300')
  })
})

describe('discovery with TESSERA_ISSUER behind a trusted proxy', () => {
  // With a path: the server answers at the root of the issuer's origin (docs/server-api.md).
  const server = useServer({ issuer: 'https://auth.example.com/tenant/', trustProxy: true })

  // A shared cache keeps the document (public, no Vary) for every client: a client's Host or
  // X-Forwarded-Host must not name the JWKS a resource server then trusts (remoteJwks.fromIssuer).
  it('publishes addresses under the issuer whatever Host and X-Forwarded-* say', async () => {
    const attempts: Record<string, string>[] = [
      { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' },
      { host: 'evil.example' },
    ]
    for (const headers of attempts) {
      const res = await server.api('GET', PATH, { headers })
      expect(res.status).toBe(200)
      expect(res.body).toMatchObject({
        issuer: 'https://auth.example.com/tenant/',
        jwks_uri: 'https://auth.example.com/.well-known/jwks.json',
        tessera_login_endpoint: 'https://auth.example.com/auth/login',
        tessera_refresh_endpoint: 'https://auth.example.com/auth/refresh',
        tessera_logout_endpoint: 'https://auth.example.com/auth/logout',
      })
      expect(JSON.stringify(res.body)).not.toContain('evil.example')
    }
  })
})

describe.each([['urn:example:tessera'], ['https://auth.example.com/#f'], ['https://auth.example.com?x=1']])(
  'discovery with an issuer that is no base URL (%s)',
  (issuer) => {
    const server = useServer({ issuer })

    it('names the origin the client used, keyed by Host for caches', async () => {
      const res = await server.api('GET', PATH)
      expect(res.body.issuer).toBe(issuer)
      expect(res.body.jwks_uri).toBe(`${server.url}/.well-known/jwks.json`)
      expect(res.headers.get('vary')).toBe('host, x-forwarded-host, x-forwarded-proto')
    })
  },
)
