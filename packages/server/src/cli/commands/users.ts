/** `tessera users create|list|set-roles`: the only way to grant a role, such as the first admin. */
import type { RevocationEntry } from 'tessera'
import { redisRevocationStore } from 'tessera/redis'
import { MAX_ACCESS_TOKEN_TTL, type ServerConfig } from '../../server/config.js'
import { SERVER_LEEWAY } from '../../server/context.js'
import { checkPasswordStrength, serviceNamesOf } from '../../server/password-policy.js'
import { estimateStrength, hashPassword, validatePassword } from '../../server/passwords.js'
import { revocations } from '../../server/revocations.js'
import { removesRole, revokeEverything } from '../../server/service/deps.js'
import { createUnitOfWork } from '../../server/unit-of-work.js'
import { normalizeUsername, validateUsername } from '../../server/username.js'
import type { SqlStores } from '../../stores/sql/stores.js'
import { didYouMean, parseCommand, settingsHelp } from '../args.js'
import { readHidden } from '../prompt.js'
import { UsageError } from '../usage-error.js'
import { withStores } from './context.js'
import type { Command } from './index.js'
import { runUsersImport } from './users-import.js'

const HELP = `Usage:
  tessera users create <username> [--admin] [--roles a,b]   password from TESSERA_PASSWORD or a prompt
  tessera users list
  tessera users set-roles <username> <role,role|"">          removing a role revokes the user's tokens
  tessera users import <file> [--dry-run] …                  another system's users: import --help

Options:
  --admin                    create: grant the admin role
  --roles a,b                create: roles to grant (lower-case letters, digits, _ : -)
  -h, --help                 show this help
${settingsHelp(['dataDir', 'databaseUrl', 'passwordMinLength', 'passwordMinScore'])}

The password of "create" comes from TESSERA_PASSWORD, or a prompt when run in a terminal; it must meet
the same policy as registration (length, not common, not like the username).

Disabling or deleting a user, and reading the audit log, are HTTP admin routes (PATCH /users/:id
{"disabled": true}, DELETE /users/:id, GET /audit) called with an admin's access token: see
docs/server-api.md.
`

const ROLE = /^[a-z][a-z0-9_:-]{0,63}$/
const USER_ACTIONS = ['create', 'list', 'set-roles', 'import']

/**
 * Sets a user's roles in one transaction, as `PATCH /users/:id` does: removing a role ends every
 * session of the user and revokes every token issued before now (a token carries its roles), with the
 * audit event. Running servers learn of it through Redis when `TESSERA_REDIS_URL` is set here (written
 * and announced, as the servers do), else by reading the table again every key refresh interval
 * (context.ts). Returns the sessions ended (undefined when no role was removed) and whether Redis was
 * told (undefined without Redis).
 */
async function setRoles(
  stores: SqlStores,
  config: ServerConfig,
  userId: number,
  roles: string[],
): Promise<{ ended: number | undefined; announced: boolean | undefined }> {
  // The server's access tokens may live up to an hour (longer only with TESSERA_ALLOW_LONG_LIFETIMES):
  // the entries outlive the longest the server can have issued, whatever this process was given.
  const entries = revocations({
    accessTokenTtl: Math.max(config.accessTokenTtl, MAX_ACCESS_TOKEN_TTL),
    leeway: SERVER_LEEWAY,
  })
  let published: readonly RevocationEntry[] = []
  const work = createUnitOfWork({ stores, publish: (revoked) => (published = revoked) })
  const ended = await work.run(async (tx) => {
    const before = await tx.users.get(userId)
    if (before === undefined) throw new UsageError('the user was deleted meanwhile')
    await tx.users.update(userId, { roles })
    const demoted = removesRole(before.roles, roles)
    const ended = demoted ? await revokeEverything({ entries }, tx, userId) : undefined
    const detail = { roles, disabled: before.disabled, tokens_revoked: demoted, by: 'cli' }
    await tx.audit({ event: 'user_updated', userId, detail })
    return ended
  })
  if (config.redisUrl === undefined) return { ended, announced: undefined }
  return { ended, announced: published.length === 0 || (await announce(config, published)) }
}

/** Writes and announces `entries` through Redis, for the running servers' replicas; false if it failed. */
async function announce(config: ServerConfig, entries: readonly RevocationEntry[]): Promise<boolean> {
  const { Redis } = await import('ioredis')
  const client = new Redis(config.redisUrl ?? '', {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 3_000,
    commandTimeout: 3_000,
  })
  client.on('error', () => undefined)
  try {
    await client.connect()
    const store = redisRevocationStore({ client, prefix: config.redisPrefix })
    for (const entry of entries) await store.write(entry)
    return true
  } catch (error) {
    process.stderr.write(`Redis: ${(error as Error).message}\n`)
    return false
  } finally {
    client.disconnect()
  }
}

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

async function readPassword(): Promise<string> {
  const fromEnv = process.env.TESSERA_PASSWORD
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  // Without a terminal there is nobody to answer a prompt: reading would end at EOF with no password
  // (and once exited 0 having created nothing).
  if (!process.stdin.isTTY)
    throw new UsageError('no password: set TESSERA_PASSWORD, or run the command in a terminal to be prompted')
  // Not echoed, and asked twice: a typo in an unseen password would leave an account nobody can use.
  const answers = await readHidden(['Password: ', 'Password (again): '], process.stdin, process.stderr)
  if (answers === undefined) throw new UsageError('no password given: nothing was created')
  const [password = '', again] = answers
  if (password !== again) throw new UsageError('the two passwords differ: nothing was created')
  return password
}

