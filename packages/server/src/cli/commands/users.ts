/**
 * `tessera users create|list|set-roles|set-password|disable|enable|delete`: the only way to grant a role,
 * such as the first admin, and an operator's way to mend an account without an admin's token.
 */
import type { ServerConfig } from '../../server/config.js'
import { checkPasswordStrength, serviceNamesOf } from '../../server/password-policy.js'
import { estimateStrength, hashPassword, validatePassword } from '../../server/passwords.js'
import { userBody } from '../../server/routes/http.js'
import { normalizeUsername, validateUsername, type UsernameCheck } from '../../server/username.js'
import type { SqlStores } from '../../stores/sql/stores.js'
import type { UserRecord } from '../../stores/sql/users.js'
import {
  checkApplicable,
  DATABASE_SETTINGS,
  didYouMean,
  parseCommand,
  settingsHelp,
  showHelp,
  type Applicable,
  type SettingKey,
} from '../args.js'
import { jsonArray } from '../json.js'
import { checkCanAsk, confirm, readHidden } from '../prompt.js'
import { CommandFailure, UsageError } from '../exit-codes.js'
import { withStores } from './context.js'
import type { Command } from './index.js'
import { changeUser, lockOutQuestion, reportChange, REVOCATION, sessionsEnded } from './user-change.js'
import { runUsersImport } from './users-import.js'

/** What decides whether registration would take a password (password-policy.ts). */
const PASSWORD_POLICY: readonly SettingKey[] = ['passwordMinLength', 'passwordMinScore', 'issuer', 'audience']

/** An action of `tessera users` but import: its arguments, and what it takes besides --help. */
interface UserAction extends Applicable {
  /** How many arguments follow the action. */
  arity: number
  /**
   * What it does, when it always asks before acting (it locks the user out): "deleting a user".
   * Without a terminal to ask on it needs --yes, checked before the database is opened.
   */
  asks?: string
}

/** Every action but import (users-import.ts), checked before the database is opened. */
const ACTIONS = {
  create: { arity: 1, settings: [...DATABASE_SETTINGS, ...PASSWORD_POLICY], flags: ['admin', 'roles'] },
  list: { arity: 0, settings: DATABASE_SETTINGS, flags: ['json'] },
  // Asks when it removes the admin role, which only the user's row tells: without a terminal or --yes
  // it refuses once it has read it, before any write (withStores opens no missing or empty database).
  'set-roles': { arity: 2, settings: [...DATABASE_SETTINGS, ...REVOCATION], flags: ['yes'] },
  'set-password': { arity: 1, settings: [...DATABASE_SETTINGS, ...PASSWORD_POLICY, ...REVOCATION] },
  disable: {
    arity: 1,
    settings: [...DATABASE_SETTINGS, ...REVOCATION],
    flags: ['yes'],
    asks: 'disabling a user',
  },
  // Enabling revokes nothing.
  enable: { arity: 1, settings: DATABASE_SETTINGS },
  delete: {
    arity: 1,
    settings: [...DATABASE_SETTINGS, ...REVOCATION],
    flags: ['yes'],
    asks: 'deleting a user',
  },
} satisfies Record<string, UserAction>

const HELP = `Usage:
  tessera users create <username> [--admin] [--roles a,b]   password from TESSERA_PASSWORD or a prompt
  tessera users list [--json]
  tessera users set-roles <username> <role,role|"">          removing a role revokes the user's tokens
  tessera users set-password <username>                      a new password; revokes the user's tokens
  tessera users disable <username>                           refuses logins; revokes the user's tokens
  tessera users enable <username>                            lets a disabled user log in again
  tessera users delete <username>                            deletes the user; revokes their tokens
  tessera users import <file> [--dry-run] …                  another system's users: import --help

Options:
  --admin                    create: grant the admin role
  --roles a,b                create: roles to grant (lower-case letters, digits, _ : -)
  --json                     list: one JSON array on stdout, the user objects of GET /users
  -y, --yes                  disable, delete, set-roles: do not ask (needed when not run in a terminal)
  -h, --help                 show this help

Settings (flag, variable), each flag taken only by the actions that read it (a variable or .env
applies wherever it is read). Every action: the database.
${settingsHelp(DATABASE_SETTINGS)}
create, set-password: the password policy, as the servers have it.
${settingsHelp(PASSWORD_POLICY)}
set-roles, set-password, disable, delete: how the revocation reaches the servers, as they have it.
${settingsHelp(REVOCATION)}

"disable", "delete" and a "set-roles" that removes the admin role lock the user out: in a terminal
they ask first (y/N), naming the sessions that end; elsewhere they need --yes.

The password of "create" and "set-password" comes from TESSERA_PASSWORD, or a prompt when run in a
terminal; it must meet the same policy as registration (length, not common, not like the username).

Each change is one transaction with its audit event (detail.by "cli"), as through the admin API
(PATCH /users/:id, DELETE /users/:id; the audit log is GET /audit: see docs/server-api.md). Unlike the
API, the CLI may disable, delete or demote the last admin (it says so): it is how an operator mends
administration. Running servers learn of a revocation through Redis when TESSERA_REDIS_URL is set
here, else within their TESSERA_KEY_REFRESH_INTERVAL.
`

