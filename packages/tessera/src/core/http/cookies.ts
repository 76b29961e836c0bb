/**
 * JWT and CSRF cookies: the options, their secure defaults, `Set-Cookie` serialisation (RFC 6265 §4.1)
 * and reading one cookie from a `Cookie` header without parsing the rest.
 */
import { ConfigurationError } from '../errors.js'
import { parseDuration, type Duration } from '../duration.js'
import { decodeUnverified } from '../jws.js'
import type { TokenType } from '../types.js'
import type { ResolvedCsrfOptions } from './options.js'
import { cookiePath, name, optionalStr, section, bool } from '../validate.js'

/** JWT cookie settings. */
export interface CookieOptions {
  /** Access token cookie (HttpOnly). @default 'access_token_cookie' */
  accessName?: string | undefined
  /** Refresh token cookie (HttpOnly). @default 'refresh_token_cookie' */
  refreshName?: string | undefined
  /** Path of the access token cookie. @default '/' */
  accessPath?: string | undefined
  /** Path of the refresh token cookie: only the refresh route needs it. @default '/auth/refresh' */
  refreshPath?: string | undefined
  /** `Domain` attribute; unset means host-only. */
  domain?: string | undefined
  /** `Secure` attribute; `'auto'` sets it unless the request is plain http to localhost. @default 'auto' */
  secure?: boolean | 'auto' | undefined
  /**
   * `SameSite` attribute, in any capitalisation (`'lax'` as Express and werkzeug take it), written
   * capitalised; `false` leaves it out. `'None'` requires `secure: true`. @default 'Lax'
   */
  sameSite?: SameSite | Lowercase<SameSite> | false | undefined
  /** Session cookies (no `Max-Age`) instead of cookies that expire with their token. @default false */
  session?: boolean | undefined
}

/** Cookie options after validation. */
export interface ResolvedCookieOptions {
  readonly accessName: string
  readonly refreshName: string
  readonly accessPath: string
  readonly refreshPath: string
  readonly domain: string | undefined
  readonly secure: boolean | 'auto'
  readonly sameSite: SameSite | undefined
  readonly session: boolean
}

/** A `SameSite` value as written in `Set-Cookie` (RFC 6265bis §4.1.2.7). */
type SameSite = 'Strict' | 'Lax' | 'None'

// Each value by its lower-case spelling: werkzeug's `samesite.title()`, so `'lax'` and `'LAX'` are `Lax`.
const SAME_SITE: ReadonlyMap<string, SameSite> = new Map([
  ['strict', 'Strict'],
  ['lax', 'Lax'],
  ['none', 'None'],
])

/** The option names of {@link CookieOptions}. */
export const COOKIE_OPTIONS = Object.freeze([
  'accessName',
  'refreshName',
  'accessPath',
  'refreshPath',
  'domain',
  'secure',
  'sameSite',
  'session',
] as const)

/**
 * Per-call options of the cookie setters (`set_access_cookies(response, token, max_age=…, domain=…)`).
 */
export interface SetCookieOptions {
  /**
   * `Max-Age` of both cookies, instead of the token's remaining lifetime (or none with `cookies.session`).
   * Seconds or a duration string (`'30d'`).
   */
  maxAge?: Duration | undefined
  /** `Domain` of both cookies instead of `cookies.domain`. */
  domain?: string | undefined
}

/** Per-call options of the cookie removers (`unset_jwt_cookies(response, domain=…)`). */
export interface UnsetCookieOptions {
  /** `Domain` of the cookies to delete, when they were set with a per-call domain. */
  domain?: string | undefined
}

/** Per-call cookie options after validation. */
export interface ResolvedSetCookieOptions {
  readonly maxAge: number | undefined
  readonly domain: string | undefined
}

const NO_CALL_OPTIONS: ResolvedSetCookieOptions = Object.freeze({ maxAge: undefined, domain: undefined })

/** Validates a setter's (or, without `maxAge`, a remover's) per-call options; `fn` names it in messages. */
export function resolveSetCookieOptions(
  value: unknown,
  fn: string,
  allowMaxAge: boolean,
): ResolvedSetCookieOptions {
  if (value === undefined) return NO_CALL_OPTIONS
  const c = section(value, fn, allowMaxAge ? ['maxAge', 'domain'] : ['domain'])
  return Object.freeze({
    maxAge: c.maxAge === undefined ? undefined : parseDuration(c.maxAge, `${fn}.maxAge`),
    domain: cookieDomain(c.domain, `${fn}.domain`),
  })
}

function cookieDomain(value: unknown, path: string): string | undefined {
  const domain = optionalStr(value, path)
  if (domain !== undefined && !/^\.?[A-Za-z0-9.-]+$/.test(domain)) {
    throw new ConfigurationError(path, `${JSON.stringify(domain)} is not a domain name`)
  }
  return domain
}

