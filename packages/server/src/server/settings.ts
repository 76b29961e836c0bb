/**
 * The auth server's settings, one table declared with TypeBox. Each entry is the schema of the resolved
 * value (its type and lower bounds; config.ts checks every resolved configuration against it, overrides
 * given in code included) and how an operator gives it: its `TESSERA_*` variable, its flag, its default
 * and help line, and the parser of its text form, whose narrower range and messages are the operator's.
 */
import { Type, type Static, type TSchema } from 'typebox'
import { ConfigurationError, isAlgorithm, parseDuration, SUPPORTED_ALGORITHMS, type Algorithm } from 'tessera'

/** How a setting is given as text (variable, flag, `.env`) and what it means. */
interface SettingSource<T = unknown> {
  /** Environment variable, e.g. `TESSERA_PORT`. */
  env: string
  /** Command-line flag without the dashes, e.g. `port`. */
  flag: string
  /** Default, written as an operator would (`'15m'`); `undefined`: unset. */
  default: string | undefined
  /** One line for `--help` and the README's configuration table. */
  help: string
  /** Reads the text form; throws a {@link ConfigurationError} naming `name` (the variable or `--flag`). */
  parse: (value: string, name: string) => T
}

/** A setting as the CLI and the README list it: its key in {@link ServerConfig} and its source. */
export interface SettingInfo extends SettingSource {
  key: string
}

type Setting<S extends TSchema> = S & { readonly source: SettingSource<Static<S>> }
type Given = Omit<SettingSource, 'parse'>

function setting<S extends TSchema>(schema: S, source: SettingSource<Static<S>>): Setting<S> {
  return Object.assign(schema, { source })
}

const text = (given: Given) => setting(Type.String(), { ...given, parse: (value) => value })

const optionalText = (given: Given) =>
  setting(Type.Union([Type.String(), Type.Undefined()]), { ...given, parse: (value) => value })

