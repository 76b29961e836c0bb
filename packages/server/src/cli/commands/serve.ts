/** `tessera serve`: start the auth server; SIGTERM/SIGINT/SIGHUP stop it gracefully. */
import { loadServerConfig } from '../../server/config.js'
import { startServer } from '../../server/app.js'
import { parseCommand, settingsHelp } from '../args.js'
import type { Command } from './index.js'

/** How long in-flight requests may take to finish once the listener is closed (after the delay). */
const SHUTDOWN_GRACE_MS = 10_000

export const serveCommand: Command = {
  usage: 'serve [options]',
  summary: 'Start the auth server (SQLite under ./data by default)',
  async run(argv) {
    const { settings, help } = parseCommand(argv)
    if (help) {
      process.stdout.write(
        `Usage: tessera serve [options]\n\nOptions (flag, environment variable, meaning):\n  -h, --help                 show this help\n${settingsHelp()}\n`,
      )
      return 0
    }
    const server = await startServer(loadServerConfig(settings))
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        const delay = server.config.shutdownDelayMs
        // A second signal finds no handler and ends the process at once (Node's default).
        server.app.log.info(
          `${signal}: not ready; serving for ${delay} ms more, then finishing in-flight requests and stopping` +
            (signal === 'SIGINT' ? ' (Ctrl-C again to stop at once)' : ''),
        )
        const timer = setTimeout(() => {
          server.app.log.error('in-flight requests did not finish in time; exiting')
          process.exit(1)
        }, delay + SHUTDOWN_GRACE_MS)
        timer.unref()
        server.shutdown(delay).then(
          () => {
            server.app.log.info('stopped')
            resolve()
          },
          (error: unknown) => {
            server.app.log.error({ err: error }, 'error while stopping')
            resolve()
          },
        )
      }
      process.once('SIGTERM', () => {
        stop('SIGTERM')
      })
      process.once('SIGINT', () => {
        stop('SIGINT')
      })
      // The terminal it runs in closing (an SSH session ending): Node's default would end the process
      // at once, resetting requests in flight and losing the gathered access lines.
      process.once('SIGHUP', () => {
        stop('SIGHUP')
      })
    })
    return 0
  },
}
