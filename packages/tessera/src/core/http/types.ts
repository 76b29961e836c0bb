/**
 * Types shared by the HTTP layer and the adapters: where tokens live, the request context a protected
 * route sees, the error response, and the small request abstraction ({@link HttpIO}) each adapter
 * implements once for its framework.
 */
import type { AnyTesseraError } from '../errors.js'
import type { AppClaims, AppUser, DeepReadonly, JwtClaims, JwtHeader } from '../types.js'

/** Where a token can be looked for, in the order given. */
export type TokenLocation = 'headers' | 'cookies' | 'query' | 'json'

/** Every {@link TokenLocation}. */
export const TOKEN_LOCATIONS: readonly TokenLocation[] = Object.freeze([
  'headers',
  'cookies',
  'query',
  'json',
])

/**
 * What a protected route sees as `request.jwt` (Fastify) or `req.jwt` (Express). `C` and `U` default to
 * the types declared in `TesseraTypes`.
 */
export interface RequestJwt<C = AppClaims, U = AppUser> {
  /** The verified JOSE header, deeply frozen. */
  header: DeepReadonly<JwtHeader>
  /** The verified claims (flask-jwt-extended's `get_jwt()`), deeply frozen (copy them to change them). */
  claims: JwtClaims<C>
  /** The identity claim's value (`get_jwt_identity()`). */
  identity: string
  /** Where the token was found. */
  location: TokenLocation
  /** What the `userLookup` hook returned (`current_user`); `undefined` when no hook is configured. */
  user: U
}

/** An HTTP answer to a failed authentication: status, JSON body and extra headers. */
export interface ErrorResponse {
  status: number
  body: Record<string, unknown>
  headers: Record<string, string>
}

/**
 * Turns an error and the default response into the response to send: the counterpart of
 * flask-jwt-extended's `expired_token_loader`, `invalid_token_loader`, `unauthorized_loader`, ….
 */
export type ErrorFormatter<E extends AnyTesseraError = AnyTesseraError> = (
  error: E,
  response: ErrorResponse,
) => ErrorResponse

/**
 * The few things Tessera reads from a request and writes to a reply. Each adapter builds one of these
 * at module scope, so the request path allocates no wrapper per request.
 */
export interface HttpIO<Req, Res> {
  /** The request method, upper case. */
  method(req: Req): string
  /** A request header by lower-case name; `undefined` when absent or repeated into a list. */
  header(req: Req, name: string): string | undefined
  /** A query-string parameter, as the framework parsed it (a list when repeated). */
  query(req: Req, name: string): unknown
  /** The parsed request body (JSON or form), or `undefined`. */
  body(req: Req): unknown
  /** `'http'` or `'https'`, as the framework sees it (proxy trust included). */
  protocol(req: Req): string
  /** The `Host` the request was sent to, with its port, as the framework sees it. */
  host(req: Req): string | undefined
  /** Appends one `Set-Cookie` header to the reply. */
  appendSetCookie(res: Res, cookie: string): void
}
