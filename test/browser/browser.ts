// Chromium for the browser suites: Debian's /usr/bin/chromium driven by playwright-core (never a browser
// a tool downloads). A missing Chromium skips the suite locally and fails it under CI (services.ts).
import { existsSync } from 'node:fs'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll } from 'vitest'
import { serviceAvailable } from '../helpers/services.js'

/** Where Debian installs Chromium (`apt-get install -y chromium`). */
const CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium'

/** True when the suite can run (or a thrown error under CI); see {@link serviceAvailable}. */
export const chromiumAvailable = serviceAvailable(
  'Chromium',
  existsSync(CHROMIUM),
  `${CHROMIUM} is not installed (apt-get install -y chromium)`,
)

// No background traffic: this machine's network is closed and Chromium would retry Google's hosts.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
]

/**
 * One browser for the enclosing file or `describe`, launched before its tests and closed after them;
 * `args` adds command-line switches (`--host-resolver-rules=…` to give loopback servers host names).
 */
export function useBrowser(args: readonly string[] = []): { readonly browser: Browser } {
  let browser: Browser | undefined
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, ...args], headless: true })
  })
  afterAll(async () => {
    await browser?.close()
  })
  return {
    get browser(): Browser {
      if (browser === undefined) throw new Error('the browser is not running')
      return browser
    },
  }
}

/** The requests a context sent to paths ending with `suffix` (counted as they start). */
export function countRequests(
  context: BrowserContext,
  suffix: string,
): { readonly count: number; readonly at: readonly number[] } {
  const at: number[] = []
  context.on('request', (request) => {
    if (new URL(request.url()).pathname.endsWith(suffix)) at.push(Date.now())
  })
  return {
    get count(): number {
      return at.length
    },
    at,
  }
}

/** Errors thrown by a page's scripts (an empty list at the end of a test means a clean console). */
export function pageErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(error.message))
  return errors
}
