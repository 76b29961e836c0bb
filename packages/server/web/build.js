// Builds the demo page into dist/web/ (run by `npm run build` after tsc): web/app.ts bundled with the
// browser client (`tessera/client`), and the HTML and CSS copied beside it. The server only ever serves
// dist/web/: nothing is bundled at run time.
import { build } from 'esbuild'
import { copyFile, mkdir } from 'node:fs/promises'
import { fileURLToPath, URL } from 'node:url'

const out = new URL('../dist/web/', import.meta.url)
await mkdir(out, { recursive: true })
await build({
  entryPoints: [fileURLToPath(new URL('app.ts', import.meta.url))],
  outfile: fileURLToPath(new URL('app.js', out)),
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  logLevel: 'warning',
})
for (const name of ['index.html', 'styles.css']) {
  await copyFile(new URL(name, import.meta.url), new URL(name, out))
}
