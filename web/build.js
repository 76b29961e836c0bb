// Builds the demo page into dist/web/ (run by `npm run build` after tsc): web/app.ts bundled with the
// browser client, and the HTML and CSS copied beside it. The server serves dist/web/ when the sources or
// esbuild are absent (an installed package); in a checkout it bundles web/app.ts on the fly.
import { build } from 'esbuild'
import { copyFile, mkdir } from 'node:fs/promises'
import { URL } from 'node:url'

const out = new URL('../dist/web/', import.meta.url)
await mkdir(out, { recursive: true })
await build({
  entryPoints: [new URL('app.ts', import.meta.url).pathname],
  outfile: new URL('app.js', out).pathname,
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  logLevel: 'warning',
})
for (const name of ['index.html', 'styles.css']) {
  await copyFile(new URL(name, import.meta.url), new URL(name, out))
}
