import { describe, expect, it } from 'vitest'
import { resolveAdapterOptions } from '../../../packages/tessera/src/core/http/options.js'
import { resolveRoute, type RouteOptions } from '../../../packages/tessera/src/core/http/route.js'

describe('resolveAdapterOptions', () => {
  it("applies flask-jwt-extended's defaults and freezes the result", () => {
    const o = resolveAdapterOptions()
    expect(o).toMatchObject({
      locations: ['headers'],
      headerName: 'Authorization',
      headerKey: 'authorization',
      headerType: 'Bearer',
      queryName: 'jwt',
      queryPrefix: '',
      jsonAccessKey: 'access_token',
      jsonRefreshKey: 'refresh_token',
      rolesClaim: 'roles',
      scopeClaim: 'scope',
      implicitRefresh: undefined,
    })
    expect(o.csrf).toMatchObject({ protect: true, checkForm: false, inCookies: true, checkOrigin: false })
    // One header, field and cookie path for both token types unless split (JWT_ACCESS_CSRF_* / JWT_REFRESH_CSRF_*).
    expect(o.csrf.access).toEqual({
      headerName: 'X-CSRF-TOKEN',
      headerKey: 'x-csrf-token',
      fieldName: 'csrf_token',
      cookieName: 'csrf_access_token',
      cookiePath: '/',
    })
    expect(o.csrf.refresh).toEqual({ ...o.csrf.access, cookieName: 'csrf_refresh_token' })
    expect([...o.csrf.methods]).toEqual(['POST', 'PUT', 'PATCH', 'DELETE'])
    expect(o.errors).toMatchObject({ respond: true, messageKey: 'message', codeKey: 'error', flask: false })
    expect(Object.isFrozen(o)).toBe(true)
    expect(Object.isFrozen(o.locations)).toBe(true)
  })

  it('reads implicit refresh as a window or as options', () => {
    expect(resolveAdapterOptions({ implicitRefresh: '5m' }).implicitRefresh?.window).toBe(300)
    const claims = () => ({})
    expect(resolveAdapterOptions({ implicitRefresh: { window: 60, claims } }).implicitRefresh).toEqual({
      window: 60,
      claims,
    })
    expect(resolveAdapterOptions({ implicitRefresh: false }).implicitRefresh).toBeUndefined()
  })

  it('upper-cases CSRF methods and lets adapter-specific keys through', () => {
    expect([...resolveAdapterOptions({ csrf: { methods: ['post'] } }).csrf.methods]).toEqual(['POST'])
    expect(() => resolveAdapterOptions({ prefix: '/api' } as never, ['prefix'])).not.toThrow()
  })

  it.each([
    [null, 'options'],
    [{ tokenlocations: ['headers'] }, 'tokenlocations'],
    [{ tokenLocations: ['headers', 'headers'] }, 'tokenLocations'],
    [{ tokenLocations: 'headers' }, 'tokenLocations'],
    [{ header: { name: '' } }, 'header.name'],
    [{ header: 'Authorization' }, 'header'],
    [{ query: { name: '__proto__' } }, 'query.name'],
    [{ query: { prefix: 1 } }, 'query.prefix'],
    [{ json: { accessKey: 'constructor' } }, 'json.accessKey'],
    [{ csrf: { methods: [1] } }, 'csrf.methods'],
    [{ csrf: { accessCookieName: 'access_token_cookie' } }, 'csrf'],
    [{ csrf: { protect: 'yes' } }, 'csrf.protect'],
    [{ csrf: { trustedOrigins: ['app.example.com'] } }, 'csrf.trustedOrigins'],
    [{ implicitRefresh: { window: 0 } }, 'implicitRefresh.window'],
    [{ implicitRefresh: { window: 60, claims: {} } }, 'implicitRefresh.claims'],
    [{ tokenInBlocklist: true }, 'tokenInBlocklist'],
    [{ verifyClaims: 'x' }, 'verifyClaims'],
    [{ claimNames: { role: 'r' } }, 'claimNames.role'],
  ])('refuses %j naming %s', (options, option) => {
    expect(() => resolveAdapterOptions(options as never)).toThrow(
      expect.objectContaining({ code: 'configuration_error', option }),
    )
  })
})

