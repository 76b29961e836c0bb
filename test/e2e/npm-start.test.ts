// The README's commands in a checkout: `npm start` stops gracefully when npm is told to (SIGTERM to npm,
// as Docker, systemd or a terminal's kill send it: npm passes the signal to its child, and the start
// script execs node, so no shell sits between them), and `npx tessera` finds the CLI after
// `npm install` (the bin is a committed launcher: npm links only files that exist, and dist/ is built
// after the linking). Runs what `npm install` built (packages/*/dist), as a newcomer does.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cleanEnv } from '../helpers/clean-env.js'
import { sleep } from '../helpers/server-harness.js'

const BIN = join('node_modules', '.bin', 'tessera')
const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
})

/** Whether process `pid` still runs. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('the README’s commands in a checkout', () => {
  it('npx tessera: node_modules/.bin/tessera runs the CLI', () => {
    expect(existsSync(BIN), `${BIN} (linked by npm install)`).toBe(true)
    const help = spawnSync(BIN, ['--help'], { encoding: 'utf8', env: cleanEnv() })
    expect(help.status, help.stderr).toBe(0)
    expect(help.stdout).toMatch(/^Usage: tessera <command>/)
  })

  it('npm start: SIGTERM to npm stops the server gracefully, leaving no process behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-npm-start-'))
    dirs.push(dir)
    const npm = spawn('npm', ['start', '--', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir], {
      env: { ...cleanEnv(), TESSERA_SHUTDOWN_DELAY: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let log = ''
    npm.stdout.setEncoding('utf8').on('data', (chunk: string) => (log += chunk))
    npm.stderr.setEncoding('utf8').on('data', (chunk: string) => (log += chunk))
    const exited = new Promise<number | null>((resolve) =>
      npm.once('exit', (code) => {
        resolve(code)
      }),
    )
    try {
      const deadline = Date.now() + 30_000
      let listening: RegExpExecArray | null = null
      while (
        (listening = /"pid":(\d+).*Tessera listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log)) === null
      ) {
        expect(Date.now() < deadline && npm.exitCode === null, `npm start did not start:\n${log}`).toBe(true)
        await sleep(50)
      }
      const [, pid, url] = listening
      // The start-up line says where the demo page and the API docs are.
      expect(log).toContain(`demo page at ${url!}/, API docs at ${url!}/docs`)
      expect((await fetch(`${url}/healthz`)).status).toBe(200)
      npm.kill('SIGTERM')
      expect(await exited).toBe(0)
      // The server itself got the signal and stopped: nothing answers, and its process is gone.
      expect(log).toMatch(/SIGTERM/)
      expect(log).toMatch(/"msg":"stopped"/)
      const gone = Date.now() + 10_000
      while (alive(Number(pid)) && Date.now() < gone) await sleep(50)
      expect(alive(Number(pid)), `server process ${pid} still running after npm exited`).toBe(false)
      await expect(fetch(`${url}/healthz`)).rejects.toThrow()
    } finally {
      if (npm.exitCode === null) npm.kill('SIGKILL')
      const pid = /"pid":(\d+)/.exec(log)?.[1]
      if (pid !== undefined && alive(Number(pid))) process.kill(Number(pid), 'SIGKILL')
    }
  }, 60_000)
})
