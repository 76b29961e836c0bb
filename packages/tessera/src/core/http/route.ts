/**
 * Per-route protection options (flask-jwt-extended's `jwt_required(...)` arguments), resolved once when
 * the route is declared so the request path only reads precomputed fields.
 */
import { ConfigurationError } from '../errors.js'
import type { VerifyOptions } from '../tessera.js'
import { resolveLocations, type ResolvedAdapterOptions, type ResolvedCsrfNames } from './options.js'
import type { TokenLocation } from './types.js'
import { bool, join, section, strList } from '../validate.js'

/** Options of `jwtRequired()`: one route's requirements. */
export interface RouteOptions {
  /**
   * Let requests without a token through with `jwt` set to `null`; a present but bad token is still
   * refused. @default false
   */
  optional?: boolean | undefined
  /** Require a fresh access token (from a password login). @default false */
  fresh?: boolean | undefined
  /** Accept refresh tokens only (read from the refresh cookie or JSON key). @default false */
  refresh?: boolean | undefined
  /** Locations for this route instead of the app's `tokenLocations`. */
  locations?: readonly TokenLocation[] | undefined
  /** `false` accepts both access and refresh tokens (`verify_type=False`). @default true */
  verifyType?: boolean | undefined
  /**
   * Skip the revocation check (the store and the `tokenInBlocklist` hook). An implicit refresh still
   * runs it first: a revoked token is served here but never re-issued. @default false
   */
  skipRevocationCheck?: boolean | undefined
  /** The token must carry at least one of these roles (claim `roles`), else 403 `forbidden`. */
  roles?: readonly string[] | undefined
  /** The token must carry all of these scopes (claim `scope`, space-separated or a list), else 403. */
  scopes?: readonly string[] | undefined
}

/** A route's options after validation, with everything the request path needs precomputed. */
export interface ResolvedRoute {
  readonly optional: boolean
  readonly refresh: boolean
  readonly locations: readonly TokenLocation[]
  /** Options handed to `verifyInline`; `undefined` selects the core's precomputed default rules. */
  readonly verify: VerifyOptions | undefined
  /** Call the app's `tokenInBlocklist` hook (after the store, which `verify` checks). */
  readonly checkBlocklist: boolean
  /**
   * The route skips the revocation check: `verify` with the check put back, run before an implicit
   * refresh (a revoked token must never come back as a new one). `false` when the route checks it.
   */
  readonly revocationRecheck: VerifyOptions | undefined | false
  readonly roles: readonly string[] | undefined
  readonly scopes: readonly string[] | undefined
  /** The JWT cookie this route reads. */
  readonly cookieName: string
  /** The JSON body key this route reads. */
  readonly jsonKey: string
  /** The CSRF header, field and cookie names of the token type this route reads. */
  readonly csrf: ResolvedCsrfNames
  /** The `token_missing` message, naming every location tried. */
  readonly missingMessage: string
  /**
   * Under the flask-jwt-extended preset, when flask words a missing token by what the request carried:
   * the message per {@link missingVariant} (bit 1: the header holds only credentials of another scheme,
   * bit 2: the request is not JSON). `undefined` when the message never varies.
   */
  readonly missingMessages: readonly string[] | undefined
}

/** The option names of {@link RouteOptions}. */
export const ROUTE_OPTIONS: readonly string[] = Object.freeze([
  'optional',
  'fresh',
  'refresh',
  'locations',
  'verifyType',
  'skipRevocationCheck',
  'roles',
  'scopes',
])

