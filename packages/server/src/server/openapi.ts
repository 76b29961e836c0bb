/**
 * What the OpenAPI document says that Fastify's route schemas cannot, added to the generated document
 * (`transform` and `transformObject` of @fastify/swagger) so that no request is validated or serialized differently:
 * - where a token may come from in cookie mode (the JWT cookies, with the CSRF header on unsafe
 *   methods) as security alternatives to `bearerAuth`;
 * - the headers every answer of a status carries (`WWW-Authenticate` on 401, `Retry-After` on 429 and
 *   503) and the cookies of a token answer in cookie mode (`Set-Cookie`);
 * - the optional `{ "refresh_token": "…" }` body of the refresh routes, which read it without a body
 *   schema (one would refuse what they accept today: no body, any other field).
 */
import type { FastifySchema } from 'fastify'
import { Tokens } from './schemas.js'

/** The security schemes: the bearer token always, the cookies and the CSRF header in cookie mode. */
export const securitySchemes = {
  bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
  accessTokenCookie: {
    type: 'apiKey',
    in: 'cookie',
    name: 'access_token_cookie',
    description:
      'Cookie mode: the access token, set HttpOnly on Path=/ by a token answer. Unsafe methods also need csrfToken.',
  },
  refreshTokenCookie: {
    type: 'apiKey',
    in: 'cookie',
    name: 'refresh_token_cookie',
    description:
      'Cookie mode: the refresh token, set HttpOnly on Path=/auth by a token answer (so only /auth/* receives it). Needs csrfToken.',
  },
  csrfToken: {
    type: 'apiKey',
    in: 'header',
    name: 'X-CSRF-TOKEN',
    description:
      'Cookie mode, on POST, PUT, PATCH and DELETE with a token cookie (double submit): the value of the readable csrf_access_token cookie with access_token_cookie, of csrf_refresh_token with refresh_token_cookie.',
  },
} as const

type SchemeName = keyof typeof securitySchemes
/** A security requirement of an operation: any one of the list's entries authorizes it. */
type Requirement = Partial<Record<SchemeName, readonly string[]>>

/**
 * An operation's `security` in the route schema: which token it reads and where. The cookie schemes are
 * kept in cookie mode only ({@link completeDocument}).
 */
export const tokenSecurity = {
  /** An access token: the bearer header, or (cookie mode) the access cookie. */
  access: [{ bearerAuth: [] }, { accessTokenCookie: [] }],
  /** A refresh token on /auth/refresh: the bearer header, or (cookie mode) the refresh cookie. */
  refresh: [{ bearerAuth: [] }, { refreshTokenCookie: [] }],
  /** The bearer header only (the tutorials' refresh paths: the refresh cookie's path is /auth). */
  bearer: [{ bearerAuth: [] }],
} as const satisfies Record<string, readonly Requirement[]>

/**
 * The route schema key (OpenAPI only: Fastify reads no `x-` key, @fastify/swagger copies it to the
 * operation) marking a refresh route that also reads `{ "refresh_token": "…" }` from a JSON body.
 */
export const REFRESH_TOKEN_BODY = 'x-tessera-refresh-token-body'

/** Set by {@link markTokenAnswers}: the statuses whose body is {@link Tokens} (cookie mode sets cookies). */
const TOKEN_ANSWERS = 'x-tessera-token-answers'

declare module 'fastify' {
  interface FastifySchema {
    /** OpenAPI only: {@link REFRESH_TOKEN_BODY}. */
    'x-tessera-refresh-token-body'?: boolean
    /** OpenAPI only: set by {@link markTokenAnswers}. */
    'x-tessera-token-answers'?: readonly string[]
  }
}

const COOKIE_SCHEMES = new Set<string>(['accessTokenCookie', 'refreshTokenCookie', 'csrfToken'])
// The CSRF check's methods (the Tessera plugin's default).
const UNSAFE = new Set(['post', 'put', 'patch', 'delete'])

const string = { type: 'string' } as const
const HEADERS: Record<string, Record<string, unknown>> = {
  '401': {
    'WWW-Authenticate': {
      description: 'The RFC 6750 challenge, e.g. `Bearer error="invalid_token", error_description="…"`.',
      required: true,
      schema: string,
    },
  },
  '429': {
    'Retry-After': { description: 'Seconds until a retry can succeed.', required: true, schema: string },
  },
  '503': {
    'Retry-After': { description: 'Seconds until a retry can succeed.', required: true, schema: string },
  },
}
const SET_COOKIE = {
  'Set-Cookie': {
    description:
      'One header per cookie: access_token_cookie (HttpOnly, Path=/), csrf_access_token (readable, Path=/), refresh_token_cookie (HttpOnly, Path=/auth), csrf_refresh_token (readable, Path=/); the tokens are not in the body.',
    required: true,
    schema: string,
  },
}

const REFRESH_BODY = {
  required: false,
  description:
    'The refresh token may be sent here instead of in the Authorization header (with Content-Type: application/json). Other fields are ignored; no body at all is fine.',
  content: {
    'application/json': {
      schema: {
        type: 'object',
        properties: { refresh_token: { type: 'string', minLength: 1, description: 'The refresh token.' } },
      },
    },
  },
}

