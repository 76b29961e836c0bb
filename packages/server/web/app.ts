/**
 * The demo page: sign in or create an account, see who you are, call the protected resources, watch the
 * access token refresh, and manage your sessions. Plain DOM code over `tessera/client`.
 */
import { createClient, TesseraHttpError, type ClientEvent, type TesseraClient } from 'tessera/client'

interface Me {
  id: number
  username: string
  roles: string[]
  session_id: string | null
}

interface SessionRow {
  id: string
  created_at: string
  last_used_at: string
  expires_at: string
  user_agent: string | null
  ip: string | null
  current: boolean
}

const transport = document.querySelector<HTMLMetaElement>('meta[name="tessera-transport"]')?.content
const mode = transport === 'header' ? 'header' : 'cookie'
const client: TesseraClient = createClient({ mode })

function el(id: string): HTMLElement
function el<T extends HTMLElement>(id: string, type: new () => T): T
function el(id: string, type: new () => HTMLElement = HTMLElement): HTMLElement {
  const found = document.getElementById(id)
  if (!(found instanceof type)) throw new Error(`#${id} is missing`)
  return found
}

const ui = {
  signedOut: el('signed-out'),
  signedIn: el('signed-in'),
  loading: el('loading'),
  banner: el('banner'),
  form: el('auth-form', HTMLFormElement),
  username: el('username', HTMLInputElement),
  password: el('password', HTMLInputElement),
  login: el('login', HTMLButtonElement),
  register: el('register', HTMLButtonElement),
  authError: el('auth-error'),
  me: el('me'),
  meUsername: el('me-username'),
  meId: el('me-id'),
  meRoles: el('me-roles'),
  meSession: el('me-session'),
  meState: el('me-state'),
  logout: el('logout', HTMLButtonElement),
  logoutAll: el('logout-all', HTMLButtonElement),
  tokenState: el('token-state'),
  refreshCount: el('refresh-count'),
  events: el('events'),
  callProtected: el('call-protected', HTMLButtonElement),
  callSecret: el('call-secret', HTMLButtonElement),
  apiResult: el('api-result'),
  sessions: el('sessions'),
  sessionsError: el('sessions-error'),
  sessionsReload: el('sessions-reload', HTMLButtonElement),
}

let refreshes = 0

// What end users read: plain sentences, never status numbers or error codes (those stay in the
// "Protected resources" card, which shows raw answers on purpose, and in the console).
const FRIENDLY: Readonly<Record<string, string>> = {
  invalid_credentials: 'Wrong username or password.',
  username_taken: 'That username is taken. Sign in instead, or choose another one.',
  rate_limited: 'Too many attempts. Wait a minute, then try again.',
  account_disabled: 'This account is disabled.',
  validation_error: 'Check the username and password, then try again.',
  csrf_missing: 'This page lost its security token. Reload the page and try again.',
  csrf_mismatch: 'This page lost its security token. Reload the page and try again.',
  csrf_origin_rejected: 'The request came from another site and was refused.',
  service_unavailable: 'The server is busy. Try again in a moment.',
}

function describe(error: unknown): string {
  if (error instanceof TesseraHttpError) {
    console.warn(`${String(error.status)} ${error.code}: ${error.message}`)
    const friendly = FRIENDLY[error.code]
    if (friendly !== undefined) return friendly
    if (error.status === 401) return 'Your session has ended. Sign in again.'
    if (error.status >= 500) return 'Something went wrong on the server. Try again in a moment.'
    return error.message
  }
  if (error instanceof Error) return 'Could not reach the server. Check your connection and try again.'
  return String(error)
}

function show(message: string | undefined, kind: 'info' | 'error' = 'info'): void {
  ui.banner.hidden = message === undefined
  ui.banner.textContent = message ?? ''
  ui.banner.className = kind === 'error' ? 'notice error' : 'notice'
}

