/** `/auth/*`: register, login, refresh, logout, me, password, sessions — HTTP to service calls and back. */
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from 'fastify'
import { isTesseraError } from 'tessera'
import type { RouteOptions } from 'tessera/fastify'
import { Type } from 'typebox'
import type { ServerContext } from '../context.js'
import { REFRESH_TOKEN_BODY, tokenSecurity } from '../openapi.js'
import { ServiceError, serverErrors } from '../errors.js'
import { Credentials, errors, Me, PasswordChange, Session, SessionParam, Tokens } from '../schemas.js'
import type { AuthService, Credentials as CredentialsBody, IssuedTokens } from '../service.js'
import { callerOf, clientOf, guarded, iso, jwtOf, noContent, noStore, ok, userBody } from './http.js'

const tags = ['auth']

/** Answers with tokens: in the body (header mode) or as cookies (cookie mode). */
function sendTokens(
  ctx: ServerContext,
  reply: FastifyReply,
  tokens: IssuedTokens,
  extra: { status?: number; message?: string; includeUser?: boolean } = {},
): FastifyReply {
  const body: Record<string, unknown> = {}
  if (extra.message !== undefined) body.message = extra.message
  if (ctx.config.tokenTransport === 'cookie') {
    reply.setAccessCookies(tokens.accessToken).setRefreshCookies(tokens.refreshToken)
  } else {
    body.access_token = tokens.accessToken
    body.refresh_token = tokens.refreshToken
  }
  Object.assign(body, {
    token_type: 'Bearer',
    expires_in: tokens.expiresIn,
    refresh_expires_in: tokens.refreshExpiresIn,
    session_id: tokens.sessionId,
  })
  if (extra.includeUser !== false) body.user = userBody(tokens.user)
  void reply.header('cache-control', 'no-store')
  return reply.code(extra.status ?? 200).send(body)
}

type RouteHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>

/**
 * A logout route's handler: it verifies the token itself (`route` is its guard's options) and, when
 * the token is genuine, then calls `done`. Logging out is idempotent, as revoking is in RFC 7009 §2.2:
 * a genuine token already revoked (its session ended by a logout, a logout everywhere, a password
 * change, the user's deletion) is answered as a success and changes nothing, so a client that retries
 * a logout, or logs out its access and then its refresh token as the tutorials do, is not told 401. It
 * must pass every other check first: the revoked token is verified again without the revocation check,
 * so a bad signature, an expired token, the wrong type or a CSRF failure is still refused.
 */
export function logoutHandler(
  app: FastifyInstance,
  service: AuthService,
  route: RouteOptions,
  done: (request: FastifyRequest, reply: FastifyReply) => FastifyReply | Record<string, string>,
): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | Record<string, string>> {
  const revoked: RouteOptions = { ...route, skipRevocationCheck: true }
  return async (request, reply) => {
    try {
      await app.verifyRequest(request, reply, route)
    } catch (error) {
      if (!isTesseraError(error) || error.code !== 'token_revoked') throw error
      // Revoked (a wrong CSRF value would have been refused first): check everything else now, the
      // route's roles too, and answer as a logout that found nothing to end.
      await app.verifyRequest(request, reply, revoked)
      return done(request, reply)
    }
    await service.logout(callerOf(request))
    return done(request, reply)
  }
}

/**
 * The register, login and refresh handlers, shared by `/auth/*` and the tutorials' paths. A registration
 * answers `registered` (201 Created; seed 001's `/registration` answered 200, and its alias does too).
 */
export function tokenHandlers(
  ctx: ServerContext,
  service: AuthService,
  registered: 200 | 201 = 201,
): { register: RouteHandler; login: RouteHandler; refresh: RouteHandler } {
  const credentials = (request: FastifyRequest): CredentialsBody => request.body as CredentialsBody
  return {
    async register(request, reply) {
      const tokens = await service.register(credentials(request), clientOf(request))
      return sendTokens(ctx, reply, tokens, {
        status: registered,
        message: `User ${tokens.user.username} was created`,
      })
    },
    async login(request, reply) {
      const tokens = await service.login(credentials(request), clientOf(request))
      return sendTokens(ctx, reply, tokens, { message: `Logged in as ${tokens.user.username}` })
    },
    async refresh(request, reply) {
      return sendTokens(ctx, reply, await service.refresh(callerOf(request)), { includeUser: false })
    },
  }
}

/**
 * A 401 refusal of the presented token itself, for good (not of the request's CSRF value or origin,
 * and not `token_not_yet_valid`: a token from an issuer whose clock runs ahead becomes valid). Not
 * `token_missing` either: nothing was presented, and it is what another site's auto-submitted form gets
 * (a top-level navigation carries no SameSite=Lax/Strict cookie, and the token is looked for before the
 * origin is checked), while the browser would still apply the answer's Set-Cookie: clearing then would
 * let any site sign the user out.
 */
function isDeadToken(error: unknown): boolean {
  if (error instanceof ServiceError) return serverErrors[error.code].status === 401
  return (
    isTesseraError(error) &&
    error.status === 401 &&
    !error.code.startsWith('csrf_') &&
    error.code !== 'token_missing' &&
    error.code !== 'token_not_yet_valid'
  )
}

/**
 * The request carries the refresh cookie (the server's default name). Cookies are looked for first, so
 * a refusal of the token is then a refusal of the cookie's: a dead token sent in a header or the body
 * leaves the browser's cookies alone.
 */