/**
 * The `transform` of @fastify/swagger: notes on a copy of the route's schema which statuses answer
 * with tokens (the `Tokens` schema itself, which the document inlines, so that it is no longer
 * recognisable there). The route's own schema is not changed.
 */
export function markTokenAnswers({ schema, url }: { schema: FastifySchema; url: string }): {
  schema: FastifySchema
  url: string
} {
  const response = (schema.response ?? {}) as Record<string, unknown>
  const statuses = Object.keys(response).filter((status) => response[status] === Tokens)
  return { schema: statuses.length === 0 ? schema : { ...schema, [TOKEN_ANSWERS]: statuses }, url }
}

interface Operation {
  operationId?: string
  security?: Requirement[]
  requestBody?: unknown
  [TOKEN_ANSWERS]?: string[]
  responses?: Record<
    string,
    { headers?: Record<string, unknown>; content?: Record<string, { schema?: unknown }> }
  >
  [REFRESH_TOKEN_BODY]?: boolean
}

interface Document {
  components?: { securitySchemes?: Record<string, unknown> }
  paths?: Record<string, Record<string, Operation | undefined> | undefined>
}

/**
 * Each operation's `operationId` (what a generated client names its method), by method and path as the
 * document spells them. Every route has one (test/e2e/meta.test.ts), so a new route must be named here.
 */
export const OPERATION_IDS: Readonly<Record<string, string>> = {
  'post /auth/register': 'register',
  'post /auth/login': 'login',
  'post /auth/refresh': 'refresh',
  'post /auth/logout': 'logout',
  'post /auth/logout-all': 'logoutAll',
  'get /auth/me': 'getMe',
  'post /auth/password': 'changePassword',
  'get /auth/sessions': 'listSessions',
  'delete /auth/sessions/{id}': 'endSession',
  'get /users': 'listUsers',
  'get /users/{id}': 'getUser',
  'patch /users/{id}': 'updateUser',
  'delete /users/{id}': 'deleteUser',
  'get /audit': 'listAuditEvents',
  'get /.well-known/jwks.json': 'getJwks',
  'get /.well-known/oauth-authorization-server': 'getAuthorizationServerMetadata',
  'get /healthz': 'getLiveness',
  'get /readyz': 'getReadiness',
  'get /protected': 'getProtected',
  'get /secret': 'getSecret',
  'get /admin': 'getAdmin',
  'post /register': 'tutorialRegister',
  'post /registration': 'tutorialRegistration',
  'post /login': 'tutorialLogin',
  'post /token/refresh': 'tutorialRefresh',
  'post /logout/access': 'tutorialLogoutAccess',
  'post /logout/refresh': 'tutorialLogoutRefresh',
}

/**
 * Completes the generated document for the transport (the `transformObject` of @fastify/swagger):
 * changes the document only, never a route's schema.
 */
export function completeDocument<D>(document: D, cookieMode: boolean): D {
  const doc = document as Document
  const components = doc.components
  if (!cookieMode && components?.securitySchemes !== undefined) {
    components.securitySchemes = Object.fromEntries(
      Object.entries(components.securitySchemes).filter(([name]) => !COOKIE_SCHEMES.has(name)),
    )
  }
  for (const [path, methods] of Object.entries(doc.paths ?? {})) {
    if (methods === undefined) continue
    for (const [method, marked] of Object.entries(methods)) {
      if (marked === undefined) continue
      // The markers of the route schemas are read here, not published.
      const { [REFRESH_TOKEN_BODY]: refreshBody, [TOKEN_ANSWERS]: tokenAnswers = [], ...rest } = marked
      const operationId = OPERATION_IDS[`${method} ${path}`]
      const operation: Operation = operationId === undefined ? rest : { operationId, ...rest }
      methods[method] = operation
      if (operation.security !== undefined)
        operation.security = requirements(operation.security, cookieMode, UNSAFE.has(method))
      if (refreshBody === true) operation.requestBody = structuredClone(REFRESH_BODY)
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const tokens = cookieMode && tokenAnswers.includes(status)
        const headers = { ...HEADERS[status], ...(tokens ? SET_COOKIE : {}) }
        // Copies: a YAML rendering (`/docs/yaml`) would write an object met twice as an alias.
        if (Object.keys(headers).length > 0)
          response.headers = { ...response.headers, ...structuredClone(headers) }
      }
    }
  }
  return document
}

/** Header mode: the bearer alternatives only. Cookie mode: the CSRF header with a cookie on unsafe methods. */
function requirements(list: Requirement[], cookieMode: boolean, unsafe: boolean): Requirement[] {
  const cookie = (r: Requirement): boolean => Object.keys(r).some((name) => COOKIE_SCHEMES.has(name))
  if (!cookieMode) return list.filter((r) => !cookie(r))
  return list.map((r) => (unsafe && cookie(r) ? { ...r, csrfToken: [] } : r))
}
