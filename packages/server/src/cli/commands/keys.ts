/** `tessera keys generate|rotate|list`: manage the signing keys stored in the database. */
import { generateKey } from 'tessera'
import { parseCommand, settingsHelp } from '../args.js'
import { UsageError } from '../usage-error.js'
import { withStores } from './context.js'
import type { Command } from './index.js'

const HELP = `Usage: tessera keys <generate|rotate|list> [options]

  generate   Add a new key that verifies but does not sign yet (publish it in the JWKS before use)
  rotate     Make a new key (or the newest generated one) the signer; older keys keep verifying
  list       Show every key: kid, algorithm, state
Running servers pick up a rotation within seconds, without a restart.

Options:
  -h, --help                 show this help
${settingsHelp(['dataDir', 'databaseUrl', 'algorithm'])}
`

export const keysCommand: Command = {
  usage: 'keys <generate|rotate|list>',
  summary: 'Generate, rotate or list signing keys',
  async run(argv) {
    const { settings, positionals, help } = parseCommand(argv)
    const [action] = positionals
    if (help || action === undefined) {
      process.stdout.write(HELP)
      return help ? 0 : 1
    }
    return withStores(settings, async (stores, config) => {
      switch (action) {
        case 'generate': {
          const key = await generateKey(config.algorithm)
          await stores.keys.save(key)
          process.stdout.write(
            `Generated ${key.alg} key ${key.kid} (not signing yet; run "tessera keys rotate" to use it)\n`,
          )
          return 0
        }
        case 'rotate': {
          const keys = await stores.keys.list()
          const waiting = keys.find((k) => !k.active && k.activatedAt === null && k.alg === config.algorithm)
          let kid = waiting?.kid
          if (kid === undefined) {
            const key = await generateKey(config.algorithm)
            await stores.keys.save(key)
            kid = key.kid
          }
          await stores.keys.activate(kid)
          process.stdout.write(
            `Signing with ${kid}; previous keys keep verifying until their tokens expire\n`,
          )
          return 0
        }
        case 'list': {
          const keys = await stores.keys.list()
          if (keys.length === 0) process.stdout.write('No keys yet: the server makes one on first start.\n')
          for (const k of keys) {
            const state = k.active
              ? 'active'
              : k.retiredAt !== null
                ? `retired ${new Date(k.retiredAt * 1000).toISOString()}`
                : 'generated'
            process.stdout.write(`${k.kid}  ${k.alg.padEnd(6)} ${state}\n`)
          }
          return 0
        }
        default:
          throw new UsageError(`unknown action "${action}"; use generate, rotate or list`)
      }
    })
  },
}
