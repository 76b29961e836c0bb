/**
 * The `tessera` command. A small `main()`: parse the command name, hand the rest to the command's own
 * file. Known errors print as one line (code + message) and exit 1; unknown errors print a stack.
 */
import { isTesseraError } from 'tessera'
import { COMMANDS, type Command } from './commands/index.js'
import { UsageError } from './usage-error.js'

const USAGE = `Usage: tessera <command> [options]

Commands:
${Object.values(COMMANDS)
  .map((c) => `  ${c.usage.padEnd(34)} ${c.summary}`)
  .join('\n')}

Run "tessera <command> --help" for a command's options. Every option can also be set with a
TESSERA_* environment variable or in a .env file (see the README's configuration table).
`

/** Runs the CLI with `argv` (without node and the script) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE)
    return name === undefined ? 1 : 0
  }
  if (name === '--version' || name === '-v') {
    const { readFile } = await import('node:fs/promises')
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    process.stdout.write(`${pkg.version}\n`)
    return 0
  }
  const command: Command | undefined = COMMANDS[name]
  if (command === undefined) {
    process.stderr.write(`tessera: unknown command "${name}"\n\n${USAGE}`)
    return 1
  }
  try {
    return await command.run(rest)
  } catch (error) {
    if (isTesseraError(error)) {
      process.stderr.write(`tessera ${name}: ${error.code}: ${error.message}\n`)
      return 1
    }
    if (error instanceof UsageError) {
      process.stderr.write(`tessera ${name}: ${error.message}\n`)
      return 1
    }
    throw error
  }
}