const ROLE = /^[a-z][a-z0-9_:-]{0,63}$/
const USER_ACTIONS = [...Object.keys(ACTIONS), 'import']

function parseRoles(text: string): string[] {
  const roles = [
    ...new Set(
      text
        .split(',')
        .map((r) => r.trim())
        .filter((r) => r !== ''),
    ),
  ]
  const bad = roles.find((r) => !ROLE.test(r))
  if (bad !== undefined) throw new UsageError(`invalid role "${bad}": lower-case letters, digits, _ : -`)
  return roles
}

/** A new user's name, held to registration's rules; a refused one is a usage error. */
function newUsername(name: string | undefined): Extract<UsernameCheck, { ok: true }> {
  const checked = validateUsername(name)
  if (!checked.ok) throw new UsageError(`invalid username (${checked.reason})`)
  return checked
}

/**
 * Refuses to go on when a password is needed and neither TESSERA_PASSWORD nor a terminal gives one:
 * reading would end at EOF with no password (and once exited 0 having created nothing). Called before
 * the database is opened.
 */
function checkPasswordSource(): void {
  const fromEnv = process.env.TESSERA_PASSWORD
  if ((fromEnv === undefined || fromEnv === '') && !process.stdin.isTTY)
    throw new UsageError('no password: set TESSERA_PASSWORD, or run the command in a terminal to be prompted')
}

async function readPassword(nothing: string): Promise<string> {
  checkPasswordSource()
  const fromEnv = process.env.TESSERA_PASSWORD
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  // Not echoed, and asked twice: a typo in an unseen password would leave an account nobody can use.
  const answers = await readHidden(['Password: ', 'Password (again): '], process.stdin, process.stderr)
  if (answers === undefined) throw new CommandFailure(`no password given: ${nothing}`)
  const [password = '', again] = answers
  if (password !== again) throw new CommandFailure(`the two passwords differ: ${nothing}`)
  return password
}

/** A password for `username` from TESSERA_PASSWORD or the prompt, held to registration's policy. */
async function policyPassword(config: ServerConfig, username: string, nothing: string): Promise<string> {
  const password = await readPassword(nothing)
  const check = validatePassword(password)
  if (!check.ok && check.reason !== 'too_short')
    throw new CommandFailure(`invalid password (${check.reason}: 8 to 1024 bytes)`)
  // The same policy as registration: an admin's password is no place for "admin123".
  const verdict = await checkPasswordStrength(
    password,
    { minLength: config.passwordMinLength, minScore: config.passwordMinScore },
    { username, serviceNames: serviceNamesOf(config) },
    estimateStrength,
  )
  if (!verdict.ok)
    throw new CommandFailure(`weak_password: password ${verdict.message} (${verdict.suggestions.join(' ')})`)
  return password
}

/**
 * Prints every user, a page at a time (the store pages by 500 at most, each page after the last id of
 * the one before, none counted): a line each and how many were printed, or with `json` one array of
 * the objects GET /users answers (id, username, roles, disabled, created_at).
 */
async function listUsers(stores: SqlStores, json: boolean): Promise<number> {
  const array = json ? jsonArray() : undefined
  let listed = 0
  for (let after: number | null = 0; after !== null;) {
    const page = await stores.users.list({ limit: 500, after, count: false })
    for (const u of page.users)
      if (array !== undefined) array.write(userBody(u))
      else
        process.stdout.write(
          `${String(u.id).padStart(5)}  ${u.username}  [${u.roles.join(', ')}]${u.disabled ? '  disabled' : ''}\n`,
        )
    listed += page.users.length
    after = page.next
  }
  if (array !== undefined) array.end()
  else process.stdout.write(`${String(listed)} user(s)\n`)
  return 0
}

