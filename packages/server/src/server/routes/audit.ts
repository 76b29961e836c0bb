/** `GET /audit`: the admin's view of the audit log (role `admin`; 403 otherwise), newest first. */
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { AuditEvent } from '../../stores/sql/audit.js'
import type { ServerContext } from '../context.js'
import { validation } from '../problem.js'
import { errors } from '../schemas.js'

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
      Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: '1 to 500, default 100.' }),
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

/** Unix seconds from an ISO 8601 time or a number of seconds; a clear 400 otherwise. */
function parseSince(value: string): number {
  if (/^\d{1,12}$/.test(value)) return Number(value)
  const ms = Date.parse(value)
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms)) {
    throw validation('since: expected an ISO 8601 time (2026-01-31T12:00:00Z) or Unix seconds')
  }
  return Math.floor(ms / 1000)
}

const toBody = (event: AuditEvent): Record<string, unknown> => ({
  id: event.id,
  at: new Date(event.at * 1000).toISOString(),
  type: event.event,
  user_id: event.userId,
  actor_id: event.actorId,
  ip: event.ip,
  user_agent: event.userAgent,
  detail: event.detail,
})

/** Registers `GET /audit`. */
export function auditRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get(
    '/audit',
    {
      preHandler: app.jwtRequired({ roles: ['admin'] }),
      schema: {
        tags: ['admin'],
        summary: 'The audit log, newest first (paginated with `before`)',
        security: [{ bearerAuth: [] }],
        querystring: AuditQuery,
        response: {
          200: Type.Object({
            events: Type.Array(AuditEventBody),
            next_before: Type.Union([Type.Integer(), Type.Null()], {
              description: 'Pass as `before` for the next page; null on the last page.',
            }),
          }),
          ...errors(400, 401, 403),
        },
      },
    },
    async (request) => {
      const query = request.query as {
        user?: string
        type?: string
        since?: string
        before?: string
        limit?: string
      }
      const limit = Math.min(Number(query.limit ?? 100), 500)
      const events = await ctx.stores.audit.list({
        userId: query.user === undefined ? undefined : Number(query.user),
        event: query.type,
        since: query.since === undefined ? undefined : parseSince(query.since),
        beforeId: query.before === undefined ? undefined : Number(query.before),
        limit,
      })
      const last = events.at(-1)
      return {
        events: events.map(toBody),
        next_before: events.length === limit && last !== undefined ? last.id : null,
      }
    },
  )
}
