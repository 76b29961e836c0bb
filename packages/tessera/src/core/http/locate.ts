/**
 * Finding the token in one location. Absent (or empty, or a JSON `null`) means "try the next location";
 * present but unusable (a `Bearer` header with no token, a query value without its prefix, a number in
 * the JSON field) is refused as `token_malformed`, so a client bug is not mistaken for an anonymous
 * request on optional routes.
 */
import { TokenMalformedError } from '../errors.js'
import { readCookie } from './cookies.js'
import type { ResolvedAdapterOptions } from './options.js'
import type { ResolvedRoute } from './route.js'
import type { HttpIO, TokenLocation } from './types.js'

type HeaderSettings = Pick<ResolvedAdapterOptions, 'headerName' | 'headerType'>
type QuerySettings = Pick<ResolvedAdapterOptions, 'queryName' | 'queryPrefix'>

/** The token in `location`, or `undefined` when that location holds none. */
export function readToken<Req, C, U>(
  io: HttpIO<Req, never>,
  req: Req,
  location: TokenLocation,
  app: ResolvedAdapterOptions<C, U>,
  route: ResolvedRoute,
): string | undefined {
  switch (location) {
    case 'headers':
      return fromHeader(io.header(req, app.headerKey), app)
    case 'cookies':
      return readCookie(io.header(req, 'cookie'), route.cookieName) || undefined
    case 'query':
      return fromQuery(io.query(req, app.queryName), app)
    case 'json':
      // A JSON request only, as flask-jwt-extended's `request.is_json`: an HTML form can post
      // urlencoded or multipart bodies across sites, and a token read from one would log the victim's
      // browser into the attacker's account (login CSRF), past the cookie's CSRF check.
      return isJson(io.header(req, 'content-type')) ? fromBody(io.body(req), route.jsonKey) : undefined
  }
}

/**
 * What a request without a token carried, for the flask-jwt-extended preset's wording of `token_missing`
 * (an index of `route.missingMessages`): bit 1 when the token header holds credentials of another scheme
 * only (`Authorization: Basic …`), bit 2 when the route reads JSON bodies and this request is not JSON.
 */
export function missingVariant<Req, C, U>(
  io: HttpIO<Req, never>,
  req: Req,
  app: ResolvedAdapterOptions<C, U>,
  route: ResolvedRoute,
): number {
  let variant = 0
  if (route.locations.includes('headers') && app.headerType !== '') {
    // flask strips blanks, then commas, before calling the header missing (view_decorators.py).
    const raw = io
      .header(req, app.headerKey)
      ?.trim()
      .replace(/^,+|,+$/g, '')
    if (raw !== undefined && raw !== '') variant |= 1
  }
  if (route.locations.includes('json') && !isJson(io.header(req, 'content-type'))) variant |= 2
  return variant
}

/** `application/json` or `application/<subtype>+json`, parameters and case aside. */
function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false
  const semicolon = contentType.indexOf(';')
  const type = (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase()
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))
}

function fromHeader(raw: string | undefined, app: HeaderSettings): string | undefined {
  if (raw === undefined || raw === '') return undefined
  const type = app.headerType
  if (type === '') return raw.trim() || undefined
  // Fast path: exactly "Bearer <token>", the form every client sends.
  if (
    raw.length > type.length + 1 &&
    raw.charCodeAt(type.length) === 32 &&
    raw.startsWith(type) &&
    !raw.includes(',')
  ) {
    const token = raw.slice(type.length + 1).trim()
    if (token !== '' && !token.includes(' ')) return token
  }
  // RFC 7235 §2.1: the scheme is case-insensitive, and one header may carry several credentials
  // separated by commas (a compact JWS never contains one).
  const lower = type.toLowerCase()
  let found: string | undefined
  for (const part of raw.split(',')) {
    const credential = part.trim()
    const space = credential.search(/\s/)
    const scheme = space === -1 ? credential : credential.slice(0, space)
    if (scheme.toLowerCase() !== lower) continue
    const token = space === -1 ? '' : credential.slice(space).trim()
    if (found !== undefined || token === '' || /\s/.test(token)) {
      throw new TokenMalformedError(`The ${app.headerName} header is not "${type} <token>"`)
    }
    found = token
  }
  return found
}

function fromQuery(value: unknown, app: QuerySettings): string | undefined {
  if (value === undefined || value === '') return undefined
  if (typeof value !== 'string') {
    throw new TokenMalformedError(`The ${app.queryName} query parameter must appear once`)
  }
  if (app.queryPrefix === '') return value
  if (!value.startsWith(app.queryPrefix)) {
    throw new TokenMalformedError(`The ${app.queryName} query parameter must start with "${app.queryPrefix}"`)
  }
  return value.slice(app.queryPrefix.length) || undefined
}

function fromBody(body: unknown, key: string): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !Object.hasOwn(body, key))
    return undefined
  const value = (body as Record<string, unknown>)[key]
  if (typeof value === 'string' && value !== '') return value
  // `null` and `""` hold no token, like an absent key (flask-jwt-extended's `if not encoded_token`) and
  // like an empty header, cookie or query value here: a client that serialises "no token" as null.
  if (value === null || value === '') return undefined
  // Any other value is a client bug, refused rather than served as anonymous on an optional route.
  // flask-jwt-extended calls 0, false, [] and {} missing (Python falsiness) and refuses the rest (422).
  const type = Array.isArray(value)
    ? 'an array'
    : typeof value === 'object'
      ? 'an object'
      : `a ${typeof value}`
  throw new TokenMalformedError(`The ${key} body field must be a string (the token) or null, got ${type}`)
}