/** Validates cookie options. Refuses `SameSite=None` without `secure: true` (browsers drop such cookies). */
export function resolveCookieOptions(value: unknown): ResolvedCookieOptions {
  const c = section(value, 'cookies', COOKIE_OPTIONS)
  const secure = c.secure ?? 'auto'
  if (secure !== 'auto' && typeof secure !== 'boolean') {
    throw new ConfigurationError('cookies.secure', 'must be true, false or "auto"')
  }
  const given = c.sameSite ?? 'Lax'
  const sameSite =
    given === false ? false : typeof given === 'string' ? SAME_SITE.get(given.toLowerCase()) : undefined
  if (sameSite === undefined) {
    const got =
      typeof given === 'string'
        ? JSON.stringify(given)
        : typeof given === 'boolean'
          ? `${given}`
          : typeof given
    throw new ConfigurationError(
      'cookies.sameSite',
      `must be "Strict", "Lax" or "None" (any case) or false, got ${got}`,
    )
  }
  if (sameSite === 'None' && secure !== true) {
    throw new ConfigurationError('cookies.sameSite', 'SameSite=None requires cookies.secure: true')
  }
  const domain = cookieDomain(c.domain, 'cookies.domain')
  const resolved = Object.freeze({
    accessName: name(c.accessName, 'access_token_cookie', 'cookies.accessName'),
    refreshName: name(c.refreshName, 'refresh_token_cookie', 'cookies.refreshName'),
    accessPath: cookiePath(c.accessPath, '/', 'cookies.accessPath'),
    refreshPath: cookiePath(c.refreshPath, '/auth/refresh', 'cookies.refreshPath'),
    domain,
    secure,
    sameSite: sameSite === false ? undefined : sameSite,
    session: bool(c.session, false, 'cookies.session'),
  })
  if (resolved.accessName === resolved.refreshName) {
    throw new ConfigurationError('cookies.refreshName', 'must differ from cookies.accessName')
  }
  return resolved
}

/** Attributes of one `Set-Cookie`. */
export interface CookieAttributes {
  path: string
  domain?: string | undefined
  httpOnly: boolean
  secure: boolean
  sameSite?: SameSite | undefined
  /** Seconds; `undefined` for a session cookie, 0 to delete. */
  maxAge?: number | undefined
}

// RFC 6265 §4.1.1 cookie-octet; JWTs and CSRF values (base64url) always match.
const COOKIE_OCTETS = /^[\u0021\u0023-\u002b\u002d-\u003a\u003c-\u005b\u005d-\u007e]*$/

/** Serialises one `Set-Cookie` value. Names were validated at start-up. */
export function serializeCookie(cookieName: string, value: string, a: CookieAttributes): string {
  let out = `${cookieName}=${COOKIE_OCTETS.test(value) ? value : encodeURIComponent(value)}; Path=${a.path}`
  if (a.domain !== undefined) out += `; Domain=${a.domain}`
  if (a.maxAge !== undefined) {
    out += `; Max-Age=${a.maxAge}`
    if (a.maxAge === 0) out += '; Expires=Thu, 01 Jan 1970 00:00:00 GMT'
  }
  if (a.httpOnly) out += '; HttpOnly'
  if (a.secure) out += '; Secure'
  if (a.sameSite !== undefined) out += `; SameSite=${a.sameSite}`
  return out
}

/**
 * The value of cookie `cookieName` in a `Cookie` header: the first one, as browsers send the cookie with
 * the most specific path first.
 */
