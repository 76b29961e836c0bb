/**
 * `tessera keys generate|rotate|list|revoke|prune`: manage the signing keys stored in the database.
 * Every running instance applies the change on its next key refresh (TESSERA_KEY_REFRESH_INTERVAL).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKey } from 'tessera'
import type { ServerConfig } from '../../server/config.js'
import { keyRetentionSeconds, rotateSigningKey } from '../../server/key-lifecycle.js'
import type { SqlStores } from '../../stores/sql/stores.js'
import { nowSeconds } from '../../time.js'
import {
  checkApplicable,
  DATABASE_SETTINGS,
  didYouMean,
  parseCommand,
  showHelp,
  type Applicable,
} from '../args.js'
import { CommandFailure, UsageError } from '../exit-codes.js'
import { jsonArray, jsonTime } from '../json.js'
import { checkCanAsk, confirm } from '../prompt.js'
import { withStores } from './context.js'
import type { Command } from './index.js'

const HELP = `Usage: tessera keys <action> [--data-dir DIR | --database-url URL] [options]

Actions:
  generate       Add a key that is published and verifies but does not sign
  rotate         Schedule a new key (or the newest generated one): published now, signing once every
                 service's JWKS copy has expired (TESSERA_JWKS_MAX_AGE + TESSERA_KEY_REFRESH_INTERVAL)
  rotate --now   Emergency: sign with it once every instance has loaded it (one key refresh interval
                 + 1 s: give the instances' TESSERA_KEY_REFRESH_INTERVAL); waits until then
  list           Every key with its state (generated, pending, active, retired, revoked) and dates
  revoke <kid>   Compromise: drop the key from the JWKS and every instance, refuse every token it signed
                 (the active key cannot be revoked: "rotate --now" first); asks first, or --yes
  prune          Delete keys retired longer than the refresh token lifetime + margin (servers do it too)

Options (each action takes only its own; a variable or .env applies wherever it is read):
  -h, --help                  Show this help
  --now                       rotate: the emergency rotation above
  --json                      list: one JSON array on stdout (docs/cli.md)
  -y, --yes                   revoke: do not ask (needed when not run in a terminal)
  --data-dir DIR              every action: the SQLite database's directory (TESSERA_DATA_DIR, ./data)
  --database-url URL          every action: SQLite path or postgres://… (TESSERA_DATABASE_URL)
  --algorithm ALG             generate, rotate: algorithm of new keys (TESSERA_ALGORITHM, default EdDSA)
  --jwks-max-age DURATION     rotate: as configured on the servers (TESSERA_JWKS_MAX_AGE, default 5m)
  --key-refresh-interval DUR  rotate, prune: as on the servers (TESSERA_KEY_REFRESH_INTERVAL, default 5s)
  --refresh-token-ttl DUR     prune: as on the servers (TESSERA_REFRESH_TOKEN_TTL, default 30d)
  --access-token-ttl DUR      prune: as on the servers (TESSERA_ACCESS_TOKEN_TTL, default 15m), with
  --allow-long-lifetimes B    (TESSERA_ALLOW_LONG_LIFETIMES) when it is longer than an hour
Running servers apply every change within one key refresh interval, without a restart.
`

/** What each action takes besides --help: the settings it reads, its own flags. */
const ACTIONS = {
  generate: { settings: [...DATABASE_SETTINGS, 'algorithm'] },
  rotate: {
    settings: [...DATABASE_SETTINGS, 'algorithm', 'jwksMaxAge', 'keyRefreshInterval'],
    flags: ['now'],
  },
  list: { settings: DATABASE_SETTINGS, flags: ['json'] },
  revoke: { settings: DATABASE_SETTINGS, flags: ['yes'] },
  // keyRetentionSeconds: the longer token lifetime plus one refresh interval.
  prune: {
    settings: [
      ...DATABASE_SETTINGS,
      'refreshTokenTtl',
      'accessTokenTtl',
      'allowLongLifetimes',
      'keyRefreshInterval',
    ],
  },
} satisfies Record<string, Applicable>
const ACTION_NAMES = Object.keys(ACTIONS) as (keyof typeof ACTIONS)[]

const iso = (seconds: number | null): string =>
  seconds === null ? '-' : new Date(seconds * 1000).toISOString().replace('.000Z', 'Z')

