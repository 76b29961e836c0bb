// The demo page and `tessera/client` in a real headless Chromium against a cookie-mode server with 3-second
// access tokens: login through the page, HttpOnly JWT and readable CSRF cookies, CSRF refusal, silent
// refresh, single-flight refresh across tabs (Web Locks, and the BroadcastChannel fallback), logout across
// tabs, and revoking a session from the list.
import { mkdir, writeFile } from 'node:fs/promises'
import type { BrowserContext, Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { cookieJar, PASSWORD, uniqueName, useServer, type E2EServer } from '../helpers/server-harness.js'
import { chromiumAvailable, countRequests, pageErrors, useBrowser } from './browser.js'

const TTL = 3

// The page's globals that the callbacks of page.evaluate read (this file compiles without the DOM lib;
// the casts vanish when the callbacks are serialised into the page).
interface PageGlobals {
  document: {
    cookie: string
    querySelector(selector: string): { textContent: string | null } | null
    documentElement: { scrollWidth: number; clientWidth: number }
  }
  navigator: { locks?: unknown }
  Navigator: { prototype: object }
  localStorage: { length: number }
  sessionStorage: { length: number }
}

// The screenshot in docs/ is rewritten only on request, so that a test run leaves the tree clean.
const SCREENSHOT = process.env.TESSERA_UPDATE_SCREENSHOT === '1' ? 'docs/demo.png' : undefined
// Layout screenshots of every run, for a person to look at (git-ignored).
const LAYOUT_SHOTS = 'test/browser/.screenshots'

/** Opens the demo page and waits for it to settle on a view. */
async function open(context: BrowserContext, server: E2EServer): Promise<Page> {
  const page = await context.newPage()
  await page.goto(`${server.url}/`)
  await page.waitForSelector('body[data-view="signed-in"], body[data-view="signed-out"]')
  return page
}

/** Fills the form and signs in (or creates the account), then waits for the identity. */
async function signIn(page: Page, username: string, how: 'login' | 'register' = 'login'): Promise<void> {
  await page.fill('#username', username)
  await page.fill('#password', PASSWORD)
  await page.click(how === 'login' ? '#login' : '#register')
  await page.waitForSelector('body[data-view="signed-in"]')
  await expect.poll(() => page.textContent('#me-username')).toBe(username)
}

/** Waits until the access token's cookies expired (the CSRF twin has the same Max-Age). */
async function waitForAccessExpiry(page: Page): Promise<void> {
  await page.waitForFunction(
    () => !(globalThis as unknown as PageGlobals).document.cookie.includes('csrf_access_token='),
    undefined,
    {
      polling: 100,
      timeout: (TTL + 5) * 1000,
    },
  )
}

/** Clicks a resource button and returns what the page shows for the answer. */
async function call(page: Page, which: 'protected' | 'secret'): Promise<string> {
  await page.click(`#call-${which}`)
  await page.waitForFunction(
    () =>
      !(globalThis as unknown as PageGlobals).document
        .querySelector('#api-result')
        ?.textContent?.endsWith('…'),
  )
  return (await page.textContent('#api-result')) ?? ''
}

describe.skipIf(!chromiumAvailable)('the demo page in Chromium (cookie mode)', () => {
  const server = useServer({ tokenTransport: 'cookie', accessTokenTtl: TTL, refreshGraceSeconds: 0 })
  const chromium = useBrowser()

  it('creates an account and signs in through the page, and shows the identity and the session', async () => {
    const context = await chromium.browser.newContext()
    const page = await open(context, server)
    const errors = pageErrors(page)
    expect(await page.getAttribute('body', 'data-view')).toBe('signed-out')
    expect(await page.isHidden('#mode-hint')).toBe(true)

    const username = uniqueName('page')
    await signIn(page, username, 'register')
    expect(await page.textContent('#me-roles')).toBe('none')
    await expect.poll(() => page.locator('#sessions tr').count()).toBe(1)
    expect(await page.textContent('#sessions tr')).toContain('this browser')

    // A reload keeps the session: it lives in the cookies, not in the page.
    await page.reload()
    await page.waitForSelector('body[data-view="signed-in"]')
    await expect.poll(() => page.textContent('#me-username')).toBe(username)

    // Signing in again with the same form works, and a wrong password is shown as an error.
    await page.click('#logout')
    await page.waitForSelector('body[data-view="signed-out"]')
    await page.fill('#username', username)
    await page.fill('#password', 'wrong password!')
    await page.press('#password', 'Enter')
    await page.waitForSelector('#auth-error:not([hidden])')
    // End users read a sentence, never the status and code.
    const shown = (await page.textContent('#auth-error')) ?? ''
    expect(shown).toBe('Wrong username or password.')
    expect(shown).not.toMatch(/invalid_credentials|401/)
    // A weak new password is refused with the server's reason (issue 15), and nothing is created.
    await page.fill('#username', uniqueName('weak'))
    await page.fill('#password', 'password1')
    await page.click('#register')
    await expect.poll(() => page.textContent('#auth-error')).toContain('common')
    expect(await page.textContent('#auth-error')).not.toContain('password1')
    await signIn(page, username)
    expect(errors).toEqual([])
    await context.close()
  })

  it('keeps the JWT cookies HttpOnly (unreadable by the page) and the CSRF cookies readable', async () => {
    const context = await chromium.browser.newContext()
    const page = await open(context, server)
    await signIn(page, uniqueName('cookies'), 'register')

    const visible = await page.evaluate(() => (globalThis as unknown as PageGlobals).document.cookie)
    expect(visible).toContain('csrf_access_token=')
    expect(visible).toContain('csrf_refresh_token=')
    expect(visible).not.toContain('access_token_cookie')
    expect(visible).not.toContain('refresh_token_cookie')

    const cookies = await context.cookies()
    const byName = new Map(cookies.map((c) => [c.name, c]))
    expect(byName.get('access_token_cookie')?.httpOnly).toBe(true)
    expect(byName.get('refresh_token_cookie')?.httpOnly).toBe(true)
    expect(byName.get('refresh_token_cookie')?.path).toBe('/auth')
    expect(byName.get('csrf_access_token')?.httpOnly).toBe(false)
    await context.close()
  })

  it('refuses a POST that carries the cookies but not the X-CSRF-TOKEN header (401 csrf_missing)', async () => {
    const context = await chromium.browser.newContext()
    const page = await open(context, server)
    await signIn(page, uniqueName('csrf'), 'register')

    // What a forged request can do: the browser attaches the cookies, but the page cannot add the header.
    const forged = await page.evaluate(async () => {
      const response = await fetch('/auth/logout-all', { method: 'POST', credentials: 'include' })
      return { status: response.status, body: (await response.json()) as { error?: string } }
    })
    expect({ status: forged.status, error: forged.body.error }).toEqual({
      status: 401,
      error: 'csrf_missing',
    })

    // The session lives on.
    expect(await call(page, 'protected')).toMatch(/^200 .*logged_in_as/)
    await context.close()
  })

  it('keeps working after the access token expires, through one silent refresh', async () => {
    const context = await chromium.browser.newContext()
    const refreshes = countRequests(context, '/auth/refresh')
    const page = await open(context, server)
    const errors = pageErrors(page)
    const username = uniqueName('silent')
    await signIn(page, username, 'register')
    expect(await call(page, 'protected')).toContain(`"logged_in_as":"${username}"`)
    expect(refreshes.count).toBe(0)

    await waitForAccessExpiry(page)
    expect(await call(page, 'secret')).toBe('200 {"answer":42}')
    expect(refreshes.count).toBe(1)
    expect(await page.textContent('#refresh-count')).toBe('1')
    expect(await page.textContent('#events')).toContain('Access token refreshed silently')
    expect(await page.textContent('#token-state')).toMatch(/expires in \d s/)
    expect(errors).toEqual([])
    await context.close()
  })

  for (const fallback of [false, true]) {
    const how = fallback ? 'the BroadcastChannel fallback (no Web Locks)' : 'Web Locks'
    it(`sends ONE refresh when two tabs need it at the same moment, and both stay signed in (${how})`, async () => {
      const context = await chromium.browser.newContext()
      if (fallback) {
        await context.addInitScript(() => {
          Object.defineProperty((globalThis as unknown as PageGlobals).Navigator.prototype, 'locks', {
            get: () => undefined,
            configurable: true,
          })
        })
      }
      const refreshes = countRequests(context, '/auth/refresh')
      const first = await open(context, server)
      const username = uniqueName('tabs')
      await signIn(first, username, 'register')
      const second = await open(context, server)
      await expect.poll(() => second.textContent('#me-username')).toBe(username)
      if (fallback)
        expect(
          await second.evaluate(() => (globalThis as unknown as PageGlobals).navigator.locks === undefined),
        ).toBe(true)

      await waitForAccessExpiry(first)
      const answers = await Promise.all([call(first, 'protected'), call(second, 'protected')])
      for (const answer of answers) expect(answer).toContain(`"logged_in_as":"${username}"`)
      expect(refreshes.count).toBe(1)

      // Both tabs go on working with the one new access token (a second refresh with the spent token
      // would have revoked the session: the grace window is 0 here).
      const again = await Promise.all([call(first, 'secret'), call(second, 'secret')])
      expect(again).toEqual(['200 {"answer":42}', '200 {"answer":42}'])
      // A second refresh is only the new token running out in its turn (its TTL is 3 s, and a slow
      // machine can take that long): a second refresh of the same moment would come milliseconds after.
      expect(refreshes.count).toBeLessThanOrEqual(2)
      const [firstAt = 0, secondAt] = refreshes.at
      if (secondAt !== undefined) expect(secondAt - firstAt).toBeGreaterThan(1_000)
      // One tab refreshed; the other reused its result (which one wins the lock is up to the browser).
      const logs = [await first.textContent('#events'), await second.textContent('#events')].join('\n')
      expect(logs).toContain('Access token refreshed silently')
      expect(logs).toContain('refreshed by another tab')
      await context.close()
    })
  }

  it('signs the other tab out at once after a logout in one tab (BroadcastChannel)', async () => {
    const context = await chromium.browser.newContext()
    const first = await open(context, server)
    const username = uniqueName('logout')
    await signIn(first, username, 'register')
    const second = await open(context, server)
    await expect.poll(() => second.textContent('#me-username')).toBe(username)
    const calls = countRequests(context, '/protected')

    await first.click('#logout')
    await first.waitForSelector('body[data-view="signed-out"]')
    // Told by the other tab, not by a refused call: the second tab sent nothing.
    await second.waitForSelector('body[data-view="signed-out"]')
    expect(await second.textContent('#banner')).toContain('You signed out in another tab')
    expect(calls.count).toBe(0)
    await context.close()
  })

  it('signs a tab out on its next call when its session was ended elsewhere', async () => {
    const context = await chromium.browser.newContext()
    const page = await open(context, server)
    const username = uniqueName('ended')
    await signIn(page, username, 'register')
    // Another device ends every session of the user: no tab of this browser hears of it.
    const other = cookieJar(
      await server.api('POST', '/auth/login', { body: { username, password: PASSWORD } }),
    )
    const ended = await server.api('POST', '/auth/logout-all', {
      cookies: other,
      headers: { 'x-csrf-token': other.csrf_access_token ?? '' },
    })
    expect(ended.status, ended.text).toBe(204)
    expect(await page.getAttribute('body', 'data-view')).toBe('signed-in')

    await page.click('#call-protected')
    await page.waitForSelector('body[data-view="signed-out"]')
    expect(await page.textContent('#banner')).toContain('Your session ended')
    await context.close()
  })

  it('lays out at 390 px and 1280 px without horizontal overflow, the expired badge inside its card', async () => {
    const context = await chromium.browser.newContext({ viewport: { width: 1280, height: 900 } })
    const page = await open(context, server)
    const errors = pageErrors(page)
    const username = uniqueName('layout')
    await signIn(page, username, 'register')
    // A second session with a long user agent, and the longest badge text: the token has expired.
    const agent =
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
    const other = await server.api('POST', '/auth/login', {
      body: { username, password: PASSWORD },
      headers: { 'user-agent': agent },
    })
    expect(other.status).toBe(200)
    await page.click('#sessions-reload')
    await expect.poll(() => page.locator('#sessions tr').count()).toBe(2)
    await waitForAccessExpiry(page)
    await expect.poll(() => page.textContent('#token-state')).toBe('expired: refreshes on the next call')
    await mkdir(LAYOUT_SHOTS, { recursive: true })
    for (const width of [390, 1280]) {
      await page.setViewportSize({ width, height: 900 })
      const overflow = await page.evaluate(() => {
        const root = (globalThis as unknown as PageGlobals).document.documentElement
        return root.scrollWidth - root.clientWidth
      })
      // The sessions table fits its card too (it would scroll inside it otherwise).
      const table = await page.$eval('.table-wrap', (wrap) => {
        const box = wrap as unknown as { scrollWidth: number; clientWidth: number }
        return box.scrollWidth - box.clientWidth
      })
      await writeFile(`${LAYOUT_SHOTS}/demo-${String(width)}.png`, await page.screenshot({ fullPage: true }))
      expect({ width, overflow, table }).toEqual({ width, overflow: 0, table: 0 })
      const badge = await page.locator('#token-state').boundingBox()
      const card = await page.locator('section[aria-labelledby="token-title"]').boundingBox()
      const heading = await page.locator('#token-title').boundingBox()
      expect(badge !== null && card !== null && heading !== null).toBe(true)
      if (badge === null || card === null || heading === null) return
      expect({ width, inside: badge.x >= card.x && badge.x + badge.width <= card.x + card.width }).toEqual({
        width,
        inside: true,
      })
      // The heading keeps its one line (it is not squeezed by the badge).
      expect({ width, headingHeight: Math.round(heading.height) <= 24 }).toEqual({
        width,
        headingHeight: true,
      })
    }
    expect(errors).toEqual([])
    await context.close()
  })

  it('marks the current session, asks to confirm its Sign out, and keeps "Last used" current', async () => {
    const context = await chromium.browser.newContext()
    const page = await open(context, server)
    await signIn(page, uniqueName('current'), 'register')
    await expect.poll(() => page.locator('#sessions tr').count()).toBe(1)
    const row = page.locator('#sessions tr.current-session')
    expect(await row.getAttribute('aria-current')).toBe('true')
    expect(await row.textContent()).toContain('this browser')
    // "Last used" is relative and moves by itself, without a reload.
    const lastUsed = row.locator('td[data-at]')
    const first = await lastUsed.textContent()
    await expect.poll(() => lastUsed.textContent(), { timeout: 15_000 }).not.toBe(first)
    // The first click only asks; the page is still signed in.
    const button = row.locator('button')
    await button.click()
    expect(await button.textContent()).toBe('Confirm sign out')
    expect(await page.getAttribute('body', 'data-view')).toBe('signed-in')
    await button.click()
    await page.waitForSelector('body[data-view="signed-out"]')
    await context.close()
  })

  it('ends a session revoked from the list, and "sign out everywhere" ends them all', async () => {
    const context = await chromium.browser.newContext({ viewport: { width: 1200, height: 640 } })
    const page = await open(context, server)
    const username = uniqueName('revoke')
    await signIn(page, username, 'register')

    // A second session of the same user, from another client (a script with its own cookies).
    const other = await server.api('POST', '/auth/login', {
      body: { username, password: PASSWORD },
      headers: { 'user-agent': 'curl/8.5.0' },
    })
    expect(other.status, other.text).toBe(200)
    const otherCookies = Object.fromEntries(other.cookies.map((c) => [c.name, c.value]))
    expect((await server.api('GET', '/auth/me', { cookies: otherCookies })).status).toBe(200)

    await page.click('#sessions-reload')
    await expect.poll(() => page.locator('#sessions tr').count()).toBe(2)
    const otherRow = page.locator(`#sessions tr[data-session-id="${String(other.body.session_id)}"]`)
    expect(await otherRow.textContent()).toContain('curl 8.5.0')

    if (SCREENSHOT !== undefined) {
      // The picture in the README: after a silent refresh, with a resource called.
      await waitForAccessExpiry(page)
      expect(await call(page, 'protected')).toMatch(/^200 /)
      await page.mouse.move(0, 0)
      await writeFile(SCREENSHOT, await page.screenshot({ fullPage: true }))
    }

    await otherRow.locator('button').click()
    await expect.poll(() => page.locator('#sessions tr').count()).toBe(1)
    // Both of its tokens stopped working at once.
    expect((await server.api('GET', '/auth/me', { cookies: otherCookies })).status).toBe(401)
    const refresh = await server.api('POST', '/auth/refresh', {
      cookies: otherCookies,
      headers: { 'x-csrf-token': otherCookies.csrf_refresh_token ?? '' },
    })
    expect({ status: refresh.status, error: refresh.body.error }).toEqual({
      status: 401,
      error: 'token_revoked',
    })
    expect(await call(page, 'protected')).toMatch(/^200 /)

    // Sign out everywhere: this browser too.
    const third = await server.api('POST', '/auth/login', { body: { username, password: PASSWORD } })
    const thirdCookies = Object.fromEntries(third.cookies.map((c) => [c.name, c.value]))
    await page.click('#logout-all')
    await page.waitForSelector('body[data-view="signed-out"]')
    expect((await server.api('GET', '/auth/me', { cookies: thirdCookies })).status).toBe(401)
    await context.close()
  })
})

describe.skipIf(!chromiumAvailable)('the demo page in Chromium (header mode)', () => {
  const server = useServer({ tokenTransport: 'header', accessTokenTtl: TTL })
  const chromium = useBrowser()

  it('shows the cookie-mode hint, and works with the tokens in memory only', async () => {
    const context = await chromium.browser.newContext()
    const page = await open(context, server)
    expect(await page.isVisible('#mode-hint')).toBe(true)
    expect(await page.textContent('#mode-hint')).toContain('TESSERA_TOKEN_TRANSPORT=cookie')

    const username = uniqueName('header')
    await signIn(page, username, 'register')
    await page.waitForTimeout(TTL * 1000 + 200)
    expect(await call(page, 'protected')).toContain(`"logged_in_as":"${username}"`)
    expect(await page.textContent('#refresh-count')).toBe('1')

    // Nothing was stored: no cookie, no Web Storage.
    const stored = await page.evaluate(() => {
      const g = globalThis as unknown as PageGlobals
      return { cookie: g.document.cookie, local: g.localStorage.length, session: g.sessionStorage.length }
    })
    expect(stored).toEqual({ cookie: '', local: 0, session: 0 })
    await context.close()
  })
})
