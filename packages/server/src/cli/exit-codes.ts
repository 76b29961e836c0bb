/**
 * How a `tessera` command ends, one table for every command (docs/cli.md, "Exit status"):
 *
 * | code | meaning                                                                                   |
 * | ---- | ----------------------------------------------------------------------------------------- |
 * | 0    | success (also "nothing to do": a user already disabled, a key already revoked)              |
 * | 1    | the operation failed: no such user or key, no database or one it cannot use, a refused      |
 * |      | password, rows an import refused, a question answered no — and any unexpected error        |
 * | 2    | usage error: unknown command, action or flag, a flag the command does not take, a bad      |
 * |      | value, a missing argument, no `--yes` (or no TESSERA_PASSWORD) where there is nobody to ask |
 *
 * Both errors below are printed by `main()` as one line, `tessera <command>: <message>`, on stderr.
 */

/** The exit codes of every command. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const

/** A mistake in the command line (or a setting's value): printed as one line, exit 2. Nothing was done. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/**
 * The command could not do what was asked (no such user or key, no database there, a password the
 * policy refuses, a question answered no): printed as one line, exit 1.
 */
export class CommandFailure extends Error {
  override name = 'CommandFailure'
}
