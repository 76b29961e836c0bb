/**
 * The demo page at `/` (for browsers; other clients asking for JSON get the API index there), with its
 * stylesheet and script. The script is `web/app.ts` bundled with the browser client at build time
 * (`npm run build` writes `dist/web/`, which the package ships); nothing is bundled at run time.
 */
import { readFile } from 'node:fs/promises'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { ServerConfig } from '../config.js'

// Both src/server/routes/ and dist/server/routes/ are three levels below the package root.
const BUILT = new URL('../../../dist/web/', import.meta.url)

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

/** Reads a built asset once; a missing one is retried on the next request (a build may have run since). */
function asset(name: string): () => Promise<string | undefined> {
  let cached: string | undefined
  return async () => {
    if (cached !== undefined) return cached
    try {
      cached = await readFile(new URL(name, BUILT), 'utf8')
    } catch {
      return undefined
    }
    return cached
  }
}

function missing(reply: FastifyReply, what: string): FastifyReply {
  return reply.code(503).send({
    error: 'service_unavailable',
    message: `The demo page's ${what} is missing: run \`npm run build\``,
  })
}

/** Registers `/` (the demo page or the JSON index), `/app.css` and `/app.js`. */
export function webRoutes(app: FastifyInstance, config: ServerConfig): void {
  const html = asset('index.html')
  const css = asset('styles.css')
  const script = asset('app.js')
  const index = {
    name: 'Tessera auth server',
    demo: '/',
    docs: '/docs',
    openapi: '/openapi.json',
    jwks: '/.well-known/jwks.json',
  }

  app.get('/', { schema: { hide: true } }, async (request, reply) => {
    const accept = request.headers.accept ?? ''
    if (!accept.includes('text/html')) return index
    const page = await html()
    if (page === undefined) return missing(reply, 'HTML')
    return reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(page.replaceAll('%TRANSPORT%', config.tokenTransport))
  })
  app.get('/index.json', { schema: { hide: true } }, () => index)

  app.get('/app.css', { schema: { hide: true } }, async (_request, reply) => {
    const text = await css()
    if (text === undefined) return missing(reply, 'stylesheet')
    return reply
      .header('content-type', 'text/css; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(text)
  })

  app.get('/app.js', { schema: { hide: true } }, async (_request, reply) => {
    const js = await script()
    if (js === undefined) return missing(reply, 'script')
    return reply
      .header('content-type', 'text/javascript; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(js)
  })
}
