/**
 * Options shared by the Fastify plugin and the Express middleware: one table of defaults
 * (flask-jwt-extended's where they are safe), validated once, resolved and frozen. Every message names the
 * option path.
 */
import { KNOWN_OPTIONS } from '../config.js'
import { parseDuration, type Duration } from '../duration.js'
import { ConfigurationError } from '../errors.js'
import type { AppClaims, AppUser, JwtClaims, VerifiedToken } from '../types.js'
import {
  COOKIE_OPTIONS,
  isHostCookie,
  resolveCookieOptions,
  type CookieOptions,
  type ResolvedCookieOptions,
} from './cookies.js'
import {
  ERROR_OPTIONS,
  resolveErrorOptions,
  type ErrorOptions,
  type ResolvedErrorOptions,
} from './respond.js'
import { TOKEN_LOCATIONS, type TokenLocation } from './types.js'
import { bool, cookiePath, fn, name, section, str, strList } from '../validate.js'

/** Where and how the Authorization-style header is read. */
export interface HeaderOptions {
  /** Header name. @default 'Authorization' */
  name?: string | undefined
  /** Scheme before the token; `''` for a bare token. Compared case-insensitively. @default 'Bearer' */
  type?: string | undefined
}

/** Query-string location. */
export interface QueryOptions {
  /** Parameter name. @default 'jwt' */
  name?: string | undefined
  /** Prefix the value must start with, stripped before verification. @default '' */
  prefix?: string | undefined
}

/** JSON body location. */
export interface JsonOptions {
  /** Body key of an access token. @default 'access_token' */
  accessKey?: string | undefined
  /** Body key of a refresh token (routes with `refresh: true`). @default 'refresh_token' */
  refreshKey?: string | undefined
}

/** Double-submit CSRF protection of cookie-borne tokens. */
export interface CsrfOptions {
  /** Check the double-submit value on {@link CsrfOptions.methods}. @default true */
  protect?: boolean | undefined
  /** Methods checked. @default ['POST', 'PUT', 'PATCH', 'DELETE'] */
  methods?: readonly string[] | undefined
  /** Header carrying the value, on access and refresh routes alike. @default 'X-CSRF-TOKEN' */
  headerName?: string | undefined
  /** Header on routes reading access tokens (`JWT_ACCESS_CSRF_HEADER_NAME`). @default headerName */
  accessHeaderName?: string | undefined
  /** Header on `refresh: true` routes (`JWT_REFRESH_CSRF_HEADER_NAME`). @default headerName */
  refreshHeaderName?: string | undefined
  /** Also accept the value from a form field when the header is absent. @default false */
  checkForm?: boolean | undefined
  /** Form field name, on access and refresh routes alike. @default 'csrf_token' */
  fieldName?: string | undefined
  /** Form field on routes reading access tokens (`JWT_ACCESS_CSRF_FIELD_NAME`). @default fieldName */
  accessFieldName?: string | undefined
  /** Form field on `refresh: true` routes (`JWT_REFRESH_CSRF_FIELD_NAME`). @default fieldName */
  refreshFieldName?: string | undefined
  /** Set a readable cookie with the value beside each JWT cookie. @default true */
  inCookies?: boolean | undefined
  /** Readable cookie carrying the access token's value. @default 'csrf_access_token' */
  accessCookieName?: string | undefined
  /** Readable cookie carrying the refresh token's value. @default 'csrf_refresh_token' */
  refreshCookieName?: string | undefined
  /** Path of both CSRF cookies (scripts on every page must read them). @default '/' */
  cookiePath?: string | undefined
  /** Path of the access token's CSRF cookie (`JWT_ACCESS_CSRF_COOKIE_PATH`). @default cookiePath */
  accessCookiePath?: string | undefined
  /** Path of the refresh token's CSRF cookie (`JWT_REFRESH_CSRF_COOKIE_PATH`). @default cookiePath */
  refreshCookiePath?: string | undefined
  /**
   * Second line of defence: refuse unsafe cookie requests whose `Origin` is neither this server nor a
   * trusted origin, or whose `Sec-Fetch-Site` says another site sent them. @default false
   */
  checkOrigin?: boolean | undefined
  /** Origins (`https://app.example.com`) accepted besides the server's own. @default [] */
  trustedOrigins?: readonly string[] | undefined
}

