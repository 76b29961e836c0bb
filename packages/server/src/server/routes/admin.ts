/** `/users`: the admin's user management (role `admin`; 403 otherwise) — HTTP to service calls and back. */
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { IdParam, Pagination, User, UserPatch } from '../schemas.js'
import type { AuthService } from '../service.js'
import { callerOf, guarded, idParam, noContent, noStore, numberOf, ok, userBody } from './http.js'

const nullable = (description: string) => Type.Union([Type.Integer(), Type.Null()], { description })

const UserPage = Type.Object({
  users: Type.Array(User),
  total: nullable('How many users there are; null on `after` pages (counted on the first page only).'),
  page: nullable('The page number; null on `after` pages.'),
  per_page: Type.Integer(),
  next_after: nullable('Pass as `after` for the next page; null on the last page.'),
})

/** Registers the admin routes. */
export function adminRoutes(app: FastifyInstance, service: AuthService): void {
  const preHandler = app.jwtRequired({ roles: ['admin'] })
  const tags = ['admin']
  const one = { params: IdParam }

  const list = guarded(
    tags,
    'List users in id order (paginated with `after`, or `page`)',
    ok(UserPage, 400, 401, 403),
    { querystring: Pagination },
  )
  app.get('/users', { onRequest: noStore, preHandler, schema: list }, async (request) => {
    const query = request.query as { page?: string; per_page?: string; after?: string }
    const page = await service.listUsers({
      page: numberOf(query.page),
      perPage: numberOf(query.per_page),
      after: numberOf(query.after),
    })
    return {
      users: page.users.map(userBody),
      total: page.total,
      page: page.page,
      per_page: page.perPage,
      next_after: page.nextAfter,
    }
  })

  const get = guarded(tags, 'One user', ok(User, 400, 401, 403, 404), one)
  app.get('/users/:id', { onRequest: noStore, preHandler, schema: get }, async (request) =>
    userBody(await service.getUser(idParam(request))),
  )

  const summary = 'Change roles or disable; removing a role or disabling revokes the user’s tokens'
  const patch = guarded(tags, summary, ok(User, 400, 401, 403, 404, 409), { ...one, body: UserPatch })
  app.patch('/users/:id', { onRequest: noStore, preHandler, schema: patch }, async (request) => {
    const change = request.body as { roles?: string[]; disabled?: boolean }
    return userBody(await service.updateUser(callerOf(request), idParam(request), change))
  })

  const remove = guarded(
    tags,
    'Delete a user and revoke every token of theirs',
    noContent(400, 401, 403, 404, 409),
    one,
  )
  app.delete('/users/:id', { preHandler, schema: remove }, async (request, reply) => {
    await service.deleteUser(callerOf(request), idParam(request))
    return reply.code(204).send()
  })
}