const REFRESH_COOKIE = /(?:^|;)\s*refresh_token_cookie=/

/** Registers the `/auth` routes. */
export function authRoutes(app: FastifyInstance, ctx: ServerContext, service: AuthService): void {
  tokenRoutes(app, ctx, service)
  accountRoutes(app, ctx, service)
  sessionRoutes(app, service)
}

/** Register, login, refresh, logout. */
function tokenRoutes(app: FastifyInstance, ctx: ServerContext, service: AuthService): void {
  const handlers = tokenHandlers(ctx, service)
  const refreshLocations =
    ctx.config.tokenTransport === 'cookie'
      ? (['cookies', 'headers', 'json'] as const)
      : (['headers', 'json'] as const)
  const credentials = (summary: string, response: FastifySchema['response']): FastifySchema => ({
    tags,
    summary,
    body: Credentials,
    response,
  })
  const created = { 201: Tokens, ...errors(400, 403, 409, 429) }
  app.post(
    '/auth/register',
    { schema: credentials('Create an account and log in', created) },
    handlers.register,
  )
  const login = credentials(
    'Log in with a password (the access token is fresh)',
    ok(Tokens, 400, 401, 403, 429),
  )
  app.post('/auth/login', { schema: login }, handlers.login)
  const rotate = 'Rotate the refresh token: a new access token and a new refresh token'
  const refreshRoute: RouteOptions = { refresh: true, locations: [...refreshLocations] }
  app.post(
    '/auth/refresh',
    {
      schema: guarded(tags, rotate, ok(Tokens, 401, 429), {
        security: tokenSecurity.refresh,
        [REFRESH_TOKEN_BODY]: true,
      }),
    },
    async (request, reply) => {
      try {
        await app.verifyRequest(request, reply, refreshRoute)
        return await handlers.refresh(request, reply)
      } catch (error) {
        // Cookie mode: a refresh token that can never work again (revoked, reused, expired, forged)
        // would otherwise stay in the browser until its Max-Age (30 days), and the readable CSRF cookie
        // beside it would tell the client a session may exist. A CSRF refusal clears nothing: another
        // site must not be able to sign the user out.
        if (
          ctx.config.tokenTransport === 'cookie' &&
          REFRESH_COOKIE.test(request.headers.cookie ?? '') &&
          isDeadToken(error)
        )
          reply.unsetJwtCookies()
        throw error
      }
    },
  )
  const logout = guarded(tags, 'Revoke this token and its session', noContent(401))
  app.post(
    '/auth/logout',
    { schema: logout },
    logoutHandler(app, service, {}, (_request, reply) => {
      if (ctx.config.tokenTransport === 'cookie') reply.unsetJwtCookies()
      return reply.code(204).send()
    }),
  )
}

/** Logout everywhere, who am I, password change. */
function accountRoutes(app: FastifyInstance, ctx: ServerContext, service: AuthService): void {
  const logoutAll = guarded(tags, 'Revoke every session of the user', noContent(401))
  app.post(
    '/auth/logout-all',
    { preHandler: app.jwtRequired(), schema: logoutAll },
    async (request, reply) => {
      await service.logoutAll(callerOf(request))
      if (ctx.config.tokenTransport === 'cookie') reply.unsetJwtCookies()
      return reply.code(204).send()
    },
  )
  const me = guarded(
    tags,
    'Who the token belongs to (from the verified token: no database read)',
    ok(Me, 401),
  )
  app.get('/auth/me', { onRequest: noStore, preHandler: app.jwtRequired(), schema: me }, (request) => {
    const owner = service.whoAmI(jwtOf(request).claims)
    return { id: owner.id, username: owner.username, roles: owner.roles, session_id: owner.sessionId }
  })
  const summary = 'Change the password (needs a fresh token); ends every other session'
  const password = guarded(tags, summary, noContent(400, 401, 429), { body: PasswordChange })
  app.post(
    '/auth/password',
    { preHandler: app.jwtRequired({ fresh: true }), schema: password },
    async (request, reply) => {
      const body = request.body as { current_password: string; new_password: string }
      const change = { currentPassword: body.current_password, newPassword: body.new_password }
      await service.changePassword(callerOf(request), change)
      return reply.code(204).send()
    },
  )
}

const SessionList = Type.Object({ sessions: Type.Array(Session) })

/** The user's sessions: list, end one. */
function sessionRoutes(app: FastifyInstance, service: AuthService): void {
  const list = guarded(tags, "The user's live sessions", ok(SessionList, 401))
  app.get(
    '/auth/sessions',
    { onRequest: noStore, preHandler: app.jwtRequired(), schema: list },
    async (request) => {
      const sessions = await service.listSessions(jwtOf(request).claims)
      return {
        sessions: sessions.map((s) => ({
          id: s.id,
          created_at: iso(s.createdAt),
          last_used_at: iso(s.lastUsedAt),
          expires_at: iso(s.expiresAt),
          user_agent: s.userAgent,
          ip: s.ip,
          current: s.current,
        })),
      }
    },
  )
  const end = guarded(tags, 'End one of your sessions', noContent(400, 401, 404), {
    params: SessionParam,
  })
  app.delete('/auth/sessions/:id', { preHandler: app.jwtRequired(), schema: end }, async (request, reply) => {
    await service.revokeSession(callerOf(request), (request.params as { id: string }).id)
    return reply.code(204).send()
  })
}