/** Implicit refresh of access cookies near expiry. */
export interface ImplicitRefreshOptions<C = AppClaims> {
  /** Re-issue the access cookie when it expires within this window. */
  window: Duration
  /**
   * Claims of the new token. @default the old token's own claims, registered claims excepted
   */
  claims?: ((claims: JwtClaims<C>) => Record<string, unknown>) | undefined
}

/** Options of both adapters. Every one is optional. */
export interface AdapterOptions<C = AppClaims, U = AppUser> {
  /** Where tokens are looked for, in order (`JWT_TOKEN_LOCATION`). @default ['headers'] */
  tokenLocations?: readonly TokenLocation[] | undefined
  /** Header location settings. */
  header?: HeaderOptions | undefined
  /** Query-string location settings. */
  query?: QueryOptions | undefined
  /** JSON body location settings. */
  json?: JsonOptions | undefined
  /** JWT cookie settings. */
  cookies?: CookieOptions | undefined
  /** CSRF protection of cookie-borne tokens. */
  csrf?: CsrfOptions | undefined
  /** Re-issue access cookies close to expiry: a window (`'5m'`) or options. @default false */
  implicitRefresh?: false | Duration | ImplicitRefreshOptions<C> | undefined
  /** Loads the user (`current_user`); `null`/`undefined` answers 401 `user_not_found`. */
  userLookup?: ((token: VerifiedToken<C>) => U | null | undefined | Promise<U | null | undefined>) | undefined
  /**
   * Checked in addition to the core revocation store, after it (never instead of it); `true` answers
   * 401 `token_revoked`.
   */
  tokenInBlocklist?: ((token: VerifiedToken<C>) => boolean | Promise<boolean>) | undefined
  /** Extra checks on authentic claims; `false` answers 401 `claims_verification_failed`. */
  verifyClaims?: ((token: VerifiedToken<C>) => boolean | Promise<boolean>) | undefined
  /** Claim names read by `roles` and `scopes`. */
  claimNames?: { roles?: string | undefined; scope?: string | undefined } | undefined
  /**
   * `'flask-jwt-extended'`: `{ "msg": … }` bodies, flask's statuses (422 for invalid tokens) and messages,
   * and flask's order of refusals (an expired token of the other type is expired, not the wrong type).
   */
  compat?: 'flask-jwt-extended' | undefined
  /** Error response settings. */
  errors?: ErrorOptions | undefined
}

/** Adapter options after validation. Frozen. */
export interface ResolvedAdapterOptions<C = AppClaims, U = AppUser> {
  readonly locations: readonly TokenLocation[]
  /** The header name as configured, for messages. */
  readonly headerName: string
  /** The header name in lower case, for lookups. */
  readonly headerKey: string
  readonly headerType: string
  readonly queryName: string
  readonly queryPrefix: string
  readonly jsonAccessKey: string
  readonly jsonRefreshKey: string
  readonly cookies: ResolvedCookieOptions
  readonly csrf: ResolvedCsrfOptions
  readonly implicitRefresh:
    { readonly window: number; readonly claims: ImplicitRefreshOptions<C>['claims'] } | undefined
  readonly userLookup: AdapterOptions<C, U>['userLookup']
  readonly tokenInBlocklist: AdapterOptions<C, U>['tokenInBlocklist']
  readonly verifyClaims: AdapterOptions<C, U>['verifyClaims']
  readonly rolesClaim: string
  readonly scopeClaim: string
  readonly errors: ResolvedErrorOptions
}

