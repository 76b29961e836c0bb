/** `tessera migrate`: apply pending database migrations (the server also does this at start). */
import { loadServerConfig } from '../../server/config.js'
import { migrateDatabase } from '../../stores/index.js'
import { checkApplicable, DATABASE_SETTINGS, parseCommand, settingsHelp, type Applicable } from '../args.js'
import { UsageError } from '../exit-codes.js'
import type { Command } from './index.js'

/** The settings `migrate` reads: the database, and how long a statement waits for a lock. */
const TAKES: Applicable = { settings: [...DATABASE_SETTINGS, 'databaseTimeoutMs'] }

export const migrateCommand: Command = {
  usage: 'migrate [--database-url URL]',
  summary: 'Create or upgrade the database schema',
  async run(argv) {
    const parsed = parseCommand(argv)
    const { settings, positionals, help } = parsed
    if (help) {
      process.stdout.write(
        `Usage: tessera migrate [--data-dir DIR | --database-url URL]\n\nOptions:\n  -h, --help                 show this help\n${settingsHelp(TAKES.settings)}\n`,
      )
      return 0
    }
    checkApplicable(parsed, 'migrate', TAKES)
    // `tessera migrate ./data/tessera.db` once migrated ./data/tessera.db whatever the path said.
    const [unexpected] = positionals
    if (unexpected !== undefined)
      throw new UsageError(
        `unexpected argument "${unexpected}": name the database with --data-dir DIR or --database-url URL`,
      )
    const config = loadServerConfig(settings)
    // A connection for migrations: a table rewrite may take longer than any request may.
    const { applied } = await migrateDatabase({
      url: config.databaseUrl,
      timeoutMs: config.databaseTimeoutMs,
      option: 'TESSERA_DATABASE_URL',
    })
    process.stdout.write(
      applied.length === 0 ? 'The database is up to date.\n' : `Applied: ${applied.join(', ')}\n`,
    )
    return 0
  },
}
