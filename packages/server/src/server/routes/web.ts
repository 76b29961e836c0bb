/**
 * The demo page at `/` (for browsers; other clients asking for JSON get the API index there), with its
 * stylesheet and script. The script is `web/app.ts` bundled with the browser client at build time
 * (`npm run build` writes `dist/web/`, which the package ships); nothing is bundled at run time.
 */
import { readFile } from 'node:fs/promises'
import type { FastifyInstance } from 'fastify'
import type { ServerConfig } from '../config.js'
import { ServiceError } from '../errors.js'

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

/** The refusal when a built asset is missing (the package was not built). */
function missing(what: string): ServiceError {
  return new ServiceError('service_unavailable', `The demo page's ${what} is missing: run \`npm run build\``)
}

/** Serves one built asset at `path` (no-cache: a rebuild shows at once). */
function serveAsset(app: FastifyInstance, path: string, name: string, type: string, what: string): void {
  const load = asset(name)
  app.get(path, { schema: { hide: true } }, async (_request, reply) => {
    const text = await load()
    if (text === undefined) throw missing(what)
    return reply
      .header('content-type', `${type}; charset=utf-8`)
      .header('cache-control', 'no-cache')
      .send(text)
  })
}

/** Registers `/` (the demo page or the JSON index), `/app.css` and `/app.js`. */
export function webRoutes(app: FastifyInstance, config: ServerConfig): void {
  const html = asset('index.html')
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
    if (page === undefined) throw missing('HTML')
    return reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(page.replaceAll('%TRANSPORT%', config.tokenTransport))
  })
  app.get('/index.json', { schema: { hide: true } }, () => index)

  serveAsset(app, '/app.css', 'styles.css', 'text/css', 'stylesheet')
  serveAsset(app, '/app.js', 'app.js', 'text/javascript', 'script')
}
