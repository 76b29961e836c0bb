/**
 * The `tessera` command. A small `main()`: parse the command name, hand the rest to the command's own
 * file. Known errors, and failures of the database or the system, print as one line (code + message):
 * a usage error exits 2, a failed operation 1 (exit-codes.ts); unknown errors print a stack (exit 1).
 */
import { isTesseraError } from 'tessera'
import { isDatabaseUnavailable } from '../server/error-response.js'
import { MigrationError } from '../stores/sql/migrations/index.js'
import { MigrationRefusal } from '../stores/sql/migrations/refusal.js'
import { closest } from './args.js'
import { COMMANDS, type Command } from './commands/index.js'
import { CommandFailure, EXIT, UsageError } from './exit-codes.js'

const USAGE = `Usage: tessera <command> [options]

Commands:
${Object.values(COMMANDS)
  .map((c) => `  ${c.usage.padEnd(34)} ${c.summary}`)
  .join('\n')}

Run "tessera <command> --help" for a command's options: each takes only the settings it reads (serve
takes every one). Every setting can also be given by a TESSERA_* environment variable or in a .env file
(see the README's configuration table); those apply wherever they are read. Exit status: 0 done,
1 failed, 2 usage error (docs/cli.md).
`

/** Runs the CLI with `argv` (without node and the script) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined) {
    // No command is a usage error: the usage goes to stderr, stdout stays empty for a pipe.
    process.stderr.write(USAGE)
    return EXIT.usage
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE)
    return EXIT.ok
  }
  if (name === '--version' || name === '-v') {
    const { serverVersion } = await import('../version.js')
    process.stdout.write(`${await serverVersion()}\n`)
    return EXIT.ok
  }
  const command: Command | undefined = COMMANDS[name]
  if (command === undefined) {
    const best = closest(name, name.startsWith('-') ? ['--help', '--version'] : Object.keys(COMMANDS))
    process.stderr.write(
      best === undefined
        ? `tessera: unknown command "${name}"\n\n${USAGE}`
        : `tessera: unknown command "${name}"; did you mean "tessera ${best}"?\n\n${USAGE}`,
    )
    return EXIT.usage
  }
  try {
    return await command.run(rest)
  } catch (error) {
    if (isTesseraError(error)) {
      process.stderr.write(`tessera ${name}: ${error.code}: ${error.message}\n`)
      // A setting's bad value (a flag, a TESSERA_* variable or .env) is a usage error, as a bad flag is.
      return error.code === 'configuration_error' ? EXIT.usage : EXIT.failed
    }
    if (error instanceof UsageError || error instanceof CommandFailure) {
      process.stderr.write(`tessera ${name}: ${error.message}\n`)
      return error instanceof UsageError ? EXIT.usage : EXIT.failed
    }
    const said = environmentFailure(error)
    if (said !== undefined) {
      process.stderr.write(`tessera ${name}: ${said}\n`)
      return EXIT.failed
    }
    throw error
  }
}

// SQLite's codes for a file the command cannot use (busy, locked, read-only, unopenable, full, I/O, not
// a database); a database the server answers 503 for is `isDatabaseUnavailable`'s (error-response.ts).
const SQLITE_ENVIRONMENT = /^SQLITE_(BUSY|LOCKED|READONLY|CANTOPEN|FULL|IOERR|NOTADB|PERM|AUTH)(_|$)/

/**
 * A failure of what the command runs on, not of Tessera — the database unreachable, read-only, locked
 * or full; the system (an unknown host, a port in use, a refused connection); a schema this version
 * cannot use — as one line with its code: an operator needs the cause, not a stack. Anything else (a
 * SQL error, a failing migration's own bug) keeps its stack.
 */
function environmentFailure(error: unknown, depth = 0): string | undefined {
  if (!(error instanceof Error) || depth > 3) return undefined
  const { code, syscall, cause } = error as { code?: unknown; syscall?: unknown; cause?: unknown }
  if (error instanceof MigrationError) {
    // A migration that failed on the environment (a full disk, a lost connection) or that refused the
    // data it found (it says what to do) is said in one line.
    const environmental =
      error.code !== 'migration_failed' ||
      cause instanceof MigrationRefusal ||
      environmentFailure(cause, depth + 1) !== undefined
    return environmental ? `${error.code}: ${error.message}` : undefined
  }
  if (typeof code !== 'string') return undefined
  const known =
    typeof syscall === 'string' ||
    (error.name === 'SqliteError' && SQLITE_ENVIRONMENT.test(code)) ||
    isDatabaseUnavailable(error)
  return known ? `${code}: ${error.message}` : undefined
}
