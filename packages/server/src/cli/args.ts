/** Command-line parsing shared by the commands: every server setting is a flag, plus each command's own. */
import { existsSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { SETTINGS, type ServerConfig } from '../server/config.js'
import { EXIT, UsageError } from './exit-codes.js'

/** Flags of every server setting (`--port 8080`, `--data-dir ./data`, …). */
const SETTING_FLAGS: NonNullable<ParseArgsConfig['options']> = Object.fromEntries(
  SETTINGS.map((s) => [s.flag, { type: 'string' as const }]),
)

/** A server setting by its key in {@link ServerConfig} (`dataDir`, `databaseUrl`, …). */
export type SettingKey = keyof ServerConfig

/** The settings that choose the database: every command that opens it takes them. */
export const DATABASE_SETTINGS: readonly SettingKey[] = ['dataDir', 'databaseUrl']

/** A parsed command line. */
export interface ParsedCommand {
  /** Server settings given as flags, by flag name. */
  settings: Record<string, string | undefined>
  /** The command's own flags. */
  flags: Record<string, string | boolean | undefined>
  /** The name of every flag given but `--help`, settings and own flags alike, in the order given. */
  given: string[]
  positionals: string[]
  help: boolean
}

/** What one command (or one action of it) takes besides `--help`. */
export interface Applicable {
  /** The settings it reads, whose flags it takes. */
  settings: readonly SettingKey[]
  /** Its own flags it takes, by name. */
  flags?: readonly string[]
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
  // A key id is base64url and may start with `-` (`tessera keys revoke -zQ3…`): parseArgs would read it
  // as a cluster of short options. The only short options are `-h` and `-y`, each given alone, so one
  // dash followed by two or more characters is always a value; it is held aside under a placeholder
  // and put back after parsing.
  const held = new Map<string, string>()
  const args = argv.map((arg, i) => {
    if (!/^-[^-].+/.test(arg)) return arg
    const placeholder = `\u0000${i}`
    held.set(placeholder, arg)
    return placeholder
  })
  const restore = <T>(value: T): T | string =>
    typeof value === 'string' ? (held.get(value) ?? value) : value
  let parsed
  try {
    parsed = parseArgs({
      args,
      options: { ...SETTING_FLAGS, ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    })
  } catch (error) {
    throw new UsageError(explainParseError(error as Error & { code?: string }, Object.keys(options)))
  }
  const settings: Record<string, string | undefined> = {}
  const flags: Record<string, string | boolean | undefined> = {}
  const given: string[] = []
  // In the order given: parseArgs stores each option as it meets it.
  for (const [name, parsedValue] of Object.entries(parsed.values)) {
    const value = restore(parsedValue)
    if (name === 'help') continue
    given.push(name)
    if (name in SETTING_FLAGS) settings[name] = typeof value === 'string' ? value : undefined
    else flags[name] = value
  }
  return {
    settings,
    flags,
    given,
    positionals: parsed.positionals.map((p) => restore(p)),
    help: parsed.values.help === true,
  }
}

/**
 * Refuses the first flag given to `tessera <command>` (`users list`) that it does not take, naming
 * both. Every setting's flag is parsed on every command, so that a misspelt one still gets its hint,
 * but one a command does not read would otherwise be ignored without a word (`--port` on
 * `users list`). `TESSERA_*` variables and `.env` are the servers' too, and are never refused.
 */
export function checkApplicable(parsed: ParsedCommand, command: string, applicable: Applicable): void {
  const flagOf = new Map(SETTINGS.map((s) => [s.key, s.flag]))
  const taken = new Set([...applicable.settings.map((key) => flagOf.get(key)), ...(applicable.flags ?? [])])
  const stray = parsed.given.find((name) => !taken.has(name))
  if (stray === undefined) return
  const [family = command] = command.split(' ')
  throw new UsageError(
    `--${stray} does not apply to \`tessera ${command}\` (tessera ${family} --help lists what does)`,
  )
}

/**
 * Prints a command's help: asked for (`--help`), on stdout with exit 0; in answer to a command line
 * without its action or argument, on stderr as the usage error it is (exit 2).
 */
export function showHelp(text: string, asked: boolean): number {
  const out = asked ? process.stdout : process.stderr
  out.write(text)
  return asked ? EXIT.ok : EXIT.usage
}

/**
 * parseArgs' own text for an unknown flag names no alternative; this one suggests the closest known
 * flag (`--databse-url` → `--database-url`) and points at `--help`.
 */
function explainParseError(error: Error & { code?: string }, commandFlags: readonly string[]): string {
  const unknown = /^Unknown option '(-{1,2}[^']*)'/.exec(error.message)?.[1]
  if (error.code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || unknown === undefined) return error.message
  const name = unknown.replace(/^-+/, '').split('=')[0] ?? ''
  const best = closest(name, [...commandFlags, ...SETTINGS.map((s) => s.flag), 'help'])
  const hint = best === undefined ? '' : `; did you mean --${best}?`
  return `unknown option ${unknown.split('=')[0] ?? unknown}${hint} (--help lists the options)`
}

/**
 * The known name closest to a mistyped one (`--databse-url` → `database-url`, `usres` → `users`), or
 * undefined when none is close enough to be what was meant.
 */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate)
    if (d < bestDistance) [best, bestDistance] = [candidate, d]
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined
}

/** ` (did you mean "x"?)` for the known name closest to `name`, or nothing. */
export function didYouMean(name: string, known: readonly string[]): string {
  const best = closest(name, known)
  return best === undefined ? '' : ` (did you mean "${best}"?)`
}

/** Levenshtein distance (flag names are short). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost))
    }
    previous = current
  }
  return previous[b.length] ?? 0
}

/** The settings table as help text; `keys` limits it to the settings a command reads. */
export function settingsHelp(keys?: readonly string[]): string {
  return SETTINGS.filter((s) => keys === undefined || keys.includes(s.key))
    .map(
      (s) =>
        `  --${s.flag.padEnd(24)} ${s.env.padEnd(32)} ${s.help}${s.default === undefined || s.default === '' ? '' : ` (default ${s.default})`}`,
    )
    .join('\n')
}
