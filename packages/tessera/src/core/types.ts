/**
 * Shared types of the core. Applications type their claims and user object once, by declaration
 * merging, in a file that is a module (one import or export, e.g. `export {}`: in a file without one
 * the block declares a new module `tessera` that hides the real one):
 *
 * ```ts
 * export {}
 * declare module 'tessera' {
 *   interface TesseraTypes { claims: { roles: string[] }; user: User }
 * }
 * ```
 */

/** Extension point for application types; see the module comment. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface TesseraTypes {}

/** The application's own claims (from {@link TesseraTypes}), or a plain record when none were declared. */
export type AppClaims = TesseraTypes extends { claims: infer C } ? C : Record<string, unknown>

/** The application's user type (from {@link TesseraTypes}), or `unknown` when none was declared. */
export type AppUser = TesseraTypes extends { user: infer U } ? U : unknown

/** Token kinds. */
export type TokenType = 'access' | 'refresh'

/** A decoded JOSE header. */
export interface JwtHeader {
  alg: string
  typ?: string | undefined
  kid?: string | undefined
  [parameter: string]: unknown
}

/** The registered and Tessera claims every token carries, plus whatever the application adds. */
export interface RegisteredClaims {
  /** Identity (subject). Always a string. */
  sub: string
  /**
   * Issued at. Tessera always writes it, and requires it while `maxTokenAge` is on (the default); with
   * `maxTokenAge: false` a token without it verifies, so it may be absent.
   */
  iat?: number | undefined
  nbf?: number | undefined
  exp: number
  jti: string
  type: TokenType
  /** `true`, `false`, or a NumericDate until which the token counts as fresh. */
  fresh: boolean | number
  /** Session id, when the token belongs to a session. */
  sid?: string | undefined
  /** Double-submit CSRF value, in cookie mode. */
  csrf?: string | undefined
  aud?: string | string[] | undefined
  iss?: string | undefined
}

/**
 * `T` read-only all the way down, as a value deeply frozen by `Object.freeze` is: arrays become
 * `readonly` arrays (tuples keep their length), objects' properties `readonly`, at every depth. Arrays
 * are mapped through their element type, so recursive JSON types (`type Json = … | Json[] | { [k:
 * string]: Json }`) work too.
 */
export type DeepReadonly<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly (infer E)[]
    ? number extends T['length']
      ? readonly DeepReadonly<E>[]
      : { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T

/**
 * Claims of a verified token: registered claims plus the application's claims, read-only at every depth
 * (a verified token's claims are deeply frozen, see {@link VerifiedToken}: `claims.roles.push(…)` would
 * throw).
 */
export type JwtClaims<C = AppClaims> = DeepReadonly<RegisteredClaims & C & Record<string, unknown>>

/**
 * The result of a successful verification. `header` and `claims` are deeply frozen: they are what the
 * token says, and the same objects may be handed to every request that presents the same token (the
 * verified-token cache). Copy them to build something else (`{ ...claims, extra }`).
 */
export interface VerifiedToken<C = AppClaims> {
  readonly header: DeepReadonly<JwtHeader>
  readonly claims: JwtClaims<C>
  /** The identity claim's value (`sub` unless configured otherwise). */
  readonly identity: string
}