/** The CSRF names of one token type, after validation. */
export interface ResolvedCsrfNames {
  /** The header name as configured, for messages. */
  readonly headerName: string
  /** `headerName` in lower case, for lookups. */
  readonly headerKey: string
  readonly fieldName: string
  readonly cookieName: string
  readonly cookiePath: string
}

/** CSRF options after validation. */
export interface ResolvedCsrfOptions {
  readonly protect: boolean
  readonly methods: ReadonlySet<string>
  readonly checkForm: boolean
  readonly inCookies: boolean
  /** Names used with access tokens. */
  readonly access: ResolvedCsrfNames
  /** Names used with refresh tokens (`refresh: true` routes). */
  readonly refresh: ResolvedCsrfNames
  readonly checkOrigin: boolean
  readonly trustedOrigins: ReadonlySet<string>
}

/** Every adapter option name, top level first, then each section's (`cookies.domain`). */
export const ADAPTER_OPTIONS = Object.freeze({
  '': [
    'tokenLocations',
    'header',
    'query',
    'json',
    'cookies',
    'csrf',
    'implicitRefresh',
    'userLookup',
    'tokenInBlocklist',
    'verifyClaims',
    'claimNames',
    'compat',
    'errors',
  ],
  header: ['name', 'type'],
  query: ['name', 'prefix'],
  json: ['accessKey', 'refreshKey'],
  claimNames: ['roles', 'scope'],
  cookies: COOKIE_OPTIONS,
  errors: ERROR_OPTIONS,
  csrf: [
    'protect',
    'methods',
    'headerName',
    'accessHeaderName',
    'refreshHeaderName',
    'checkForm',
    'fieldName',
    'accessFieldName',
    'refreshFieldName',
    'inCookies',
    'accessCookieName',
    'refreshCookieName',
    'cookiePath',
    'accessCookiePath',
    'refreshCookiePath',
    'checkOrigin',
    'trustedOrigins',
  ],
  implicitRefresh: ['window', 'claims'],
} as const satisfies Record<string, readonly string[]>)

/** Validates adapter options and applies defaults. `extraKeys` are adapter-specific keys to let through. */
export function resolveAdapterOptions<C, U>(
  options: AdapterOptions<C, U> = {},
  extraKeys: readonly string[] = [],
): ResolvedAdapterOptions<C, U> {
  if (typeof options === 'object' && (options as object | null) !== null) {
    for (const key of Object.keys(options)) {
      if (KNOWN_OPTIONS.has(key) && !extraKeys.includes(key)) {
        throw new ConfigurationError(key, 'is an option of createTessera(), not of the adapter')
      }
    }
  }
  const o = section(options, '', [...ADAPTER_OPTIONS[''], ...extraKeys]) as AdapterOptions<C, U>
  const header = section(o.header, 'header', ADAPTER_OPTIONS.header)
  const query = section(o.query, 'query', ADAPTER_OPTIONS.query)
  const json = section(o.json, 'json', ADAPTER_OPTIONS.json)
  const claimNames = section(o.claimNames, 'claimNames', ADAPTER_OPTIONS.claimNames)
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- guard for JavaScript callers
  if (o.compat !== undefined && o.compat !== 'flask-jwt-extended') {
    throw new ConfigurationError('compat', `must be "flask-jwt-extended", got ${JSON.stringify(o.compat)}`)
  }
  const headerType = str(header.type, 'Bearer', 'header.type', true)
  if (/\s/.test(headerType)) throw new ConfigurationError('header.type', 'must not contain spaces')
  const headerName = name(header.name, 'Authorization', 'header.name')
  const cookies = resolveCookieOptions(o.cookies)
  const csrf = resolveCsrf(o.csrf)
  for (const csrfName of [csrf.access.cookieName, csrf.refresh.cookieName]) {
    if (csrfName === cookies.accessName || csrfName === cookies.refreshName) {
      throw new ConfigurationError('csrf', `the CSRF cookie name "${csrfName}" is also a JWT cookie name`)
    }
  }
  checkCookiePrefixes(cookies, csrf)
  return Object.freeze({
    locations: resolveLocations(o.tokenLocations, 'tokenLocations') ?? Object.freeze(['headers' as const]),
    headerName,
    headerKey: headerName.toLowerCase(),
    headerType,
    queryName: name(query.name, 'jwt', 'query.name'),
    queryPrefix: str(query.prefix, '', 'query.prefix', true),
    jsonAccessKey: name(json.accessKey, 'access_token', 'json.accessKey'),
    jsonRefreshKey: name(json.refreshKey, 'refresh_token', 'json.refreshKey'),
    cookies,
    csrf,
    implicitRefresh: resolveImplicitRefresh(o.implicitRefresh),
    userLookup: fn(o.userLookup, 'userLookup'),
    tokenInBlocklist: fn(o.tokenInBlocklist, 'tokenInBlocklist'),
    verifyClaims: fn(o.verifyClaims, 'verifyClaims'),
    rolesClaim: name(claimNames.roles, 'roles', 'claimNames.roles'),
    scopeClaim: name(claimNames.scope, 'scope', 'claimNames.scope'),
    errors: resolveErrorOptions(o.errors, o.compat === 'flask-jwt-extended'),
  })
}

