/** `/auth/*`: register, login, refresh, logout, me, password, sessions. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { ServerContext } from '../context.js'
import { notFound, Problem } from '../problem.js'
import { Credentials, errors, Me, PasswordChange, Session, SessionParam, Tokens } from '../schemas.js'
import type { AuthService, ClientInfo, IssuedTokens } from '../service.js'

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString()

/** The public form of a user: never a password hash. */
export function userBody(user: {
  id: number
  username: string
  roles: string[]
  disabled: boolean
  createdAt: number
}): { id: number; username: string; roles: string[]; disabled: boolean; created_at: string } {
  return {
    id: user.id,
    username: user.username,
    roles: user.roles,
    disabled: user.disabled,
    created_at: iso(user.createdAt),
  }
}

/** Who sent a request. */
export function clientOf(request: FastifyRequest): ClientInfo {
  const agent = request.headers['user-agent']
  return { ip: request.ip, userAgent: typeof agent === 'string' ? agent.slice(0, 512) : undefined }
}

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

/** The token of a protected route (the preHandler guarantees it is there). */
export function jwtOf(request: FastifyRequest): NonNullable<FastifyRequest['jwt']> {
  if (request.jwt === null) throw new Error('route is not protected by jwtRequired')
  return request.jwt
}

type RouteHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>

/** The register, login and refresh handlers, shared by `/auth/*` and the tutorials' paths. */
export function tokenHandlers(
  ctx: ServerContext,
  service: AuthService,
): { register: RouteHandler; login: RouteHandler; refresh: RouteHandler } {
  const credentials = (request: FastifyRequest): { username: string; password: string } =>
    request.body as { username: string; password: string }
  return {
    async register(request, reply) {
      const tokens = await service.register(credentials(request), clientOf(request))
      return sendTokens(ctx, reply, tokens, {
        status: 201,
        message: `User ${tokens.user.username} was created`,
      })
    },
    async login(request, reply) {
      const tokens = await service.login(credentials(request), clientOf(request))
      return sendTokens(ctx, reply, tokens, { message: `Logged in as ${tokens.user.username}` })
    },
    async refresh(request, reply) {
      const tokens = await service.refresh(jwtOf(request).claims, clientOf(request))
      return sendTokens(ctx, reply, tokens, { includeUser: false })
    },
  }
}