describe('resolveRoute', () => {
  const app = resolveAdapterOptions({ tokenLocations: ['headers', 'cookies', 'query', 'json'] })

  it('hands the core no options on a plain route, so verification uses its precomputed rules', () => {
    expect(resolveRoute(app, undefined).verify).toBeUndefined()
    expect(resolveRoute(app, {}).verify).toBeUndefined()
  })

  it('translates route options into verify options', () => {
    expect(resolveRoute(app, { fresh: true }).verify).toEqual({ fresh: true })
    expect(resolveRoute(app, { refresh: true }).verify).toEqual({ type: 'refresh' })
    expect(resolveRoute(app, { refresh: true, verifyType: false, skipRevocationCheck: true }).verify).toEqual(
      {
        type: 'any',
        skipRevocationCheck: true,
      },
    )
    // The hook adds to the store: the store check stays on.
    const hooked = resolveAdapterOptions({ tokenInBlocklist: () => false })
    expect(resolveRoute(hooked, {})).toMatchObject({ verify: undefined, checkBlocklist: true })
    expect(resolveRoute(hooked, { fresh: true }).verify).toEqual({ fresh: true })
    expect(resolveRoute(hooked, { skipRevocationCheck: true })).toMatchObject({
      verify: { skipRevocationCheck: true },
      checkBlocklist: false,
    })
  })

  it('keeps the verify options with the revocation check for an implicit refresh on skipping routes', () => {
    expect(resolveRoute(app, {}).revocationRecheck).toBe(false)
    expect(resolveRoute(app, { skipRevocationCheck: true }).revocationRecheck).toBeUndefined()
    expect(resolveRoute(app, { skipRevocationCheck: true, fresh: true }).revocationRecheck).toEqual({
      fresh: true,
    })
  })

  it('reads the refresh cookie and JSON key on refresh routes', () => {
    expect(resolveRoute(app, { refresh: true })).toMatchObject({
      cookieName: 'refresh_token_cookie',
      jsonKey: 'refresh_token',
    })
    expect(resolveRoute(app, {})).toMatchObject({
      cookieName: 'access_token_cookie',
      jsonKey: 'access_token',
    })
  })

  it('names every location of the route in the missing-token message', () => {
    expect(resolveRoute(app, {}).missingMessage).toBe(
      'No token found: looked in the Authorization header ("Bearer <token>"), the access_token_cookie cookie, ' +
        'the jwt query parameter, the access_token JSON body field',
    )
    const bare = resolveAdapterOptions({ header: { name: 'X-Token', type: '' } })
    expect(resolveRoute(bare, { refresh: true, locations: ['headers', 'cookies'] }).missingMessage).toBe(
      'No token found: looked in the X-Token header ("<token>"), the refresh_token_cookie cookie',
    )
  })

  it("uses flask-jwt-extended's missing-token texts under its preset", () => {
    const flask = resolveAdapterOptions({ compat: 'flask-jwt-extended', header: { name: 'X-Token' } })
    const message = (locations: RouteOptions['locations'], refresh = false): string =>
      resolveRoute(flask, { locations, refresh }).missingMessage
    expect(message(['headers'])).toBe('Missing X-Token Header')
    expect(message(['cookies'])).toBe('Missing cookie "access_token_cookie"')
    expect(message(['cookies'], true)).toBe('Missing cookie "refresh_token_cookie"')
    expect(message(['query'])).toBe("Missing 'jwt' query paramater")
    expect(message(['json'])).toBe('Missing "access_token" key in json data.')
    expect(message(['headers', 'cookies', 'query'])).toBe(
      'Missing JWT in headers, cookies or query_string (Missing X-Token Header; ' +
        `Missing cookie "access_token_cookie"; Missing 'jwt' query paramater)`,
    )
  })

  // view_decorators.py words a header of another scheme and a body that is not JSON on their own
  it("keeps flask-jwt-extended's texts for another scheme's header and a body that is not JSON", () => {
    const flask = resolveAdapterOptions({ compat: 'flask-jwt-extended', header: { type: 'JWT' } })
    const messages = (locations: RouteOptions['locations']): readonly string[] | undefined =>
      resolveRoute(flask, { locations }).missingMessages
    expect(messages(['cookies', 'query'])).toBeUndefined()
    expect(resolveRoute(app, {}).missingMessages).toBeUndefined()
    const bare = resolveAdapterOptions({ compat: 'flask-jwt-extended', header: { type: '' } })
    expect(resolveRoute(bare, { locations: ['headers'] }).missingMessages).toBeUndefined()
    const scheme = "Missing 'JWT' type in 'Authorization' header. Expected 'Authorization: JWT <JWT>'"
    expect(messages(['headers'])).toEqual([
      'Missing Authorization Header',
      scheme,
      'Missing Authorization Header',
      scheme,
    ])
    expect(messages(['json', 'query'])?.[2]).toBe(
      'Missing JWT in json or query_string (Invalid content-type. Must be application/json.; ' +
        "Missing 'jwt' query paramater)",
    )
  })

  it.each([
    [{ fresh: true, refresh: true }, 'jwtRequired.fresh'],
    [{ locations: [] }, 'jwtRequired.locations'],
    [{ roles: [] }, 'jwtRequired.roles'],
    [{ scopes: [''] }, 'jwtRequired.scopes'],
    [{ optional: 1 }, 'jwtRequired.optional'],
    [{ role: ['admin'] }, 'jwtRequired.role'],
  ])('refuses %j naming %s', (options, option) => {
    expect(() => resolveRoute(app, options as never)).toThrow(expect.objectContaining({ option }))
  })
})
