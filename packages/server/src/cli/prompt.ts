/**
 * Questions on a terminal: passwords that are not echoed (nor left in the scrollback), and the y/N
 * question a command that destroys or locks out asks before it acts.
 */
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { CommandFailure, UsageError } from './exit-codes.js'

/**
 * Writes each of `prompts` in turn on `output` and reads one line from `input` for each, without
 * echoing them: the terminal is in raw mode under readline, whose echoes go nowhere. Lines typed ahead
 * of a prompt are kept for it. Resolves to undefined when the input ends or is interrupted (Ctrl-D,
 * Ctrl-C) before every answer.
 */
export function readHidden(
  prompts: readonly string[],
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Promise<string[] | undefined> {
  return readAnswers(prompts, input, output, false)
}

/**
 * Asks `question` (` [y/N] ` is added) on `output` and reads the answer from `input`, echoed as it is
 * typed: true for "y" or "yes" in any case, false for anything else, an empty line, or an input that
 * ends or is interrupted (Ctrl-D, Ctrl-C) first.
 */
export async function askYesNo(
  question: string,
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Promise<boolean> {
  const [answer] = (await readAnswers([`${question} [y/N] `], input, output, true)) ?? []
  return /^\s*y(es)?\s*$/i.test(answer ?? '')
}

/** Whether a question can be asked: stdin to answer it and stderr to show it are both terminals. */
const canAsk = (): boolean => process.stdin.isTTY && process.stderr.isTTY

/**
 * Refuses, before anything is opened or changed, a command that would have to ask (`doing`, such as
 * "deleting a user") when there is no terminal to ask on: a script says so with `--yes`.
 */
export function checkCanAsk(doing: string): void {
  if (!canAsk())
    throw new UsageError(
      `${doing} needs confirmation and there is no terminal to ask on: pass --yes (-y) to go ahead; nothing was changed`,
    )
}

/**
 * Asks before a command destroys or locks out: goes on at once with `yes` (`--yes`), asks the
 * question on the terminal otherwise (made only then: it may count sessions) and goes on only on "y"
 * or "yes". Throws, having changed nothing, a {@link UsageError} when there is no terminal (see
 * {@link checkCanAsk}) and a {@link CommandFailure} when the answer is no.
 */
export async function confirm(
  question: () => string | Promise<string>,
  options: { yes: boolean; doing: string },
): Promise<void> {
  if (options.yes) return
  checkCanAsk(options.doing)
  if (!(await askYesNo(await question(), process.stdin, process.stderr)))
    throw new CommandFailure('not confirmed: nothing was changed')
}

/**
 * Reads one line from `input` for each of `prompts`, written on `output` in turn; with `echo` what is
 * typed shows (readline prints the prompt, so that editing the line redraws it), without it the
 * terminal shows nothing. Undefined when the input ends or is interrupted before every answer.
 */
async function readAnswers(
  prompts: readonly string[],
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
  echo: boolean,
): Promise<string[] | undefined> {
  const nowhere = new Writable({
    write(_chunk, _encoding, done) {
      done()
    },
  })
  const rl = createInterface({ input, output: echo ? output : nowhere, terminal: true })
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
      if (echo) {
        rl.setPrompt(prompt)
        rl.prompt()
      } else output.write(prompt)
      while (lines.length <= i && !state.closed) await new Promise<void>((resolve) => (wake = resolve))
      // An echoed answer ends its own line; a hidden one, or none, leaves the cursor after the prompt.
      if (!echo || lines.length <= i) output.write('\n')
      if (lines.length <= i) return undefined
    }
    return lines.slice(0, prompts.length)
  } finally {
    rl.close()
  }
}
