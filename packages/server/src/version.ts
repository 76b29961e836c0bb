/**
 * The server's version, from its package.json: what `tessera --version` prints and the OpenAPI document's
 * `info.version` (the version of the API it describes). Read from the file beside the sources or the
 * built `dist/`, which sit at the same depth in the package.
 */
import { readFile } from 'node:fs/promises'

/**
 * The `version` of tessera-server's package.json, or `unknown` where there is none beside the code (the
 * sources bundled into one file elsewhere): the version is said, never needed to start.
 */
export async function serverVersion(): Promise<string> {
  try {
    const text = await readFile(new URL('../package.json', import.meta.url), 'utf8')
    const { version } = JSON.parse(text) as { version?: unknown }
    return typeof version === 'string' ? version : 'unknown'
  } catch {
    return 'unknown'
  }
}
