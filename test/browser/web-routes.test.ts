// The server side of the demo page (no browser needed): `/` answers browsers with the page and its
// security headers and other clients with the JSON index; the script and stylesheet are served.
import { describe, expect, it } from 'vitest'
import { useServer } from '../helpers/server-harness.js'

describe('the demo page routes', () => {
  const server = useServer({ tokenTransport: 'cookie' })

  it('serves the page to browsers, with the transport, a strict CSP and no caching surprises', async () => {
    const res = await server.api('GET', '/', {
      headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(res.text).toContain('<meta name="tessera-transport" content="cookie" />')
    expect(res.text).not.toContain('%TRANSPORT%')
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
  })

  it('keeps the JSON index for API clients, at / and at /index.json', async () => {
    for (const path of ['/', '/index.json']) {
      const res = await server.api('GET', path, { headers: { accept: 'application/json' } })
      expect(res.status).toBe(200)
      expect(res.body).toMatchObject({ name: 'Tessera auth server', docs: '/docs', openapi: '/openapi.json' })
    }
  })

  it('serves the bundled script (the client included, no import left) and the stylesheet', async () => {
    const js = await server.api('GET', '/app.js')
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect(js.text).toContain('X-CSRF-TOKEN')
    expect(js.text).not.toMatch(/^import /m)
    const css = await server.api('GET', '/app.css')
    expect(css.status).toBe(200)
    expect(css.headers.get('content-type')).toMatch(/^text\/css/)
  })
})