/**
 * Cookie name prefixes (RFC 6265bis §4.1.3): browsers drop a `__Secure-` cookie without `Secure`, and a
 * `__Host-` one also unless `Path=/` and no `Domain`, silently. `__Host-` names are the defence against
 * cookie tossing (a sibling subdomain planting a cookie of the same name): refused at start-up when
 * the options would make browsers drop them.
 */
function checkCookiePrefixes(cookies: ResolvedCookieOptions, csrf: ResolvedCsrfOptions): void {
  const named: [name: string, path: string, option: string, pathOption: string][] = [
    [cookies.accessName, cookies.accessPath, 'cookies.accessName', 'cookies.accessPath'],
    [cookies.refreshName, cookies.refreshPath, 'cookies.refreshName', 'cookies.refreshPath'],
  ]
  if (csrf.protect && csrf.inCookies) {
    named.push(
      [csrf.access.cookieName, csrf.access.cookiePath, 'csrf.accessCookieName', 'csrf.accessCookiePath'],
      [csrf.refresh.cookieName, csrf.refresh.cookiePath, 'csrf.refreshCookieName', 'csrf.refreshCookiePath'],
    )
  }
  for (const [cookie, path, option, pathOption] of named) {
    const host = isHostCookie(cookie)
    if (!host && !/^__secure-/i.test(cookie)) continue
    const prefix = host ? '__Host-' : '__Secure-'
    if (cookies.secure !== true) {
      throw new ConfigurationError(
        option,
        `a ${prefix} cookie needs cookies.secure: true (browsers drop it without Secure)`,
      )
    }
    if (host && path !== '/') {
      throw new ConfigurationError(
        option,
        `a __Host- cookie needs Path=/ (browsers drop it otherwise): set ${pathOption} to '/'`,
      )
    }
    if (host && cookies.domain !== undefined) {
      throw new ConfigurationError(option, 'a __Host- cookie cannot carry a Domain: remove cookies.domain')
    }
  }
}

/** Validates a list of token locations (app-wide or per route). */
export function resolveLocations(value: unknown, path: string): readonly TokenLocation[] | undefined {
  if (value === undefined) return undefined
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((v) => TOKEN_LOCATIONS.includes(v as TokenLocation)) ||
    new Set(value).size !== value.length
  ) {
    throw new ConfigurationError(
      path,
      `must be a non-empty list of distinct values among ${TOKEN_LOCATIONS.join(', ')}${locationHint(value)}`,
    )
  }
  return Object.freeze([...(value as TokenLocation[])])
}

