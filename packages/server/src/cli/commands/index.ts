/** The CLI's commands, one file each. */
import { backupCommand } from './backup.js'
import { keysCommand } from './keys.js'
import { migrateCommand } from './migrate.js'
import { serveCommand } from './serve.js'
import { usersCommand } from './users.js'

/** One `tessera <name>` command. */
export interface Command {
  usage: string
  summary: string
  /** Runs with the arguments after the command name; returns the exit code. */
  run(argv: readonly string[]): Promise<number>
}

/** Every command by name. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  serve: serveCommand,
  migrate: migrateCommand,
  keys: keysCommand,
  users: usersCommand,
  backup: backupCommand,
}