/** Runs `task` with `button` disabled and relabelled, and the label restored afterwards. */
async function busy<T>(button: HTMLButtonElement, label: string, task: () => Promise<T>): Promise<T> {
  const original = button.textContent
  button.disabled = true
  button.setAttribute('aria-busy', 'true')
  button.textContent = label
  try {
    return await task()
  } finally {
    button.disabled = false
    button.removeAttribute('aria-busy')
    button.textContent = original
  }
}

function time(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
}

/** "just now", "42 s ago", "5 min ago", or the time of day for older instants. */
function ago(at: number): string {
  const seconds = Math.max(0, Math.round((Date.now() - at) / 1000))
  if (seconds < 5) return 'just now'
  if (seconds < 60) return `${String(seconds)} s ago`
  if (seconds < 3600) return `${String(Math.floor(seconds / 60))} min ago`
  return time(at)
}

/** Re-renders every relative time on the page ("Last used"), from the instant each element keeps. */
function renderAges(): void {
  for (const node of document.querySelectorAll<HTMLElement>('[data-at]')) {
    const text = ago(Number(node.dataset.at))
    if (node.textContent !== text) node.textContent = text
  }
}

function logEvent(text: string): void {
  const item = document.createElement('li')
  const stamp = document.createElement('time')
  stamp.textContent = time(Date.now())
  const body = document.createElement('span')
  body.textContent = text
  item.append(stamp, body)
  ui.events.prepend(item)
  while (ui.events.children.length > 20) ui.events.lastElementChild?.remove()
}

function renderToken(): void {
  const at = client.expiresAt
  if (at === undefined) {
    ui.tokenState.textContent = 'valid'
    ui.tokenState.className = 'pill ok'
    return
  }
  const left = Math.round((at - Date.now()) / 1000)
  const span = left >= 120 ? `${Math.floor(left / 60)} min` : `${left} s`
  ui.tokenState.textContent = left > 0 ? `expires in ${span}` : 'expired: refreshes on the next call'
  ui.tokenState.className = left > 0 ? 'pill ok' : 'pill busy'
}

function setView(view: 'loading' | 'signed-in' | 'signed-out'): void {
  ui.loading.hidden = view !== 'loading'
  ui.signedIn.hidden = view !== 'signed-in'
  ui.signedOut.hidden = view !== 'signed-out'
  document.body.dataset.view = view
}

function signedOut(message?: string): void {
  setView('signed-out')
  ui.sessions.replaceChildren()
  if (message !== undefined) show(message)
  ui.username.focus()
}

async function loadMe(): Promise<void> {
  ui.me.setAttribute('aria-busy', 'true')
  const me = await client.json<Me>('/auth/me')
  ui.meUsername.textContent = me.username
  ui.meId.textContent = String(me.id)
  ui.meRoles.textContent = me.roles.length > 0 ? me.roles.join(', ') : 'none'
  ui.meSession.textContent = me.session_id ?? '—'
  ui.me.setAttribute('aria-busy', 'false')
}

function device(agent: string | null): string {
  if (agent === null || agent === '') return 'Unknown client'
  const browser =
    /(Edg|OPR|Firefox|HeadlessChrome|Chrome|Safari)\/(\d+)/.exec(agent) ??
    /^([\w.-]+)\/([\d.]+)/.exec(agent) ??
    undefined
  const os = /(Windows|Mac OS X|Android|iPhone|Linux)/.exec(agent)?.[1]
  const name = browser === undefined ? agent.slice(0, 40) : `${browser[1] ?? ''} ${browser[2] ?? ''}`
  return os === undefined ? name : `${name} on ${os}`
}

async function loadSessions(): Promise<void> {
  ui.sessionsError.hidden = true
  ui.sessions.setAttribute('aria-busy', 'true')
  try {
    const { sessions } = await client.json<{ sessions: SessionRow[] }>('/auth/sessions')
    const rows = sessions
      .slice()
      .sort((a, b) => Number(b.current) - Number(a.current) || b.last_used_at.localeCompare(a.last_used_at))
      .map(sessionRow)
    ui.sessions.replaceChildren(...rows)
  } catch (error) {
    ui.sessionsError.textContent = describe(error)
    ui.sessionsError.hidden = false
  } finally {
    ui.sessions.setAttribute('aria-busy', 'false')
  }
}