export function readCookie(header: string | undefined, cookieName: string): string | undefined {
  if (header === undefined) return undefined
  const length = header.length
  let start = 0
  // The next `=` at or after `start`, found again only once `start` has passed it: segments without
  // one (`;;;;…`) would otherwise each scan the rest of the header (quadratic in its length).
  let eq = header.indexOf('=')
  while (start < length) {
    if (eq === -1) return undefined
    if (eq < start) eq = header.indexOf('=', start)
    let end = header.indexOf(';', start)
    if (end === -1) end = length
    if (eq !== -1 && eq < end) {
      let keyStart = start
      while (header.charCodeAt(keyStart) === 32 || header.charCodeAt(keyStart) === 9) keyStart++
      let keyEnd = eq
      while (
        keyEnd > keyStart &&
        (header.charCodeAt(keyEnd - 1) === 32 || header.charCodeAt(keyEnd - 1) === 9)
      )
        keyEnd--
      if (keyEnd - keyStart === cookieName.length && header.startsWith(cookieName, keyStart)) {
        let value = header.slice(eq + 1, end).trim()
        if (value.length > 1 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
        return value.includes('%') ? decode(value) : value
      }
    }
    start = end + 1
  }
  return undefined
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}

/** True for a host that is this machine (`localhost`, `*.localhost`, `127.x.x.x`, `::1`), port ignored. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false
  const hostname = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '')
  const lower = hostname.toLowerCase()
  return (
    lower === 'localhost' ||
    lower.endsWith('.localhost') ||
    /^127(?:\.\d{1,3}){3}$/.test(lower) ||
    lower === '[::1]'
  )
}

/**
 * The `Set-Cookie` values that store `token` (an access or refresh token the application just created):
 * the HttpOnly JWT cookie and, with CSRF protection, the readable CSRF cookie carrying its `csrf` claim.
 */
export function tokenCookies(
  type: TokenType,
  token: string,
  secure: boolean,
  cookies: ResolvedCookieOptions,
  csrf: ResolvedCsrfOptions,
  now = Date.now() / 1000,
  call: ResolvedSetCookieOptions = NO_CALL_OPTIONS,
): string[] {
  const helper = type === 'access' ? 'setAccessCookies' : 'setRefreshCookies'
  if (typeof token !== 'string') throw new ConfigurationError(helper, 'expected a token string')
  const { payload } = decodeUnverified(token)
  if (payload.type !== type) throw new ConfigurationError(helper, `expected a ${type} token`)
  const exp = payload.exp
  // A per-call max_age wins over the session setting, as in flask-jwt-extended.
  const maxAge =
    call.maxAge ??
    (cookies.session || typeof exp !== 'number' ? undefined : Math.max(0, Math.floor(exp) - Math.floor(now)))
  const base = { domain: call.domain ?? cookies.domain, secure, sameSite: cookies.sameSite, maxAge }
  const jwtName = type === 'access' ? cookies.accessName : cookies.refreshName
  if (call.domain !== undefined) refuseHostDomain(type, cookies, csrf, `${helper}.domain`)
  const out = [
    serializeCookie(jwtName, token, {
      ...base,
      path: type === 'access' ? cookies.accessPath : cookies.refreshPath,
      httpOnly: true,
    }),
  ]
  if (csrf.protect) {
    if (typeof payload.csrf !== 'string' || payload.csrf === '') {
      throw new ConfigurationError(
        helper,
        `the token has no "csrf" claim; create it with { csrf: true } when it goes into a cookie`,
      )
    }
    if (csrf.inCookies) {
      const names = csrf[type]
      out.push(
        serializeCookie(names.cookieName, payload.csrf, { ...base, path: names.cookiePath, httpOnly: false }),
      )
    }
  }
  return out
}

/** A `__Host-` cookie name (RFC 6265bis §4.1.3, matched case-insensitively): Secure, `Path=/`, no `Domain`. */
export const isHostCookie = (name: string): boolean => /^__host-/i.test(name)

/**
 * Refuses a per-call `Domain` for the cookies of `type` when one of them has a `__Host-` name: browsers
 * drop such a cookie silently (set or deleted), so a CSRF cookie would never arrive, or stay at logout.
 */
function refuseHostDomain(
  type: TokenType,
  cookies: ResolvedCookieOptions,
  csrf: ResolvedCsrfOptions,
  option: string,
): void {
  const names = [type === 'access' ? cookies.accessName : cookies.refreshName]
  if (csrf.protect && csrf.inCookies) names.push(csrf[type].cookieName)
  const host = names.find(isHostCookie)
  if (host !== undefined)
    throw new ConfigurationError(option, `the cookie ${host} (__Host-) cannot carry a Domain`)
}

/** The `Set-Cookie` values that delete the JWT (and CSRF) cookies of `type`. */
export function clearCookies(
  type: TokenType,
  secure: boolean,
  cookies: ResolvedCookieOptions,
  csrf: ResolvedCsrfOptions,
  domain?: string,
): string[] {
  if (domain !== undefined) refuseHostDomain(type, cookies, csrf, 'domain')
  const base = { domain: domain ?? cookies.domain, secure, sameSite: cookies.sameSite, maxAge: 0 }
  const out = [
    serializeCookie(type === 'access' ? cookies.accessName : cookies.refreshName, '', {
      ...base,
      path: type === 'access' ? cookies.accessPath : cookies.refreshPath,
      httpOnly: true,
    }),
  ]
  if (csrf.protect && csrf.inCookies) {
    const names = csrf[type]
    out.push(serializeCookie(names.cookieName, '', { ...base, path: names.cookiePath, httpOnly: false }))
  }
  return out
}

/** The `csrf` claim of a token (flask-jwt-extended's `get_csrf_token`), for apps that send it in a body. */
export function getCsrfToken(token: string): string | undefined {
  const csrf = decodeUnverified(token).payload.csrf
  return typeof csrf === 'string' ? csrf : undefined
}
