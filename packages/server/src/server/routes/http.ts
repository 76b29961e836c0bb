/**
 * What every route shares: reading the caller from a request, the public JSON forms of the service's
 * values, and the OpenAPI description of a guarded route.
 */
import type { FastifyRequest, FastifySchema, onRequestHookHandler } from 'fastify'
import { Type, type TSchema } from 'typebox'
import type { PublicUser } from '../../stores/sql/users.js'
import { tokenSecurity } from '../openapi.js'
import { errors } from '../schemas.js'
import type { Caller, ClientInfo } from '../service.js'

/**
 * A route hook marking the answer `Cache-Control: no-store`: for answers about one user (who they are,
 * their sessions with addresses and user agents, the user list, the audit log). With cookies there is
 * no `Authorization` header to keep a shared cache from storing them (RFC 9111 §3.5).
 */
export const noStore: onRequestHookHandler = (_request, reply, done) => {
  void reply.header('cache-control', 'no-store')
  done()
}

/** Unix seconds as ISO 8601. */
export const iso = (seconds: number): string => new Date(seconds * 1000).toISOString()

/** The public form of a user: never a password hash. */
export function userBody(user: Pick<PublicUser, 'id' | 'username' | 'roles' | 'disabled' | 'createdAt'>): {
  id: number
  username: string
  roles: string[]
  disabled: boolean
  created_at: string
} {
  return {
    id: user.id,
    username: user.username,
    roles: user.roles,
    disabled: user.disabled,
    created_at: iso(user.createdAt),
  }
}

/**
 * Who sent a request. Both are cut for the audit log and the limits' keys: the user agent to 512
 * characters, the address to 64 (an address is at most 45; with `TESSERA_TRUST_PROXY=true` a client's
 * `X-Forwarded-For` is taken as it is, kilobytes of it).
 */
export function clientOf(request: FastifyRequest): ClientInfo {
  const agent = request.headers['user-agent']
  return {
    ip: request.ip.length <= 64 ? request.ip : request.ip.slice(0, 64),
    userAgent: typeof agent === 'string' ? agent.slice(0, 512) : undefined,
    requestId: request.id,
  }
}

/** The token of a protected route (the preHandler guarantees it is there). */
export function jwtOf(request: FastifyRequest): NonNullable<FastifyRequest['jwt']> {
  if (request.jwt === null) throw new Error('route is not protected by jwtRequired')
  return request.jwt
}

/** The caller of a protected route: its verified token's claims and its client. */
export function callerOf(request: FastifyRequest): Caller {
  return { token: jwtOf(request).claims, client: clientOf(request) }
}

/** A numeric query parameter (its schema allows digits only), or `undefined` when absent. */
export function numberOf(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value)
}

/** The numeric `:id` of a route (its schema allows digits only). */
export function idParam(request: FastifyRequest): number {
  return Number((request.params as { id: string }).id)
}

/**
 * The OpenAPI description of a route that takes a token: an access token unless `more.security` says
 * otherwise (see {@link tokenSecurity}).
 */
export function guarded(
  tags: string[],
  summary: string,
  response: FastifySchema['response'],
  more: Omit<FastifySchema, 'response'> = {},
): FastifySchema {
  return { tags, summary, security: tokenSecurity.access, ...more, response }
}

/** The responses of a route answering `200` with `body`, or the error statuses. */
export function ok(body: TSchema, ...statuses: number[]): FastifySchema['response'] {
  return { 200: body, ...errors(...statuses) }
}

/** The responses of a route answering `204` without a body, or the error statuses. */
export function noContent(...statuses: number[]): FastifySchema['response'] {
  return { 204: Type.Null(), ...errors(...statuses) }
}