export const usersCommand: Command = {
  usage: 'users <create|list|set-roles|import>',
  summary: 'Create users (e.g. the first admin), list them, set roles',
  async run(argv) {
    // Its own options (users-import.ts).
    if (argv[0] === 'import') return runUsersImport(argv.slice(1))
    const { settings, flags, positionals, help } = parseCommand(argv, {
      admin: { type: 'boolean' },
      roles: { type: 'string' },
    })
    const [action, name, rolesText, ...extra] = positionals
    if (help || action === undefined) {
      process.stdout.write(HELP)
      return help ? 0 : 1
    }
    // Checked before the database is opened: a mistake changes nothing, creates nothing.
    const arity: Record<string, number> = { create: 1, list: 0, 'set-roles': 2 }
    const expected = Object.hasOwn(arity, action) ? arity[action] : undefined
    if (expected === undefined)
      throw new UsageError(
        `unknown action "${action}"${didYouMean(action, USER_ACTIONS)}; use create, list, set-roles or import`,
      )
    if (action === 'create' && name === undefined)
      throw new UsageError('usage: tessera users create <username> [--admin] [--roles a,b]')
    if (action === 'set-roles' && (name === undefined || rolesText === undefined))
      throw new UsageError('usage: tessera users set-roles <username> <role,role>')
    const unexpected = [name, rolesText, ...extra].slice(expected).find((arg) => arg !== undefined)
    if (unexpected !== undefined) throw new UsageError(`unexpected argument "${unexpected}"`)
    if (action !== 'create' && (flags.admin !== undefined || flags.roles !== undefined))
      throw new UsageError('--admin and --roles only apply to create')
    return withStores(
      settings,
      async (stores, config) => {
        switch (action) {
          case 'create': {
            const username = validateUsername(name)
            if (!username.ok) throw new UsageError(`invalid username (${username.reason})`)
            const password = await readPassword()
            const check = validatePassword(password)
            if (!check.ok && check.reason !== 'too_short')
              throw new UsageError(`invalid password (${check.reason}: 8 to 1024 bytes)`)
            // The same policy as registration: an admin's password is no place for "admin123".
            const verdict = await checkPasswordStrength(
              password,
              { minLength: config.passwordMinLength, minScore: config.passwordMinScore },
              { username: username.normalized, serviceNames: serviceNamesOf(config) },
              estimateStrength,
            )
            if (!verdict.ok)
              throw new UsageError(
                `weak_password: password ${verdict.message} (${verdict.suggestions.join(' ')})`,
              )
            const roles = parseRoles(typeof flags.roles === 'string' ? flags.roles : '')
            if (flags.admin === true && !roles.includes('admin')) roles.push('admin')
            const created = await stores.users.create({
              username: username.username,
              usernameNormalized: username.normalized,
              passwordHash: await hashPassword(password),
              roles,
            })
            if (!created.ok) throw new UsageError(`the username "${username.username}" is taken`)
            process.stdout.write(
              `Created user ${created.user.username} (id ${created.user.id}) with roles [${roles.join(', ')}]\n`,
            )
            return 0
          }
          case 'list': {
            // Every user, a page at a time (the store pages by 500 at most).
            for (let offset = 0; ;) {
              const page = await stores.users.list({ limit: 500, offset })
              for (const u of page.users)
                process.stdout.write(
                  `${String(u.id).padStart(5)}  ${u.username}  [${u.roles.join(', ')}]${u.disabled ? '  disabled' : ''}\n`,
                )
              offset += page.users.length
              if (page.users.length === 0 || offset >= page.total) {
                process.stdout.write(`${String(page.total)} user(s)\n`)
                return 0
              }
            }
          }
          case 'set-roles': {
            if (name === undefined || rolesText === undefined)
              throw new UsageError('unreachable: checked above')
            // Looked up by its normal form only: an account registered before a rule refused its name
            // can still be demoted.
            const user = await stores.users.getByUsername(normalizeUsername(name))
            if (user === undefined) throw new UsageError(`no user "${name}"`)
            const roles = parseRoles(rolesText)
            const { ended: revoked, announced } = await setRoles(stores, config, user.id, roles)
            process.stdout.write(
              `${user.username}: roles [${roles.join(', ')}]${
                revoked === undefined
                  ? ' (granted roles reach their tokens at the next refresh)'
                  : `; a role was removed: every token of the user is revoked (${String(revoked)} session(s) ended)`
              }\n`,
            )
            if (revoked !== undefined && announced === undefined)
              process.stdout.write(
                'Running servers without Redis apply it within TESSERA_KEY_REFRESH_INTERVAL; servers that use ' +
                  'Redis learn of it only through it: run this with their TESSERA_REDIS_URL.\n',
              )
            if (announced === false) {
              process.stderr.write(
                'error: the roles and the revocation are saved, but Redis was not told: running servers ' +
                  'apply it at their next Redis re-sync or start (restart them to apply it now)\n',
              )
              return 1
            }
            return 0
          }
          default:
            throw new UsageError(
              `unknown action "${action}"${didYouMean(action, USER_ACTIONS)}; use create, list, set-roles or import`,
            )
        }
      },
      // Listing or changing users needs their database; creating the first admin may make it.
      { existing: action !== 'create' },
    )
  },
}
