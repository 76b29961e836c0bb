/**
 * A load generator, not a server (it lives here so the bench build compiles it): autocannon's API with
 * every request presenting the next of many tokens, for the many-tokens scenario (more distinct valid
 * tokens than a verify cache holds). Prints autocannon's JSON result, like its CLI with `--json`.
 *
 *   node bench/.out/build/bench/servers/rotating-load.js '<json: { url, connections, seconds, tokensFile }>'
 *
 * tokensFile holds one token per line. Rebuilding each request costs the generator more CPU than the
 * CLI's fixed request: the rows say when the ceiling's core was not saturated.
 */
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'

interface Options {
  url: string
  connections: number
  seconds: number
  tokensFile: string
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options
const tokens = readFileSync(options.tokensFile, 'utf8')
  .split('\n')
  .filter((t) => t !== '')
if (tokens.length === 0) throw new Error(`no tokens in ${options.tokensFile}`)
let next = 0

const result = await autocannon({
  url: options.url,
  connections: options.connections,
  duration: options.seconds,
  requests: [
    {
      method: 'GET',
      setupRequest: (request) => {
        const token = tokens[next] ?? ''
        next = next + 1 === tokens.length ? 0 : next + 1
        return { ...request, headers: { ...request.headers, authorization: `Bearer ${token}` } }
      },
    },
  ],
})
process.stdout.write(JSON.stringify(result))
