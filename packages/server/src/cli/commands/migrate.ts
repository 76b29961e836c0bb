/** `tessera migrate`: apply pending database migrations (the server also does this at start). */
import { loadServerConfig } from '../../server/config.js'
import { migrateToLatest, openDatabase } from '../../stores/index.js'
import { parseCommand, settingsHelp } from '../args.js'
import type { Command } from './index.js'

export const migrateCommand: Command = {
  usage: 'migrate [--database-url URL]',
  summary: 'Create or upgrade the database schema',
  async run(argv) {
    const { settings, help } = parseCommand(argv)
    if (help) {
      process.stdout.write(
        `Usage: tessera migrate [--data-dir DIR | --database-url URL]\n\nOptions:\n  -h, --help                 show this help\n${settingsHelp(['dataDir', 'databaseUrl', 'databasePoolSize'])}\n`,
      )
      return 0
    }
    const config = loadServerConfig(settings)
    const db = await openDatabase({ url: config.databaseUrl, option: 'TESSERA_DATABASE_URL' })
    try {
      const { applied } = await migrateToLatest(db)
      process.stdout.write(
        applied.length === 0 ? 'The database is up to date.\n' : `Applied: ${applied.join(', ')}\n`,
      )
      return 0
    } finally {
      await db.destroy()
    }
  },
}