// flask-jwt-extended's spellings of the locations (and a singular slip), for the message's hint.
const LOCATION_SPELLINGS: Readonly<Record<string, TokenLocation>> = {
  query_string: 'query',
  querystring: 'query',
  header: 'headers',
  cookie: 'cookies',
  body: 'json',
}

/** `; "query_string" is called "query"`, or `; a list: ["headers"]` for a lone string; else ''. */
function locationHint(value: unknown): string {
  const values = Array.isArray(value) ? (value as unknown[]) : [value]
  const renamed = values
    .filter((v): v is string => typeof v === 'string' && Object.hasOwn(LOCATION_SPELLINGS, v.toLowerCase()))
    .map((v) => `"${v}" is called "${LOCATION_SPELLINGS[v.toLowerCase()] ?? ''}"`)
  if (renamed.length > 0) return `; ${renamed.join(', ')}`
  if (typeof value === 'string' && TOKEN_LOCATIONS.includes(value as TokenLocation))
    return `; a list: ["${value}"]`
  return ''
}

function resolveCsrf(value: unknown): ResolvedCsrfOptions {
  const c = section(value, 'csrf', ADAPTER_OPTIONS.csrf)
  const methods = strList(c.methods, 'csrf.methods', true) ?? ['POST', 'PUT', 'PATCH', 'DELETE']
  const trusted = strList(c.trustedOrigins, 'csrf.trustedOrigins', true) ?? []
  for (const origin of trusted) {
    // An Origin header is scheme://host[:port] with nothing after (RFC 6454 §6.1).
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigurationError(
        'csrf.trustedOrigins',
        `${JSON.stringify(origin)} is not an origin like https://app.example.com`,
      )
    }
  }
  // The shared names are the defaults of the per-type ones (flask-jwt-extended has only those).
  const headerName = name(c.headerName, 'X-CSRF-TOKEN', 'csrf.headerName')
  const fieldName = name(c.fieldName, 'csrf_token', 'csrf.fieldName')
  const path = cookiePath(c.cookiePath, '/', 'csrf.cookiePath')
  const names = (type: 'access' | 'refresh'): ResolvedCsrfNames => {
    const header = name(c[`${type}HeaderName`], headerName, `csrf.${type}HeaderName`)
    return Object.freeze({
      headerName: header,
      headerKey: header.toLowerCase(),
      fieldName: name(c[`${type}FieldName`], fieldName, `csrf.${type}FieldName`),
      cookieName: name(c[`${type}CookieName`], `csrf_${type}_token`, `csrf.${type}CookieName`),
      cookiePath: cookiePath(c[`${type}CookiePath`], path, `csrf.${type}CookiePath`),
    })
  }
  return Object.freeze({
    protect: bool(c.protect, true, 'csrf.protect'),
    methods: new Set(methods.map((m) => m.toUpperCase())),
    checkForm: bool(c.checkForm, false, 'csrf.checkForm'),
    inCookies: bool(c.inCookies, true, 'csrf.inCookies'),
    access: names('access'),
    refresh: names('refresh'),
    checkOrigin: bool(c.checkOrigin, false, 'csrf.checkOrigin'),
    trustedOrigins: new Set(trusted),
  })
}

function resolveImplicitRefresh<C>(
  value: AdapterOptions<C>['implicitRefresh'],
): ResolvedAdapterOptions<C>['implicitRefresh'] {
  if (value === undefined || value === false) return undefined
  if (typeof value === 'number' || typeof value === 'string') {
    return Object.freeze({ window: parseDuration(value, 'implicitRefresh'), claims: undefined })
  }
  const r = section(value, 'implicitRefresh', ADAPTER_OPTIONS.implicitRefresh) as Partial<
    ImplicitRefreshOptions<C>
  >
  return Object.freeze({
    window: parseDuration(r.window, 'implicitRefresh.window'),
    claims: fn(r.claims, 'implicitRefresh.claims'),
  })
}
