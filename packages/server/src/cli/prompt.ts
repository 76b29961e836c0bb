/** Password prompts on a terminal that do not echo what is typed (nor leave it in the scrollback). */
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'

/**
 * Writes each of `prompts` in turn on `output` and reads one line from `input` for each, without
 * echoing them: the terminal is in raw mode under readline, whose echoes go nowhere. Lines typed ahead
 * of a prompt are kept for it. Resolves to undefined when the input ends or is interrupted (Ctrl-D,
 * Ctrl-C) before every answer.
 */
export async function readHidden(
  prompts: readonly string[],
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Promise<string[] | undefined> {
  const nowhere = new Writable({
    write(_chunk, _encoding, done) {
      done()
    },
  })
  const rl = createInterface({ input, output: nowhere, terminal: true })
  const lines: string[] = []
  const state = { closed: false }
  let wake: () => void = () => undefined
  rl.on('line', (line: string) => {
    lines.push(line)
    wake()
  })
  rl.on('SIGINT', () => {
    rl.close()
  })
  rl.on('close', () => {
    state.closed = true
    wake()
  })
  try {
    for (const [i, prompt] of prompts.entries()) {
      output.write(prompt)
      while (lines.length <= i && !state.closed) await new Promise<void>((resolve) => (wake = resolve))
      output.write('\n')
      if (lines.length <= i) return undefined
    }
    return lines.slice(0, prompts.length)
  } finally {
    rl.close()
  }
}