function lastUsed(iso: string): HTMLTableCellElement {
  const td = cell(ago(Date.parse(iso)), iso)
  td.dataset.at = String(Date.parse(iso))
  return td
}

function cell(text: string, title?: string): HTMLTableCellElement {
  const td = document.createElement('td')
  td.textContent = text
  if (title !== undefined) td.title = title
  return td
}

function sessionRow(session: SessionRow): HTMLTableRowElement {
  const tr = document.createElement('tr')
  tr.dataset.sessionId = session.id
  const first = cell('', session.user_agent ?? '')
  const name = document.createElement('span')
  name.className = 'device'
  name.textContent = device(session.user_agent)
  first.append(name)
  if (session.current) {
    tr.className = 'current-session'
    tr.setAttribute('aria-current', 'true')
    const badge = document.createElement('span')
    badge.className = 'pill ok current'
    badge.textContent = 'this browser'
    first.append(badge)
  }
  const action = document.createElement('td')
  const button = document.createElement('button')
  button.type = 'button'
  button.className = session.current ? 'small danger strong' : 'small danger'
  const label = session.current ? 'Sign out here' : 'Sign out'
  button.textContent = label
  button.setAttribute(
    'aria-label',
    session.current
      ? 'Sign out this browser'
      : `Sign out session ${device(session.user_agent)} from ${session.ip ?? '?'}`,
  )
  let confirmTimer: ReturnType<typeof setTimeout> | undefined
  button.addEventListener('click', () => {
    // Ending this browser's own session signs you out here: ask once more, in place.
    if (session.current && button.dataset.confirm !== 'true') {
      button.dataset.confirm = 'true'
      button.textContent = 'Confirm sign out'
      button.setAttribute('aria-label', 'Confirm: sign out this browser')
      confirmTimer = setTimeout(() => {
        delete button.dataset.confirm
        button.textContent = label
        button.setAttribute('aria-label', 'Sign out this browser')
      }, 5000)
      return
    }
    clearTimeout(confirmTimer)
    void busy(button, 'Signing out…', async () => {
      try {
        await client.json(`/auth/sessions/${encodeURIComponent(session.id)}`, { method: 'DELETE' })
        logEvent(session.current ? 'This session was ended' : 'Another session was ended')
        if (session.current) {
          await client.logout().catch(() => undefined)
          signedOut('You ended this browser’s session.')
          return
        }
        await loadSessions()
      } catch (error) {
        ui.sessionsError.textContent = describe(error)
        ui.sessionsError.hidden = false
      }
    })
  })
  action.append(button)
  tr.append(
    first,
    cell(session.ip ?? '—'),
    cell(time(Date.parse(session.created_at)), session.created_at),
    lastUsed(session.last_used_at),
    action,
  )
  return tr
}

async function enter(): Promise<void> {
  show(undefined)
  setView('signed-in')
  renderToken()
  await Promise.all([loadMe(), loadSessions()])
}

async function authenticate(kind: 'login' | 'register'): Promise<void> {
  const username = ui.username.value.trim()
  const password = ui.password.value
  ui.authError.hidden = true
  // Only new passwords must meet the policy (the server says why one is refused: weak_password);
  // a sign-in never judges the password, so accounts older than the policy still get in.
  if (username === '' || password === '' || (kind === 'register' && password.length < 8)) {
    ui.authError.textContent =
      username === ''
        ? 'Enter a username.'
        : password === ''
          ? 'Enter a password.'
          : 'A new password needs at least 8 characters.'
    ui.authError.hidden = false
    ;(username === '' ? ui.username : ui.password).focus()
    return
  }
  const button = kind === 'login' ? ui.login : ui.register
  await busy(button, kind === 'login' ? 'Signing in…' : 'Creating…', async () => {
    try {
      const result =
        kind === 'login' ? await client.login(username, password) : await client.register(username, password)
      ui.password.value = ''
      logEvent(`${kind === 'login' ? 'Signed in' : 'Account created'} as ${result.user.username}`)
      await enter()
    } catch (error) {
      ui.authError.textContent = describe(error)
      ui.authError.hidden = false
      ui.password.focus()
    }
  })
}

