/**
 * The `tessera` command. A small `main()`: parse the command name, hand the rest to the command's own
 * file. Known errors, and failures of the database or the system, print as one line (code + message)
 * and exit 1; unknown errors print a stack.
 */
import { isTesseraError } from 'tessera'
import { MigrationError } from '../stores/sql/migrations/index.js'
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
    const said = environmentFailure(error)
    if (said !== undefined) {
      process.stderr.write(`tessera ${name}: ${said}\n`)
      return 1
    }
    throw error
  }
}

/**
 * A failure of what the command runs on, not of Tessera — a migration that cannot run, the database
 * (SQLite read-only or locked, PostgreSQL's SQLSTATE errors), the system (an unknown host, a port in
 * use, a refused connection) — as one line with its code: an operator needs the cause, not a stack.
 */
function environmentFailure(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined
  const { code, syscall, severity } = error as { code?: unknown; syscall?: unknown; severity?: unknown }
  if (typeof code !== 'string') return undefined
  const known =
    error instanceof MigrationError ||
    error.name === 'SqliteError' ||
    typeof syscall === 'string' ||
    (typeof severity === 'string' && /^[0-9A-Z]{5}$/.test(code))
  return known ? `${code}: ${error.message}` : undefined
}
