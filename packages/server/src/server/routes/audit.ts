/** `GET /audit`: the admin's view of the audit log (role `admin`; 403 otherwise), newest first. */
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { AuditEvent } from '../../stores/sql/audit.js'
import { errors } from '../schemas.js'
import type { AuthService } from '../service.js'
import { guarded, iso, noStore, numberOf } from './http.js'

const AuditQuery = Type.Object(
  {
    user: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'Subject or actor user id.' })),
    type: Type.Optional(
      Type.String({ pattern: '^[a-z_]{1,64}$', description: 'Event type, e.g. login_failed.' }),
    ),
    since: Type.Optional(
      Type.String({ maxLength: 40, description: 'ISO 8601 time or Unix seconds: events at or after it.' }),
    ),
    before: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,15}$', description: 'Cursor: `next_before` of the previous page.' }),
    ),
    limit: Type.Optional(
      // 1 to 500 in the pattern itself: a larger limit is refused (400), never silently cut to 500.
      Type.String({ pattern: '^([1-9][0-9]?|[1-4][0-9]{2}|500)$', description: '1 to 500, default 100.' }),
    ),
  },
  { additionalProperties: false },
)

const AuditEventBody = Type.Object({
  id: Type.Integer(),
  at: Type.String({ description: 'ISO 8601.' }),
  type: Type.String(),
  user_id: Type.Union([Type.Integer(), Type.Null()], { description: 'The subject.' }),
  actor_id: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Who made the change when not the subject (an admin); null for the CLI.',
  }),
  ip: Type.Union([Type.String(), Type.Null()]),
  user_agent: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
})

const AuditPageBody = Type.Object({
  events: Type.Array(AuditEventBody),
  next_before: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Pass as `before` for the next page; null on the last page.',
  }),
})

const toBody = (event: AuditEvent): Record<string, unknown> => ({
  id: event.id,
  at: iso(event.at),
  type: event.event,
  user_id: event.userId,
  actor_id: event.actorId,
  ip: event.ip,
  user_agent: event.userAgent,
  detail: event.detail,
})

/** Registers `GET /audit`. */
export function auditRoutes(app: FastifyInstance, service: AuthService): void {
  app.get(
    '/audit',
    {
      onRequest: noStore,
      preHandler: app.jwtRequired({ roles: ['admin'] }),
      schema: guarded(
        ['admin'],
        'The audit log, newest first (paginated with `before`)',
        { 200: AuditPageBody, ...errors(400, 401, 403) },
        { querystring: AuditQuery },
      ),
    },
    async (request) => {
      const query = request.query as {
        user?: string
        type?: string
        since?: string
        before?: string
        limit?: string
      }
      const page = await service.auditLog({
        userId: numberOf(query.user),
        event: query.type,
        since: query.since,
        before: numberOf(query.before),
        limit: numberOf(query.limit),
      })
      return { events: page.events.map(toBody), next_before: page.nextBefore }
    },
  )
}