async function call(path: string, button: HTMLButtonElement): Promise<void> {
  await busy(button, 'Calling…', async () => {
    ui.apiResult.className = 'result'
    ui.apiResult.textContent = `GET ${path} …`
    try {
      const response = await client.fetch(path)
      const text = await response.text()
      ui.apiResult.className = response.ok ? 'result ok' : 'result bad'
      ui.apiResult.textContent = `${response.status} ${text}`
    } catch (error) {
      ui.apiResult.className = 'result bad'
      ui.apiResult.textContent = describe(error)
    }
  })
}

function onClientEvent(event: ClientEvent): void {
  switch (event.type) {
    case 'refresh':
      refreshes += 1
      ui.refreshCount.textContent = String(refreshes)
      logEvent(
        event.source === 'this-tab'
          ? 'Access token refreshed silently'
          : 'Access token refreshed by another tab (reused here)',
      )
      renderToken()
      return
    case 'logout':
      if (event.reason === 'other-tab') {
        logEvent('Signed out in another tab')
        signedOut('You signed out in another tab. Sign in again.')
      } else if (event.reason === 'session-ended') {
        logEvent('The session ended')
        signedOut('Your session ended: you signed out in another tab, or it was revoked. Sign in again.')
      }
      return
    case 'login':
      return
  }
}

function wire(): void {
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault()
    void authenticate('login')
  })
  ui.register.addEventListener('click', () => void authenticate('register'))
  ui.logout.addEventListener('click', () => {
    void busy(ui.logout, 'Signing out…', async () => {
      await client.logout().catch(() => undefined)
      signedOut('You are signed out.')
    })
  })
  ui.logoutAll.addEventListener('click', () => {
    void busy(ui.logoutAll, 'Signing out…', async () => {
      await client.logoutAll().catch(() => undefined)
      signedOut('Every session of your account was ended.')
    })
  })
  ui.callProtected.addEventListener('click', () => void call('/protected', ui.callProtected))
  ui.callSecret.addEventListener('click', () => void call('/secret', ui.callSecret))
  ui.sessionsReload.addEventListener('click', () => {
    void busy(ui.sessionsReload, 'Loading…', loadSessions)
  })
  client.subscribe(onClientEvent)
  let ticks = 0
  setInterval(() => {
    if (ui.signedIn.hidden) return
    renderToken()
    renderAges()
    // Other devices use their sessions too: reload the list now and then, while the page is visible.
    ticks += 1
    if (ticks % 30 === 0 && document.visibilityState === 'visible') void loadSessions()
  }, 1000)
}

async function start(): Promise<void> {
  if (mode === 'header') {
    el('mode-hint').hidden = false
    const note = el('token-title').parentElement?.nextElementSibling
    if (note !== null && note !== undefined) {
      note.textContent =
        'Short-lived and kept in this tab’s memory only. When it expires, the client refreshes it silently and retries the call.'
    }
  }
  wire()
  setView('loading')
  // Cookie mode: a session from an earlier visit is still in the cookies.
  if (mode === 'cookie' && client.maybeAuthenticated) {
    try {
      await enter()
      return
    } catch (error) {
      if (!(error instanceof TesseraHttpError && error.status === 401)) show(describe(error), 'error')
    }
  }
  signedOut()
}

// For the end-to-end tests and the curious: the client of this page.
;(window as unknown as { tessera: TesseraClient }).tessera = client
void start()