/** A whole number: the variable takes `min` to `max`; code may go above `max` (a load test's rate limit). */
const integer = (min: number, max: number, given: Given) =>
  setting(Type.Integer({ minimum: min }), {
    ...given,
    parse: (value, name) => {
      const n = Number(value)
      if (!/^\d+$/.test(value.trim()) || n < min || n > max) {
        throw new ConfigurationError(
          name,
          `expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
        )
      }
      return n
    },
  })

function parseBoolean(value: string, name: string): boolean {
  const v = value.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(v)) return true
  if (['0', 'false', 'no', 'off'].includes(v)) return false
  throw new ConfigurationError(name, `expected true or false, got ${JSON.stringify(value)}`)
}

const boolean = (given: Given) => setting(Type.Boolean(), { ...given, parse: parseBoolean })

const oneOf = <const T extends string>(values: readonly T[], given: Given) =>
  setting(Type.Enum(values), {
    ...given,
    parse: (value, name) => {
      const found = values.find((v) => v === value.trim().toLowerCase())
      if (found === undefined) {
        throw new ConfigurationError(
          name,
          `expected one of ${values.join(', ')}, got ${JSON.stringify(value)}`,
        )
      }
      return found
    },
  })

/** Whole seconds from `900` or `'15m'` (see `parseDuration`). */
const duration = (given: Given, { allowZero = false } = {}) =>
  setting(Type.Integer({ minimum: allowZero ? 0 : 1 }), {
    ...given,
    parse: (value, name) => parseDuration(value, name, { allowZero }),
  })

/** Milliseconds from `250ms`, or any duration in whole seconds (`5s`, `1m`, `0`). */
const millis = (min: number, max: number, given: Given) =>
  setting(Type.Integer({ minimum: min }), {
    ...given,
    parse: (value, name) => {
      const ms = /^\s*(\d+)\s*ms\s*$/.exec(value)
      const n = ms === null ? parseDuration(value, name, { allowZero: true }) * 1000 : Number(ms[1])
      if (n < min || n > max) {
        throw new ConfigurationError(
          name,
          `expected from ${min} ms to ${max / 1000} s (250ms, 5s, 1m), got ${JSON.stringify(value)}`,
        )
      }
      return n
    },
  })

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?$/

/** An instant in Unix seconds, from ISO 8601 (a date alone is 00:00 UTC that day) or Unix seconds. */
const instant = (given: Given) =>
  setting(Type.Union([Type.Integer({ minimum: 0 }), Type.Undefined()]), {
    ...given,
    parse: (value, name) => {
      const v = value.trim()
      if (/^\d{9,11}$/.test(v)) return Number(v)
      const ms = ISO_INSTANT.test(v) ? Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v) : Number.NaN
      if (Number.isNaN(ms))
        throw new ConfigurationError(
          name,
          `expected an ISO 8601 instant (2027-03-31 or 2027-03-31T12:00:00Z) or Unix seconds, got ${JSON.stringify(value)}`,
        )
      return Math.floor(ms / 1000)
    },
  })

const algorithm = (given: Given) =>
  setting(Type.Enum(SUPPORTED_ALGORITHMS), {
    ...given,
    parse: (value, name): Algorithm => {
      if (!isAlgorithm(value))
        throw new ConfigurationError(name, `unsupported algorithm ${JSON.stringify(value)}`)
      return value
    },
  })

/**
 * Every setting: the schema of {@link ServerConfig} and, on each property, its variable, flag, default
 * and help (the README's configuration table lists the same).
 */
export const ServerConfigSchema = Type.Object({
  host: text({ env: 'TESSERA_HOST', flag: 'host', default: '127.0.0.1', help: 'Address to listen on.' }),
  port: integer(0, 65_535, {
    env: 'TESSERA_PORT',
    flag: 'port',
    default: '8080',
    help: 'Port to listen on (0: any free port).',
  }),
  /** Directory of the embedded database and key files. */
  dataDir: text({
    env: 'TESSERA_DATA_DIR',
    flag: 'data-dir',
    default: './data',
    help: 'Directory of the SQLite database.',
  }),
  /** `file:…` / a path for SQLite (default `<dataDir>/tessera.db`), or `postgres://…`. */
  databaseUrl: text({
    env: 'TESSERA_DATABASE_URL',
    flag: 'database-url',
    default: undefined,
    help: 'SQLite path or `postgres://…`. Default `<data-dir>/tessera.db`.',
  }),
  /** `redis://…` to share revocations and rate limits across instances. */
  redisUrl: optionalText({
    env: 'TESSERA_REDIS_URL',
    flag: 'redis-url',
    default: undefined,
    help: '`redis://…`: shared revocations, pub/sub and rate limits.',
  }),
  /** Prefix of every Redis key and channel (one per deployment sharing a Redis). */
  redisPrefix: text({
    env: 'TESSERA_REDIS_PREFIX',
    flag: 'redis-prefix',
    default: 'tessera:',
    help: 'Prefix of the Redis keys and channel (one per deployment sharing a Redis).',
  }),
  algorithm: algorithm({
    env: 'TESSERA_ALGORITHM',
    flag: 'algorithm',
    default: 'EdDSA',
    help: 'Signing algorithm (EdDSA, ES256, RS256, PS256, HS256, …).',
  }),
  /** HMAC secret, only with an HS* algorithm (prefer EdDSA: other services verify with the JWKS). */
  secret: optionalText({
    env: 'TESSERA_SECRET',
    flag: 'secret',
    default: undefined,
    help: 'HMAC secret for HS* algorithms (≥ 32 bytes). Not needed for EdDSA.',
  }),
  accessTokenTtl: duration({
    env: 'TESSERA_ACCESS_TOKEN_TTL',
    flag: 'access-token-ttl',
    default: '15m',
    help: 'Access token lifetime.',
  }),
  refreshTokenTtl: duration({
    env: 'TESSERA_REFRESH_TOKEN_TTL',
    flag: 'refresh-token-ttl',
    default: '30d',
    help: 'Refresh token lifetime.',
  }),
  issuer: optionalText({
    env: 'TESSERA_ISSUER',
    flag: 'issuer',
    default: undefined,
    help: '`iss` written and required.',
  }),
  audience: optionalText({
    env: 'TESSERA_AUDIENCE',
    flag: 'audience',
    default: undefined,
    help: '`aud` written and required.',
  }),
  tokenTransport: oneOf(['header', 'cookie'], {
    env: 'TESSERA_TOKEN_TRANSPORT',
    flag: 'token-transport',
    default: 'header',
    help: '`header` (JSON bodies + Authorization) or `cookie` (HttpOnly cookies + CSRF).',
  }),
  /** `auto`: Secure unless the request is to localhost over plain http. */
  cookieSecure: setting(Type.Union([Type.Literal('auto'), Type.Boolean()]), {
    env: 'TESSERA_COOKIE_SECURE',
    flag: 'cookie-secure',
    default: 'auto',
    help: '`auto` (Secure except localhost over http), `true` or `false`.',
    parse: (value, name) => (value.trim().toLowerCase() === 'auto' ? 'auto' : parseBoolean(value, name)),
  }),
  cookieSameSite: oneOf(['lax', 'strict', 'none'], {
    env: 'TESSERA_COOKIE_SAMESITE',
    flag: 'cookie-samesite',
    default: 'lax',
    help: 'SameSite of the cookies: lax, strict or none (none needs Secure).',
  }),
  /** Cookie mode: refuse unsafe requests whose Origin / Sec-Fetch-Site names another site. */
  checkOrigin: boolean({
    env: 'TESSERA_CHECK_ORIGIN',
    flag: 'check-origin',
    default: 'true',
    help: 'Cookie mode: also refuse unsafe requests whose Origin or Sec-Fetch-Site names another site.',
  }),
  /** Origins accepted besides the server's own (a separate front end), comma-separated. */
  trustedOrigins: setting(Type.Array(Type.String()), {
    env: 'TESSERA_TRUSTED_ORIGINS',
    flag: 'trusted-origins',
    default: '',
    help: 'Comma-separated origins (https://app.example.com) accepted besides the server’s own.',
    parse: (value) =>
      value
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== ''),
  }),
  /** Seconds during which a just-rotated refresh token still yields the same successor (two tabs). */
  refreshGraceSeconds: integer(0, 300, {
    env: 'TESSERA_REFRESH_GRACE',
    flag: 'refresh-grace',
    default: '10',
    help: 'Seconds a rotated refresh token still yields the same successor.',
  }),
  /** Attempts per minute before 429: per client IP, and per account. */
  loginRatePerIp: integer(1, 100_000, {
    env: 'TESSERA_LOGIN_RATE_PER_IP',
    flag: 'login-rate-per-ip',
    default: '20',
    help: 'Login attempts per minute per client IP.',
  }),
  loginRatePerAccount: integer(1, 100_000, {
    env: 'TESSERA_LOGIN_RATE_PER_ACCOUNT',
    flag: 'login-rate-per-account',
    default: '10',
    help: 'Login attempts per minute per account.',
  }),
  registerRatePerIp: integer(1, 100_000, {
    env: 'TESSERA_REGISTER_RATE_PER_IP',
    flag: 'register-rate-per-ip',
    default: '10',
    help: 'Registrations per minute per client IP.',
  }),
  logLevel: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    env: 'TESSERA_LOG_LEVEL',
    flag: 'log-level',
    default: 'info',
    help: 'fatal, error, warn, info, debug, trace or silent.',
  }),
  /** Trust `X-Forwarded-*` from a proxy in front (true, a hop count, or addresses). */
  trustProxy: setting(Type.Union([Type.Boolean(), Type.Integer({ minimum: 0 }), Type.String()]), {
    env: 'TESSERA_TRUST_PROXY',
    flag: 'trust-proxy',
    default: 'false',
    help: 'Trust X-Forwarded-For: true, a hop count, or addresses.',
    parse: (v) => (/^\d+$/.test(v) ? Number(v) : /^(true|false)$/i.test(v) ? v.toLowerCase() === 'true' : v),
  }),
  /** Allow lifetimes above the sane bounds (access > 1 h, refresh > 90 d). */
  allowLongLifetimes: boolean({
    env: 'TESSERA_ALLOW_LONG_LIFETIMES',
    flag: 'allow-long-lifetimes',
    default: 'false',
    help: 'Start even with access > 1 h or refresh > 90 d.',
  }),
  /** Database connection pool size (PostgreSQL). */
  databasePoolSize: integer(1, 1000, {
    env: 'TESSERA_DATABASE_POOL_SIZE',
    flag: 'database-pool-size',
    default: '10',
    help: 'PostgreSQL connection pool size.',
  }),
  /** Seconds the JWKS may be cached (`Cache-Control: max-age`); a scheduled rotation waits this long. */
  jwksMaxAge: duration(
    {
      env: 'TESSERA_JWKS_MAX_AGE',
      flag: 'jwks-max-age',
      default: '5m',
      help: 'How long services may cache the JWKS; `keys rotate` signs with the new key only after it (+ the key refresh interval).',
    },
    { allowZero: true },
  ),
  /** Seconds between two key-ring refreshes from the database (rotation, revocation, pruning). */
  keyRefreshInterval: duration({
    env: 'TESSERA_KEY_REFRESH_INTERVAL',
    flag: 'key-refresh-interval',
    default: '5s',
    help: 'How often every instance reloads the signing keys (rotations, revocations, pruning) from the database.',
  }),
  /**
   * Milliseconds a request may wait on the database in all (statement and connection timeouts, SQLite
   * busy timeout, and the deadline after which a request answers 503 + Retry-After).
   */
  databaseTimeoutMs: millis(100, 600_000, {
    env: 'TESSERA_DATABASE_TIMEOUT',
    flag: 'database-timeout',
    default: '5s',
    help: 'Longest wait on the database (statement, connection, SQLite lock); a request still waiting answers 503.',
  }),
  /** Milliseconds between maintenance runs (purges, gauges) on this instance; 0: never. */
  maintenanceIntervalMs: millis(0, 86_400_000, {
    env: 'TESSERA_MAINTENANCE_INTERVAL',
    flag: 'maintenance-interval',
    default: '60s',
    help: 'Time between maintenance runs (purge expired rows, refresh gauges); 0 disables them.',
  }),
  /** Seconds expired or revoked sessions are kept before the maintenance job deletes them. */
  sessionRetention: duration(
    {
      env: 'TESSERA_SESSION_RETENTION',
      flag: 'session-retention',
      default: '7d',
      help: 'How long expired or revoked sessions are kept (shown to nobody; for investigations).',
    },
    { allowZero: true },
  ),
  /** Seconds audit events are kept before the maintenance job deletes them. */
  auditRetention: duration({
    env: 'TESSERA_AUDIT_RETENTION',
    flag: 'audit-retention',
    default: '90d',
    help: 'How long audit events are kept.',
  }),
  /** Milliseconds between SIGTERM (`/readyz` answers 503 at once) and closing the listener. */
  shutdownDelayMs: millis(0, 600_000, {
    env: 'TESSERA_SHUTDOWN_DELAY',
    flag: 'shutdown-delay',
    default: '5s',
    help: 'On SIGTERM, time spent answering not-ready on /readyz while still serving, before closing.',
  }),
  /** The previous system's HS256 secret (flask-jwt-extended's JWT_SECRET_KEY): its tokens stay valid until `legacyUntil`. */
  legacyHsSecret: optionalText({
    env: 'TESSERA_LEGACY_HS_SECRET',
    flag: 'legacy-hs-secret',
    default: undefined,
    help: 'The previous app’s HS256 secret (flask-jwt-extended JWT_SECRET_KEY): its tokens are honoured until TESSERA_LEGACY_UNTIL.',
  }),
  /** End of the legacy window (Unix seconds); also the expiry of imported revoked jtis. */
  legacyUntil: instant({
    env: 'TESSERA_LEGACY_UNTIL',
    flag: 'legacy-until',
    default: undefined,
    help: 'End of the legacy window (ISO 8601 or Unix seconds); required with TESSERA_LEGACY_HS_SECRET.',
  }),
  /** Shortest new password, in characters. */
  passwordMinLength: integer(8, 128, {
    env: 'TESSERA_PASSWORD_MIN_LENGTH',
    flag: 'password-min-length',
    default: '8',
    help: 'Shortest new password, in characters (8 to 128).',
  }),
  /** Lowest zxcvbn score (0–4) a new password must reach. */
  passwordMinScore: integer(0, 4, {
    env: 'TESSERA_PASSWORD_MIN_SCORE',
    flag: 'password-min-score',
    default: '3',
    help: 'Lowest zxcvbn strength score of a new password, 0 (off) to 4.',
  }),
})

/** Resolved server settings (see {@link ServerConfigSchema} for each one's meaning and variable). */
export type ServerConfig = Static<typeof ServerConfigSchema>

/** Token transport between the server and its clients. */
export type TokenTransport = ServerConfig['tokenTransport']

/** Every setting, its variable, flag, default and meaning: the README's configuration table is made from it. */
export const SETTINGS: readonly SettingInfo[] = Object.entries(ServerConfigSchema.properties).map(
  ([key, schema]) => ({ key, ...schema.source }),
)