export const keysCommand: Command = {
  usage: 'keys <action> [--data-dir DIR]',
  summary: 'Signing keys: list, rotate [--now], revoke <kid>, prune, generate',
  async run(argv) {
    const parsed = parseCommand(argv, {
      now: { type: 'boolean' },
      json: { type: 'boolean' },
      yes: { type: 'boolean', short: 'y' },
    })
    const { settings, flags, positionals, help } = parsed
    const [action, ...rest] = positionals
    const [kid] = rest
    if (help || action === undefined) {
      return showHelp(HELP, help)
    }
    if (!Object.hasOwn(ACTIONS, action)) {
      throw new UsageError(
        `unknown action "${action}"${didYouMean(action, ACTION_NAMES)}; use ${ACTION_NAMES.join(', ')}`,
      )
    }
    checkApplicable(parsed, `keys ${action}`, ACTIONS[action as keyof typeof ACTIONS])
    if (action !== 'revoke' && rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`)
    if (action === 'revoke' && (kid === undefined || rest.length !== 1))
      throw new UsageError('usage: tessera keys revoke <kid>')
    const yes = flags.yes === true
    // Revoking refuses every token the key signed: it asks first, so without a terminal it needs --yes.
    if (action === 'revoke' && !yes) checkCanAsk('revoking a key')
    return withStores(
      settings,
      async (stores, config) => {
        switch (action) {
          case 'generate':
            return generate(stores, config)
          case 'rotate':
            return rotate(stores, config, flags.now === true)
          case 'list':
            return list(stores, flags.json === true)
          case 'revoke':
            return revoke(stores, kid ?? '', yes)
          default:
            return prune(stores, config)
        }
      },
      // generate and rotate make the first key of a new database (deployment.md); the others need one.
      {
        existing: action !== 'generate' && action !== 'rotate',
        makesKeys: action === 'generate' || action === 'rotate',
      },
    )
  },
}

async function generate(stores: SqlStores, config: ServerConfig): Promise<number> {
  const key = await generateKey(config.algorithm)
  await stores.keys.save(key)
  await stores.audit.record({ event: 'key_generated', detail: { kid: key.kid, alg: key.alg, by: 'cli' } })
  process.stdout.write(
    `Generated ${key.alg} key ${key.kid}: published, not signing ("tessera keys rotate" schedules it)\n`,
  )
  return 0
}

async function rotate(stores: SqlStores, config: ServerConfig, urgent: boolean): Promise<number> {
  const now = nowSeconds()
  const result = await rotateSigningKey(stores, config, { immediate: urgent, now, by: 'cli' })
  switch (result.status) {
    case 'already_scheduled':
      process.stdout.write(
        `A rotation is already scheduled: ${result.kid} signs from ${iso(result.at)} (use --now to sign with it after one key refresh interval)\n`,
      )
      break
    case 'rotated':
      // Waits until the key signs, so that the next step of an emergency (`keys revoke <old kid>`)
      // finds the old key no longer signing.
      if (result.at > now) {
        process.stdout.write(
          `Rotating to ${result.kid}: it signs from ${iso(result.at)}, once every instance has loaded it (${result.at - now} s, ` +
            `if they reload keys every ${config.keyRefreshInterval} s: an instance with a longer TESSERA_KEY_REFRESH_INTERVAL ` +
            `refuses its tokens until it reloads; give this command theirs)…\n`,
        )
        // On the wall clock, as the instances judge it (a step back of the clock waits longer).
        while (Date.now() < result.at * 1000) await sleep(Math.min(1_000, result.at * 1000 - Date.now()))
      }
      process.stdout.write(
        `Signing with ${result.kid} now; previous keys keep verifying until their tokens expire\n`,
      )
      break
    case 'scheduled':
      process.stdout.write(
        `Scheduled ${result.kid}: published now, signing from ${iso(result.at)} (in ${result.at - now} s); previous keys keep verifying until their tokens expire\n`,
      )
      break
    case 'not_due':
      throw new Error('unreachable: a rotation without maxKeyAge is always due')
  }
  return 0
}

/**
 * Prints every key in aligned columns, or with `json` one array of objects: kid, alg, state, active,
 * created_at, activated_at, retired_at, revoked_at (ISO 8601 or null).
 */
async function list(stores: SqlStores, json: boolean): Promise<number> {
  const keys = await stores.keys.list()
  if (json) {
    const array = jsonArray()
    for (const k of keys)
      array.write({
        kid: k.kid,
        alg: k.alg,
        state: k.state,
        active: k.active,
        created_at: jsonTime(k.createdAt),
        activated_at: jsonTime(k.activatedAt),
        retired_at: jsonTime(k.retiredAt),
        revoked_at: jsonTime(k.revokedAt),
      })
    array.end()
    return 0
  }
  if (keys.length === 0) {
    process.stdout.write('No keys yet: the server makes one on first start.\n')
    return 0
  }
  // One column per field, as wide as its longest value or its title.
  const rows: string[][] = [
    ['kid', 'alg', 'state', 'created', 'activates/activated', 'retires/retired', 'revoked'],
    ...keys.map((k) => [
      k.kid,
      k.alg,
      k.state,
      iso(k.createdAt),
      iso(k.activatedAt),
      iso(k.retiredAt),
      iso(k.revokedAt),
    ]),
  ]
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  for (const row of rows)
    process.stdout.write(
      `${row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd()}\n`,
    )
  return 0
}

/**
 * Revokes a key after asking (unless `yes`): an unknown kid or the signing key is refused, and a key
 * revoked already is said, without a question.
 */
async function revoke(stores: SqlStores, kid: string, yes: boolean): Promise<number> {
  const key = (await stores.keys.list()).find((k) => k.kid === kid)
  if (key !== undefined && !key.active && key.state !== 'revoked')
    await confirm(
      () =>
        `Revoke key ${kid} (${key.alg}, ${key.state}): drop it from the JWKS and refuse every token it signed?`,
      { yes, doing: 'revoking a key' },
    )
  // The store decides (a key may have changed meanwhile): unknown, active, already revoked, or done.
  const result = await stores.keys.revoke(kid)
  switch (result) {
    case 'unknown':
      throw new CommandFailure(`no key has kid "${kid}" (see "tessera keys list")`)
    case 'active':
      throw new CommandFailure(
        `${kid} is the signing key: run "tessera keys rotate --now" first, then revoke it`,
      )
    case 'already_revoked':
      process.stdout.write(`${kid} was already revoked\n`)
      return 0
    default:
      await stores.audit.record({ event: 'key_revoked', detail: { kid } })
      process.stdout.write(
        `Revoked ${kid}: out of the JWKS, its tokens refused by every instance within one key refresh interval\n`,
      )
      return 0
  }
}

async function prune(stores: SqlStores, config: ServerConfig): Promise<number> {
  const pruned = await stores.keys.pruneRetired(keyRetentionSeconds(config))
  if (pruned.length > 0) await stores.audit.record({ event: 'keys_pruned', detail: { kids: pruned } })
  process.stdout.write(pruned.length === 0 ? 'Nothing to prune.\n' : `Pruned ${pruned.join(', ')}\n`)
  return 0
}