/** Validates one route's options against the app's. `path` prefixes option names in messages. */
export function resolveRoute<C, U>(
  app: ResolvedAdapterOptions<C, U>,
  options: RouteOptions | undefined,
  path = 'jwtRequired',
): ResolvedRoute {
  if (Object.hasOwn(Object(options) as object, 'allowExpired')) {
    // decode_token(allow_expired=True) reads an expired token's claims; no guard ever accepts one.
    throw new ConfigurationError(
      join(path, 'allowExpired'),
      'a route never accepts an expired token; read one with auth.verify(token, { allowExpired: true })',
    )
  }
  const r = section(options, path, ROUTE_OPTIONS, 'route') as RouteOptions
  const fresh = bool(r.fresh, false, join(path, 'fresh'))
  const refresh = bool(r.refresh, false, join(path, 'refresh'))
  const verifyType = bool(r.verifyType, true, join(path, 'verifyType'))
  const skipRevocationCheck = bool(r.skipRevocationCheck, false, join(path, 'skipRevocationCheck'))
  if (fresh && refresh) {
    throw new ConfigurationError(
      join(path, 'fresh'),
      'refresh tokens are never fresh: use fresh or refresh, not both',
    )
  }
  const locations = resolveLocations(r.locations, join(path, 'locations')) ?? app.locations
  const verify: VerifyOptions = {}
  if (!verifyType) verify.type = 'any'
  else if (refresh) verify.type = 'refresh'
  if (fresh) verify.fresh = true
  // The store is checked even when a tokenInBlocklist hook is set: the hook adds to it, never replaces
  // it, or auth.revokeToken/revokeSession/revokeUser would silently stop working on every route.
  const checked = Object.keys(verify).length === 0 ? undefined : Object.freeze(verify)
  const cookieName = refresh ? app.cookies.refreshName : app.cookies.accessName
  const jsonKey = refresh ? app.jsonRefreshKey : app.jsonAccessKey
  return Object.freeze({
    optional: bool(r.optional, false, join(path, 'optional')),
    refresh,
    locations,
    verify: skipRevocationCheck ? Object.freeze({ ...verify, skipRevocationCheck: true }) : checked,
    checkBlocklist: !skipRevocationCheck && app.tokenInBlocklist !== undefined,
    revocationRecheck: skipRevocationCheck ? checked : false,
    roles: strList(r.roles, join(path, 'roles')),
    scopes: strList(r.scopes, join(path, 'scopes')),
    cookieName,
    jsonKey,
    csrf: refresh ? app.csrf.refresh : app.csrf.access,
    missingMessage: app.errors.flask
      ? flaskMissing(locations, app, cookieName, jsonKey, 0)
      : `No token found: looked in ${locations
          .map((location) => describe(location, app, cookieName, jsonKey))
          .join(', ')}`,
    missingMessages:
      app.errors.flask &&
      ((locations.includes('headers') && app.headerType !== '') || locations.includes('json'))
        ? Object.freeze(
            [0, 1, 2, 3].map((variant) => flaskMissing(locations, app, cookieName, jsonKey, variant)),
          )
        : undefined,
  })
}

// flask-jwt-extended's NoAuthorizationError texts (view_decorators.py), for clients that match on them:
// one location's own text, or several joined. Its query text keeps flask's spelling ("paramater").
// `variant` is what the request carried (missingVariant): an Authorization header with only another
// scheme's credentials (bit 1), a body that is not JSON (bit 2), each worded as flask words it.
function flaskMissing<C, U>(
  locations: readonly TokenLocation[],
  app: ResolvedAdapterOptions<C, U>,
  cookieName: string,
  jsonKey: string,
  variant: number,
): string {
  const { headerName, headerType } = app
  const texts = locations.map((location) => {
    switch (location) {
      case 'headers':
        return (variant & 1) !== 0
          ? `Missing '${headerType}' type in '${headerName}' header. Expected '${headerName}: ${headerType} <JWT>'`
          : `Missing ${headerName} Header`
      case 'cookies':
        return `Missing cookie "${cookieName}"`
      case 'query':
        return `Missing '${app.queryName}' query paramater`
      case 'json':
        return (variant & 2) !== 0
          ? 'Invalid content-type. Must be application/json.'
          : `Missing "${jsonKey}" key in json data.`
    }
  })
  if (texts.length === 1) return texts[0] ?? ''
  const names = locations.map((location) => (location === 'query' ? 'query_string' : location))
  return `Missing JWT in ${names.slice(0, -1).join(', ')} or ${names.at(-1) ?? ''} (${texts.join('; ')})`
}

function describe<C, U>(
  location: TokenLocation,
  app: ResolvedAdapterOptions<C, U>,
  cookieName: string,
  jsonKey: string,
): string {
  switch (location) {
    case 'headers':
      return `the ${app.headerName} header ("${app.headerType === '' ? '' : `${app.headerType} `}<token>")`
    case 'cookies':
      return `the ${cookieName} cookie`
    case 'query':
      return `the ${app.queryName} query parameter`
    case 'json':
      return `the ${jsonKey} JSON body field`
  }
}
