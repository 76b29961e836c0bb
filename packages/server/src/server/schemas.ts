/**
 * Request and response schemas (JSON Schema through TypeBox): Fastify validates requests with them and
 * @fastify/swagger publishes them as the OpenAPI document. Request bodies refuse unknown fields, so a
 * `role` sent to /auth/register is an error, never stored (no mass assignment).
 */
import { Type, type TRef } from 'typebox'

const strict = { additionalProperties: false } as const

const ERROR_ID = 'Error'

export const ErrorBody = Type.Object(
  { error: Type.String({ description: 'Stable error code.' }), message: Type.String() },
  { $id: ERROR_ID, description: 'Every error response.' },
)

export const Credentials = Type.Object(
  {
    username: Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'Compared after NFKC, case folding and trimming.',
      // What /docs fills "Try it out" with (instead of "string"): a name and a password that pass.
      examples: ['alice'],
    }),
    password: Type.String({
      minLength: 1,
      maxLength: 4096,
      description: '8 to 1024 bytes of UTF-8.',
      examples: ['a long passphrase of your own'],
    }),
  },
  strict,
)

export const PasswordChange = Type.Object(
  {
    current_password: Type.String({ minLength: 1, maxLength: 4096 }),
    new_password: Type.String({ minLength: 1, maxLength: 4096 }),
  },
  strict,
)

export const User = Type.Object(
  {
    id: Type.Integer(),
    username: Type.String(),
    roles: Type.Array(Type.String()),
    disabled: Type.Boolean(),
    created_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'User' },
)

export const Tokens = Type.Object(
  {
    message: Type.Optional(Type.String()),
    access_token: Type.Optional(Type.String({ description: 'Absent in cookie mode.' })),
    refresh_token: Type.Optional(Type.String({ description: 'Absent in cookie mode.' })),
    token_type: Type.Literal('Bearer'),
    expires_in: Type.Integer({ description: 'Seconds until the access token expires.' }),
    refresh_expires_in: Type.Integer(),
    session_id: Type.String(),
    user: Type.Optional(Type.Ref('User')),
  },
  { $id: 'Tokens' },
)

export const Me = Type.Object({
  id: Type.Integer(),
  username: Type.String(),
  roles: Type.Array(Type.String()),
  session_id: Type.Union([Type.String(), Type.Null()]),
})

export const Session = Type.Object({
  id: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.String({ format: 'date-time' }),
  expires_at: Type.String({ format: 'date-time' }),
  user_agent: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean(),
})

export const IdParam = Type.Object({ id: Type.String({ pattern: '^[0-9]{1,15}$' }) })
/**
 * The longest path parameter the router takes (Fastify's `maxParamLength`, passed to it by app.ts): a
 * longer one is answered `validation_error` before routing, so a schema may not allow more.
 */
export const MAX_PARAM_LENGTH = 100
export const SessionParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: MAX_PARAM_LENGTH }) })

export const UserPatch = Type.Object(
  {
    roles: Type.Optional(
      Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_:-]{0,63}$' }), { maxItems: 32, uniqueItems: true }),
    ),
    disabled: Type.Optional(Type.Boolean()),
  },
  { ...strict, minProperties: 1 },
)

export const Pagination = Type.Object(
  {
    page: Type.Optional(
      Type.String({ pattern: '^[1-9][0-9]{0,8}$', description: 'From 1. Not with `after`.' }),
    ),
    per_page: Type.Optional(
      Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: 'Default 50; more than 200 is cut to 200.' }),
    ),
    after: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,15}$',
        description: 'Cursor: `next_after` of the previous page (users with a greater id). Not with `page`.',
      }),
    ),
  },
  strict,
)

/** Shorthand for the error responses a route documents: each a reference to {@link ErrorBody}. */
export function errors(...statuses: number[]): Record<number, TRef<typeof ERROR_ID>> {
  return Object.fromEntries(statuses.map((status) => [status, Type.Ref(ERROR_ID)]))
}
