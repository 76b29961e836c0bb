/** Command-line parsing shared by the commands: every server setting is a flag, plus each command's own. */
import { existsSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { SETTINGS } from '../server/config.js'
import { UsageError } from './usage-error.js'

/** Flags of every server setting (`--port 8080`, `--data-dir ./data`, …). */
const SETTING_FLAGS: NonNullable<ParseArgsConfig['options']> = Object.fromEntries(
  SETTINGS.map((s) => [s.flag, { type: 'string' as const }]),
)

/** A parsed command line. */
export interface ParsedCommand {
  /** Server settings given as flags, by flag name. */
  settings: Record<string, string | undefined>
  /** The command's own flags. */
  flags: Record<string, string | boolean | undefined>
  positionals: string[]
  help: boolean
}

/**
 * Parses `argv` for a command with its own `options`. Loads `.env` from the working directory first
 * (without overriding variables already set), so every setting can live there.
 */
export function parseCommand(
  argv: readonly string[],
  options: NonNullable<ParseArgsConfig['options']> = {},
): ParsedCommand {
  if (existsSync('.env')) process.loadEnvFile('.env')
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...SETTING_FLAGS, ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const settings: Record<string, string | undefined> = {}
  const flags: Record<string, string | boolean | undefined> = {}
  for (const [name, value] of Object.entries(parsed.values)) {
    if (name in SETTING_FLAGS) settings[name] = typeof value === 'string' ? value : undefined
    else if (name !== 'help') flags[name] = value
  }
  return { settings, flags, positionals: parsed.positionals, help: parsed.values.help === true }
}

/** The settings table as help text. */
export function settingsHelp(): string {
  return SETTINGS.map(
    (s) =>
      `  --${s.flag.padEnd(24)} ${s.env.padEnd(32)} ${s.help}${s.default === undefined ? '' : ` (default ${s.default})`}`,
  ).join('\n')
}
