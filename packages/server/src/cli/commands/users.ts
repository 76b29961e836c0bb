/** `tessera users create|list|set-roles`: the only way to grant a role, such as the first admin. */
import { createInterface } from 'node:readline/promises'
import { checkPasswordStrength, serviceNamesOf } from '../../server/password-policy.js'
import { estimateStrength, hashPassword, validatePassword } from '../../server/passwords.js'
import { validateUsername } from '../../server/username.js'
import { parseCommand, settingsHelp } from '../args.js'
import { UsageError } from '../usage-error.js'
import { withStores } from './context.js'
import type { Command } from './index.js'
import { runUsersImport } from './users-import.js'

const HELP = `Usage:
  tessera users create <username> [--admin] [--roles a,b]   password from TESSERA_PASSWORD or a prompt
  tessera users list
  tessera users set-roles <username> <role,role|"">
  tessera users import <file> [--dry-run] …                  another system's users: import --help

Options:
  --admin                    create: grant the admin role
  --roles a,b                create: roles to grant (lower-case letters, digits, _ : -)
  -h, --help                 show this help
${settingsHelp(['dataDir', 'databaseUrl', 'passwordMinLength', 'passwordMinScore'])}

The password of "create" comes from TESSERA_PASSWORD, or a prompt when run in a terminal; it must meet
the same policy as registration (length, not common, not like the username).
`

const ROLE = /^[a-z][a-z0-9_:-]{0,63}$/

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
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY })
  try {
    return await rl.question('Password: ')
  } finally {
    rl.close()
  }
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
    const [action, name, rolesText] = positionals
    if (help || action === undefined) {
      process.stdout.write(HELP)
      return help ? 0 : 1
    }
    return withStores(settings, async (stores, config) => {
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
          const { users, total } = await stores.users.list({ limit: 500 })
          for (const u of users)
            process.stdout.write(
              `${String(u.id).padStart(5)}  ${u.username}  [${u.roles.join(', ')}]${u.disabled ? '  disabled' : ''}\n`,
            )
          process.stdout.write(`${total} user(s)\n`)
          return 0
        }
        case 'set-roles': {
          const username = validateUsername(name)
          if (!username.ok || rolesText === undefined)
            throw new UsageError('usage: tessera users set-roles <username> <role,role>')
          const user = await stores.users.getByUsername(username.normalized)
          if (user === undefined) throw new UsageError(`no user "${username.username}"`)
          const roles = parseRoles(rolesText)
          await stores.users.update(user.id, { roles })
          process.stdout.write(
            `${user.username}: roles [${roles.join(', ')}] (tokens already issued keep their old roles until they expire)\n`,
          )
          return 0
        }
        default:
          throw new UsageError(`unknown action "${action}"; use create, list or set-roles`)
      }
    })
  },
}
