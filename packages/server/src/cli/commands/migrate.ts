/** `tessera migrate`: apply pending database migrations (the server also does this at start). */
import { loadServerConfig } from '../../server/config.js'
import { migrateDatabase } from '../../stores/index.js'
import { parseCommand, settingsHelp } from '../args.js'
import { UsageError } from '../exit-codes.js'
import type { Command } from './index.js'

export const migrateCommand: Command = {
  usage: 'migrate [--database-url URL]',
  summary: 'Create or upgrade the database schema',
  async run(argv) {
    const { settings, positionals, help } = parseCommand(argv)
    if (help) {
      process.stdout.write(
        `Usage: tessera migrate [--data-dir DIR | --database-url URL]\n\nOptions:\n  -h, --help                 show this help\n${settingsHelp(['dataDir', 'databaseUrl', 'databasePoolSize'])}\n`,
      )
      return 0
    }
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