/** Registers the `/auth` routes. */
export function authRoutes(app: FastifyInstance, ctx: ServerContext, service: AuthService): void {
  const refreshLocations =
    ctx.config.tokenTransport === 'cookie'
      ? (['cookies', 'headers', 'json'] as const)
      : (['headers', 'json'] as const)
  const tags = ['auth']
  const bearer = [{ bearerAuth: [] }]
  const handlers = tokenHandlers(ctx, service)

  app.post(
    '/auth/register',
    {
      schema: {
        tags,
        summary: 'Create an account and log in',
        body: Credentials,
        response: { 201: Tokens, ...errors(400, 409, 429) },
      },
    },
    handlers.register,
  )

  app.post(
    '/auth/login',
    {
      schema: {
        tags,
        summary: 'Log in with a password (the access token is fresh)',
        body: Credentials,
        response: { 200: Tokens, ...errors(400, 401, 403, 429) },
      },
    },
    handlers.login,
  )

  app.post(
    '/auth/refresh',
    {
      preHandler: app.jwtRequired({ refresh: true, locations: [...refreshLocations] }),
      schema: {
        tags,
        summary: 'Rotate the refresh token: a new access token and a new refresh token',
        security: bearer,
        response: { 200: Tokens, ...errors(401) },
      },
    },
    handlers.refresh,
  )

  const endSession = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    await service.logout(jwtOf(request).claims, 'logout', clientOf(request))
    if (ctx.config.tokenTransport === 'cookie') reply.unsetJwtCookies()
    return reply.code(204).send()
  }
  app.post(
    '/auth/logout',
    {
      preHandler: app.jwtRequired(),
      schema: {
        tags,
        summary: 'Revoke this token and its session',
        security: bearer,
        response: { 204: Type.Null(), ...errors(401) },
      },
    },
    endSession,
  )

  app.post(
    '/auth/logout-all',
    {
      preHandler: app.jwtRequired(),
      schema: {
        tags,
        summary: 'Revoke every session of the user',
        security: bearer,
        response: { 204: Type.Null(), ...errors(401) },
      },
    },
    async (request, reply) => {
      const { claims } = jwtOf(request)
      await service.logoutAll(Number(claims.sub), 'logout_all', undefined, {
        client: clientOf(request),
        token: claims,
      })
      if (ctx.config.tokenTransport === 'cookie') reply.unsetJwtCookies()
      return reply.code(204).send()
    },
  )

  app.get(
    '/auth/me',
    {
      preHandler: app.jwtRequired(),
      schema: {
        tags,
        summary: 'Who the token belongs to (from the verified token: no database read)',
        security: bearer,
        response: { 200: Me, ...errors(401) },
      },
    },
    (request) => {
      // A protected route like any other: it answers from the token, so it keeps working while the
      // database is down. The token's roles are the ones every protected route enforces; a change of
      // roles or a deletion revokes the user's tokens.
      const { claims } = jwtOf(request)
      const id = Number(claims.sub)
      // Authentic but not one of this server's users (its `sub` is always a user id): refused, never
      // a 500 from serialising NaN.
      if (!Number.isSafeInteger(id) || id < 1) {
        throw new Problem(401, 'token_revoked', 'The token subject is not a user of this server', {
          'www-authenticate': 'Bearer error="invalid_token"',
        })
      }
      return {
        id,
        username: typeof claims.username === 'string' ? claims.username : claims.sub,
        roles: Array.isArray(claims.roles) ? claims.roles.filter((r) => typeof r === 'string') : [],
        session_id: typeof claims.sid === 'string' ? claims.sid : null,
      }
    },
  )

  app.post(
    '/auth/password',
    {
      preHandler: app.jwtRequired({ fresh: true }),
      schema: {
        tags,
        summary: 'Change the password (needs a fresh token); ends every other session',
        security: bearer,
        body: PasswordChange,
        response: { 204: Type.Null(), ...errors(400, 401) },
      },
    },
    async (request, reply) => {
      const { claims } = jwtOf(request)
      const body = request.body as { current_password: string; new_password: string }
      await service.changePassword(
        Number(claims.sub),
        typeof claims.sid === 'string' ? claims.sid : undefined,
        body.current_password,
        body.new_password,
        clientOf(request),
      )
      return reply.code(204).send()
    },
  )

  app.get(
    '/auth/sessions',
    {
      preHandler: app.jwtRequired(),
      schema: {
        tags,
        summary: "The user's live sessions",
        security: bearer,
        response: { 200: Type.Object({ sessions: Type.Array(Session) }), ...errors(401) },
      },
    },
    async (request) => {
      const { claims } = jwtOf(request)
      const sessions = await ctx.stores.sessions.listForUser(Number(claims.sub))
      return {
        sessions: sessions.map((s) => ({
          id: s.id,
          created_at: iso(s.createdAt),
          last_used_at: iso(s.lastUsedAt),
          expires_at: iso(s.expiresAt),
          user_agent: s.userAgent,
          ip: s.ip,
          current: s.id === claims.sid,
        })),
      }
    },
  )

  app.delete(
    '/auth/sessions/:id',
    {
      preHandler: app.jwtRequired(),
      schema: {
        tags,
        summary: 'End one of your sessions',
        security: bearer,
        params: SessionParam,
        response: { 204: Type.Null(), ...errors(401, 404) },
      },
    },
    async (request, reply) => {
      const { claims } = jwtOf(request)
      const { id } = request.params as { id: string }
      if (!(await service.revokeOwnSession(Number(claims.sub), id, clientOf(request))))
        throw notFound('Session')
      return reply.code(204).send()
    },
  )
}
