/** `/users`: the admin's user management (role `admin`; 403 otherwise). */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { ServerContext } from '../context.js'
import { notFound } from '../problem.js'
import { errors, IdParam, Pagination, User, UserPatch } from '../schemas.js'
import type { Actor, AuthService } from '../service.js'
import { clientOf, jwtOf, userBody } from './auth.js'

/** The admin making a change. */
function actorOf(request: FastifyRequest): Actor {
  return { userId: Number(jwtOf(request).claims.sub), client: clientOf(request) }
}

/** Registers the admin routes. */
export function adminRoutes(app: FastifyInstance, ctx: ServerContext, service: AuthService): void {
  const guard = app.jwtRequired({ roles: ['admin'] })
  const tags = ['admin']
  const security = [{ bearerAuth: [] }]

  app.get(
    '/users',
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'List users (paginated)',
        security,
        querystring: Pagination,
        response: {
          200: Type.Object({
            users: Type.Array(User),
            total: Type.Integer(),
            page: Type.Integer(),
            per_page: Type.Integer(),
          }),
          ...errors(401, 403),
        },
      },
    },
    async (request) => {
      const query = request.query as { page?: string; per_page?: string }
      const page = Number(query.page ?? 1)
      const perPage = Math.min(Number(query.per_page ?? 50), 200)
      const result = await ctx.stores.users.list({ limit: perPage, offset: (page - 1) * perPage })
      return { users: result.users.map(userBody), total: result.total, page, per_page: perPage }
    },
  )

  app.get(
    '/users/:id',
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'One user',
        security,
        params: IdParam,
        response: { 200: User, ...errors(401, 403, 404) },
      },
    },
    async (request) => {
      const user = await ctx.stores.users.get(Number((request.params as { id: string }).id))
      if (user === undefined) throw notFound('User')
      return userBody(user)
    },
  )

  app.patch(
    '/users/:id',
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Change roles or disable; removing a role or disabling revokes the user’s tokens',
        security,
        params: IdParam,
        body: UserPatch,
        response: { 200: User, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const id = Number((request.params as { id: string }).id)
      const patch = request.body as { roles?: string[]; disabled?: boolean }
      const updated = await service.updateUser(id, patch, actorOf(request))
      if (updated === undefined) throw notFound('User')
      return userBody(updated)
    },
  )

  app.delete(
    '/users/:id',
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Delete a user and revoke every token of theirs',
        security,
        params: IdParam,
        response: { 204: Type.Null(), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const id = Number((request.params as { id: string }).id)
      if (!(await service.revokeUser(id, 'user_deleted', true, actorOf(request)))) throw notFound('User')
      return reply.code(204).send()
    },
  )
}