export const usersCommand: Command = {
  usage: 'users <create|list|set-roles|set-password|disable|enable|delete|import>',
  summary: 'Create users (e.g. the first admin), list them, set roles or a password, disable, delete',
  async run(argv) {
    // Its own options (users-import.ts).
    if (argv[0] === 'import') return runUsersImport(argv.slice(1))
    const parsed = parseCommand(argv, {
      admin: { type: 'boolean' },
      roles: { type: 'string' },
      json: { type: 'boolean' },
      yes: { type: 'boolean', short: 'y' },
    })
    const { settings, flags, positionals, help } = parsed
    const [action, name, rolesText, ...extra] = positionals
    if (help || action === undefined) {
      return showHelp(HELP, help)
    }
    // Checked before the database is opened: a mistake changes nothing, creates nothing.
    if (!Object.hasOwn(ACTIONS, action))
      throw new UsageError(
        `unknown action "${action}"${didYouMean(action, USER_ACTIONS)}; use ${USER_ACTIONS.slice(0, -1).join(', ')} or import`,
      )
    const spec: UserAction = ACTIONS[action as keyof typeof ACTIONS]
    const { arity: expected, asks } = spec
    checkApplicable(parsed, `users ${action}`, spec)
    if (expected >= 1 && name === undefined)
      throw new UsageError(
        action === 'create'
          ? 'usage: tessera users create <username> [--admin] [--roles a,b]'
          : `usage: tessera users ${action} <username>${action === 'set-roles' ? ' <role,role>' : ''}`,
      )
    if (action === 'set-roles' && rolesText === undefined)
      throw new UsageError('usage: tessera users set-roles <username> <role,role>')
    const unexpected = [name, rolesText, ...extra].slice(expected).find((arg) => arg !== undefined)
    if (unexpected !== undefined) throw new UsageError(`unexpected argument "${unexpected}"`)
    // Roles and a new username are checked before the database is opened too.
    const roles = action === 'set-roles' ? parseRoles(rolesText ?? '') : undefined
    const newName = action === 'create' ? newUsername(name) : undefined
    if (action === 'create' || action === 'set-password') checkPasswordSource()
    const yes = flags.yes === true
    if (asks !== undefined && !yes) checkCanAsk(asks)
    return withStores(
      settings,
      async (stores, config) => {
        // Looked up by its normal form only: an account registered before a rule refused its name can
        // still be changed.
        const existing = async (): Promise<UserRecord> => {
          const user = await stores.users.getByUsername(normalizeUsername(name ?? ''))
          if (user === undefined) throw new CommandFailure(`no user "${name ?? ''}": nothing was changed`)
          return user
        }
        // Before a change that locks the user out, unless --yes: the question names what ends.
        const askFirst = (user: UserRecord, what: string, doing: string): Promise<void> =>
          confirm(() => lockOutQuestion(stores, user, what), { yes, doing })
        switch (action) {
          case 'create': {
            const username = newName ?? newUsername(name)
            const password = await policyPassword(config, username.normalized, 'nothing was created')
            const granted = parseRoles(typeof flags.roles === 'string' ? flags.roles : '')
            if (flags.admin === true && !granted.includes('admin')) granted.push('admin')
            const created = await stores.users.create({
              username: username.username,
              usernameNormalized: username.normalized,
              passwordHash: await hashPassword(password),
              roles: granted,
            })
            if (!created.ok) throw new CommandFailure(`the username "${username.username}" is taken`)
            process.stdout.write(
              `Created user ${created.user.username} (id ${created.user.id}) with roles [${granted.join(', ')}]\n`,
            )
            return 0
          }
          case 'list':
            return listUsers(stores, flags.json === true)
          case 'set-roles': {
            const user = await existing()
            if (user.roles.includes('admin') && !(roles ?? []).includes('admin'))
              await askFirst(user, `Remove the admin role from ${user.username}`, 'removing the admin role')
            const result = await changeUser(stores, config, user.id, {
              kind: 'update',
              patch: { roles: roles ?? [] },
            })
            process.stdout.write(
              `${user.username}: roles [${(roles ?? []).join(', ')}]${
                result.ended === undefined
                  ? ' (granted roles reach their tokens at the next refresh)'
                  : `; a role was removed: ${sessionsEnded(result.ended)}`
              }\n`,
            )
            return reportChange(result)
          }
          case 'set-password': {
            const user = await existing()
            const password = await policyPassword(config, user.usernameNormalized, 'nothing was changed')
            const passwordHash = await hashPassword(password)
            const result = await changeUser(stores, config, user.id, { kind: 'password', passwordHash })
            process.stdout.write(`${user.username}: password set; ${sessionsEnded(result.ended)}\n`)
            return reportChange(result)
          }
          case 'disable':
          case 'enable': {
            const user = await existing()
            const disabled = action === 'disable'
            if (user.disabled === disabled) {
              process.stdout.write(`${user.username} is already ${action}d: nothing was changed\n`)
              return 0
            }
            if (disabled)
              await askFirst(user, `Disable user ${user.username} (logins refused)`, 'disabling a user')
            const result = await changeUser(stores, config, user.id, { kind: 'update', patch: { disabled } })
            process.stdout.write(
              disabled
                ? `${user.username}: disabled (logins refused); ${sessionsEnded(result.ended)}\n`
                : `${user.username}: enabled (may log in again)\n`,
            )
            return reportChange(result)
          }
          case 'delete': {
            const user = await existing()
            await askFirst(user, `Delete user ${user.username}`, 'deleting a user')
            const result = await changeUser(stores, config, user.id, { kind: 'delete' })
            process.stdout.write(
              `${user.username} (id ${user.id}): deleted; ${sessionsEnded(result.ended)}\n`,
            )
            return reportChange(result)
          }
          default:
            throw new UsageError(`unknown action "${action}"${didYouMean(action, USER_ACTIONS)}`)
        }
      },
      // Listing or changing users needs their database; creating the first admin may make it.
      { existing: action !== 'create' },
    )
  },
}
