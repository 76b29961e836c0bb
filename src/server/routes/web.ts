/**
 * The demo page at `/` (for browsers; other clients asking for JSON get the API index there), with its
 * stylesheet and script. The script is `web/app.ts` bundled with the browser client: built on the fly
 * with esbuild when the sources and esbuild are present (a checkout), otherwise read from `dist/web/`
 * (made by `npm run build`, shipped in the package).
 */
import { readFile } from 'node:fs/promises'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { ServerConfig } from '../config.js'

// Both src/server/routes/ and dist/server/routes/ are three levels below the package root.
const ROOT = new URL('../../../', import.meta.url)
const SOURCE = new URL('web/', ROOT)
const BUILT = new URL('dist/web/', ROOT)

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

async function readAsset(name: string): Promise<string | undefined> {
  for (const dir of [SOURCE, BUILT]) {
    try {
      return await readFile(new URL(name, dir), 'utf8')
    } catch {
      // Try the next location.
    }
  }
  return undefined
}

async function bundleScript(): Promise<string | undefined> {
  try {
    const entry = new URL('app.ts', SOURCE)
    await readFile(entry)
    const esbuild = await import('esbuild')
    const result = await esbuild.build({
      entryPoints: [decodeURIComponent(entry.pathname)],
      bundle: true,
      format: 'esm',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    })
    const text = result.outputFiles[0]?.text
    if (text !== undefined) return text
  } catch {
    // No sources or no esbuild (an installed package): use the prebuilt bundle.
  }
  try {
    return await readFile(new URL('app.js', BUILT), 'utf8')
  } catch {
    return undefined
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
  let script: Promise<string | undefined> | undefined
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
    const html = await readAsset('index.html')
    if (html === undefined) return missing(reply, 'HTML')
    return reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(html.replaceAll('%TRANSPORT%', config.tokenTransport))
  })
  app.get('/index.json', { schema: { hide: true } }, () => index)

  app.get('/app.css', { schema: { hide: true } }, async (_request, reply) => {
    const css = await readAsset('styles.css')
    if (css === undefined) return missing(reply, 'stylesheet')
    return reply
      .header('content-type', 'text/css; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(css)
  })

  app.get('/app.js', { schema: { hide: true } }, async (_request, reply) => {
    script ??= bundleScript()
    const js = await script
    if (js === undefined) {
      script = undefined
      return missing(reply, 'script')
    }
    return reply
      .header('content-type', 'text/javascript; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(js)
  })
}
