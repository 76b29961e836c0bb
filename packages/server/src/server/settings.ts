/**
 * The auth server's settings, one table declared with TypeBox. Each row is `setting(kind, given)`: the
 * kind is the schema of the resolved value (its type and lower bound; config.ts checks every resolved
 * configuration against it, overrides given in code included) with the parser of its text form, whose
 * narrower range and messages are the operator's; `given` is how an operator gives it: its `TESSERA_*`
 * variable, its flag, its default and its help line.
 */
import ipaddr from 'ipaddr.js'
import { Type, type Static, type TSchema } from 'typebox'
import { ConfigurationError, isAlgorithm, parseDuration, SUPPORTED_ALGORITHMS, type Algorithm } from 'tessera'
import { DEFAULT_PASSWORD_THREAD_NICE } from './password-pool.js'

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

/** A kind of setting: the schema of its resolved value and the parser of its text form. */
interface Kind<S extends TSchema> {
  schema: S
  parse: (value: string, name: string) => Static<S>
}

const kind = <S extends TSchema>(schema: S, parse: Kind<S>['parse']): Kind<S> => ({ schema, parse })

/** One row of the table: a kind (each call makes a fresh schema) and how an operator gives it. */
function setting<S extends TSchema>(
  { schema, parse }: Kind<S>,
  given: Omit<SettingSource, 'parse'>,
): Setting<S> {
  return Object.assign(schema, { source: { ...given, parse } })
}

const text = () => kind(Type.String(), (value) => value)

const optionalText = () => kind(Type.Union([Type.String(), Type.Undefined()]), (value) => value)

/** A whole number: the variable takes `min` to `max`; code may go above `max` (a load test's rate limit). */
const integer = (min: number, max: number) =>
  kind(Type.Integer({ minimum: min }), (value, name) => {
    const n = Number(value)
    if (!/^\d+$/.test(value.trim()) || n < min || n > max) {
      throw new ConfigurationError(
        name,
        `expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
      )
    }
    return n
  })

function parseBoolean(value: string, name: string): boolean {
  const v = value.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(v)) return true
  if (['0', 'false', 'no', 'off'].includes(v)) return false
  throw new ConfigurationError(name, `expected true or false, got ${JSON.stringify(value)}`)
}

const boolean = () => kind(Type.Boolean(), parseBoolean)

const oneOf = <const T extends string>(...values: T[]) =>
  kind(Type.Enum(values), (value, name) => {
    const found = values.find((v) => v === value.trim().toLowerCase())
    if (found === undefined) {
      throw new ConfigurationError(name, `expected one of ${values.join(', ')}, got ${JSON.stringify(value)}`)
    }
    return found
  })

/** Whole seconds from `900` or `'15m'` (see `parseDuration`). */
const duration = ({ allowZero = false } = {}) =>
  kind(Type.Integer({ minimum: allowZero ? 0 : 1 }), (value, name) =>
    parseDuration(value, name, { allowZero }),
  )

/** A duration as {@link duration} (at least 1 s), or unset. */
const optionalDuration = () =>
  kind(Type.Union([Type.Integer({ minimum: 1 }), Type.Undefined()]), (value, name) =>
    parseDuration(value, name),
  )

/** Milliseconds from `250ms`, or any duration in whole seconds (`5s`, `1m`, `0`). */
const millis = (min: number, max: number) =>
  kind(Type.Integer({ minimum: min }), (value, name) => {
    const ms = /^\s*(\d+)\s*ms\s*$/.exec(value)
    const n = ms === null ? parseDuration(value, name, { allowZero: true }) * 1000 : Number(ms[1])
    if (n < min || n > max) {
      throw new ConfigurationError(
        name,
        `expected from ${min} ms to ${max / 1000} s (250ms, 5s, 1m), got ${JSON.stringify(value)}`,
      )
    }
    return n
  })

/**
 * Milliseconds, as {@link millis}, where 0 turns the thing off and any other value must be at least
 * `min` (a maintenance pass every millisecond would take a core); code may go below `min` (tests).
 */
const millisOrOff = (min: number, max: number) =>
  kind(Type.Integer({ minimum: 0 }), (value, name) => {
    const n = millis(0, max).parse(value, name)
    if (n !== 0 && n < min) {
      throw new ConfigurationError(
        name,
        `expected 0 (off) or from ${min / 1000} s to ${max / 1000} s (30s, 5m), got ${JSON.stringify(value)}`,
      )
    }
    return n
  })

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?$/

/** An instant in Unix seconds, from ISO 8601 (a date alone is 00:00 UTC that day) or Unix seconds. */
const instant = () =>
  kind(Type.Union([Type.Integer({ minimum: 0 }), Type.Undefined()]), (value, name) => {
    const v = value.trim()
    if (/^\d{9,11}$/.test(v)) return Number(v)
    const ms = ISO_INSTANT.test(v) ? Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v) : Number.NaN
    if (Number.isNaN(ms))
      throw new ConfigurationError(
        name,
        `expected an ISO 8601 instant (2027-03-31 or 2027-03-31T12:00:00Z) or Unix seconds, got ${JSON.stringify(value)}`,
      )
    return Math.floor(ms / 1000)
  })

const algorithm = () =>
  kind(Type.Enum(SUPPORTED_ALGORITHMS), (value, name): Algorithm => {
    if (!isAlgorithm(value))
      throw new ConfigurationError(name, `unsupported algorithm ${JSON.stringify(value)}`)
    return value
  })

/** `auto`, or true or false. */
const autoOrBoolean = () =>
  kind(Type.Union([Type.Literal('auto'), Type.Boolean()]), (value, name) =>
    value.trim().toLowerCase() === 'auto' ? 'auto' : parseBoolean(value, name),
  )

/** A comma-separated list; empty items are dropped. */
const commaList = () =>
  kind(Type.Array(Type.String()), (value) =>
    value
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== ''),
  )

/** Origins (`https://app.example.com`: scheme, host, optional port, nothing after), comma-separated. */
const origins = () =>
  kind(Type.Array(Type.String()), (value, name) => {
    const list = commaList().parse(value, name)
    for (const origin of list) {
      let parsed: URL | undefined
      try {
        parsed = new URL(origin)
      } catch {
        parsed = undefined
      }
      if (parsed === undefined || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin) {
        // Browsers send the serialised form (lower case, no default port, no path): compared exactly.
        const hint =
          parsed !== undefined && /^https?:$/.test(parsed.protocol) ? `: write it as ${parsed.origin}` : ''
        throw new ConfigurationError(
          name,
          `${JSON.stringify(origin)} is not an origin as browsers send it (scheme, host and port only, like https://app.example.com)${hint}`,
        )
      }
    }
    return list
  })

/**
 * A cookie `Domain`: a host name of two labels or more (`example.com`, `auth.example.com`), lower case,
 * without scheme, port or path; a leading dot is ignored by browsers (RFC 6265 §5.2.3) and refused here.
 */
const cookieDomain = () =>
  kind(Type.Union([Type.String(), Type.Undefined()]), (value, name) => {
    const domain = value.trim()
    if (domain === '') return undefined
    if (!/^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(domain)) {
      throw new ConfigurationError(
        name,
        `${JSON.stringify(value)} is not a cookie domain: a lower-case host name like example.com (no scheme, port, path or leading dot)`,
      )
    }
    return domain
  })

/**
 * What ioredis connects to: `redis://` or `rediss://` (TLS) URLs, a unix socket path, `host:port`. Refused:
 * another scheme (`http://` once started a server whose Redis could never answer) and spaces. The value
 * is never echoed: it may hold a password.
 */
const redisUrl = () =>
  kind(Type.Union([Type.String(), Type.Undefined()]), (value, name) => {
    const url = value.trim()
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]
    if (url === '' || /\s/.test(url) || (scheme !== undefined && !/^rediss?$/i.test(scheme))) {
      throw new ConfigurationError(
        name,
        `expected redis://[user:password@]host[:port][/db], rediss://… (TLS) or a unix socket path${scheme === undefined ? '' : `, not ${scheme}://…`}`,
      )
    }
    return url
  })

/** proxy-addr's names of address ranges, usable in `TESSERA_TRUST_PROXY`. */
const PROXY_RANGES = ['loopback', 'linklocal', 'uniquelocal']

/**
 * Fastify's `trustProxy`: true or false, or the proxies' addresses and ranges (`10.0.0.0/8`,
 * `uniquelocal`). A hop count is refused: Fastify (5.12) trusts no proxy for a number, so `1` would
 * silently count every client as the load balancer's address (one rate limit for all), and a hop
 * count trusts whoever reaches the server directly anyway.
 */
const proxyTrust = () =>
  kind(Type.Union([Type.Boolean(), Type.String()]), (value, name) => {
    const v = value.trim()
    if (/^(true|false)$/i.test(v)) return v.toLowerCase() === 'true'
    if (/^\d+$/.test(v))
      throw new ConfigurationError(
        name,
        `a hop count (${v}) is not supported: name the proxies' addresses or ranges instead ` +
          `(10.0.0.0/8, 172.16.0.0/12, loopback, uniquelocal), or true to trust any`,
      )
    const items = v.split(',').map((item) => item.trim())
    // Dotted quads only: ipaddr.js also reads `1` as 0.0.0.1 and `127.1` as 127.0.0.1, so a hop count
    // in a list would pass as an address.
    const bad = items.find(
      (item) =>
        !PROXY_RANGES.includes(item) &&
        !ipaddr.IPv4.isValidFourPartDecimal(item) &&
        !ipaddr.IPv6.isValid(item) &&
        !ipaddr.IPv4.isValidCIDRFourPartDecimal(item) &&
        !ipaddr.IPv6.isValidCIDR(item),
    )
    if (bad !== undefined)
      throw new ConfigurationError(
        name,
        `expected true, false or addresses and ranges (10.0.0.0/8, ::1, loopback, uniquelocal), got ${JSON.stringify(bad)}`,
      )
    return items.join(',')
  })

/**
 * Every setting: the schema of {@link ServerConfig} and, on each property, its variable, flag, default
 * and help (the README's configuration table lists the same).
 */
export const ServerConfigSchema = Type.Object({
  host: setting(text(), {
    env: 'TESSERA_HOST',
    flag: 'host',
    default: '127.0.0.1',
    help: 'Address to listen on.',
  }),
  port: setting(integer(0, 65_535), {
    env: 'TESSERA_PORT',
    flag: 'port',
    default: '8080',
    help: 'Port to listen on (0: any free port).',
  }),
  /** Directory of the embedded database and key files. */
  dataDir: setting(text(), {
    env: 'TESSERA_DATA_DIR',
    flag: 'data-dir',
    default: './data',
    help: 'Directory of the SQLite database.',
  }),
  /** `file:…` / a path for SQLite (default `<dataDir>/tessera.db`), or `postgres://…`. */
  databaseUrl: setting(text(), {
    env: 'TESSERA_DATABASE_URL',
    flag: 'database-url',
    default: undefined,
    help: 'SQLite path or `postgres://…`. Default `<data-dir>/tessera.db`.',
  }),
  /** `redis://…` to share revocations and rate limits across instances. */
  redisUrl: setting(redisUrl(), {
    env: 'TESSERA_REDIS_URL',
    flag: 'redis-url',
    default: undefined,
    help: '`redis://…`: shared revocations, pub/sub and rate limits.',
  }),
  /** Prefix of every Redis key and channel (one per deployment sharing a Redis). */
  redisPrefix: setting(text(), {
    env: 'TESSERA_REDIS_PREFIX',
    flag: 'redis-prefix',
    default: 'tessera:',
    help: 'Prefix of the Redis keys and channel (one per deployment sharing a Redis).',
  }),
  algorithm: setting(algorithm(), {
    env: 'TESSERA_ALGORITHM',
    flag: 'algorithm',
    default: 'EdDSA',
    help: 'Signing algorithm (EdDSA, ES256, RS256, PS256, HS256, …).',
  }),
  /** HMAC secret, only with an HS* algorithm (prefer EdDSA: other services verify with the JWKS). */
  secret: setting(optionalText(), {
    env: 'TESSERA_SECRET',
    flag: 'secret',
    default: undefined,
    help: 'HMAC secret for HS* algorithms (≥ 32 bytes). Not needed for EdDSA.',
  }),
  accessTokenTtl: setting(duration(), {
    env: 'TESSERA_ACCESS_TOKEN_TTL',
    flag: 'access-token-ttl',
    default: '15m',
    help: 'Access token lifetime.',
  }),
  refreshTokenTtl: setting(duration(), {
    env: 'TESSERA_REFRESH_TOKEN_TTL',
    flag: 'refresh-token-ttl',
    default: '30d',
    help: 'Refresh token lifetime.',
  }),
  issuer: setting(optionalText(), {
    env: 'TESSERA_ISSUER',
    flag: 'issuer',
    default: undefined,
    help: '`iss` written and required.',
  }),
  audience: setting(optionalText(), {
    env: 'TESSERA_AUDIENCE',
    flag: 'audience',
    default: undefined,
    help: '`aud` written and required.',
  }),
  tokenTransport: setting(oneOf('header', 'cookie'), {
    env: 'TESSERA_TOKEN_TRANSPORT',
    flag: 'token-transport',
    default: 'header',
    help: '`header` (JSON bodies + Authorization) or `cookie` (HttpOnly cookies + CSRF).',
  }),
  /** `auto`: Secure unless the request is to localhost over plain http. */
  cookieSecure: setting(autoOrBoolean(), {
    env: 'TESSERA_COOKIE_SECURE',
    flag: 'cookie-secure',
    default: 'auto',
    help: '`auto` (Secure except localhost over http), `true` or `false`.',
  }),
  cookieSameSite: setting(oneOf('lax', 'strict', 'none'), {
    env: 'TESSERA_COOKIE_SAMESITE',
    flag: 'cookie-samesite',
    default: 'lax',
    help: 'SameSite of the cookies: lax, strict or none (none needs Secure).',
  }),
  /** Cookie mode: refuse unsafe requests whose Origin / Sec-Fetch-Site names another site. */
  checkOrigin: setting(boolean(), {
    env: 'TESSERA_CHECK_ORIGIN',
    flag: 'check-origin',
    default: 'true',
    help: 'Cookie mode: also refuse unsafe requests whose Origin or Sec-Fetch-Site names another site.',
  }),
  /**
   * Front ends on other origins, comma-separated: CORS answers let their pages call the API with
   * credentials and read the answers, and in cookie mode their unsafe requests pass the origin check.
   */
  trustedOrigins: setting(origins(), {
    env: 'TESSERA_TRUSTED_ORIGINS',
    flag: 'trusted-origins',
    default: '',
    help: 'Comma-separated origins (https://app.example.com) of front ends on other origins: CORS with credentials, and the CSRF origin check passes.',
  }),
  /** Cookie mode: the cookies' `Domain`, so that pages on sibling hosts read the CSRF cookies. */
  cookieDomain: setting(cookieDomain(), {
    env: 'TESSERA_COOKIE_DOMAIN',
    flag: 'cookie-domain',
    default: undefined,
    help: 'Cookie mode: Domain of the cookies (example.com: a page on app.example.com reads the CSRF cookies). Host-only by default.',
  }),
  /** Seconds during which a just-rotated refresh token still yields the same successor (two tabs). */
  refreshGraceSeconds: setting(integer(0, 300), {
    env: 'TESSERA_REFRESH_GRACE',
    flag: 'refresh-grace',
    default: '10',
    help: 'Seconds a rotated refresh token still yields the same successor.',
  }),
  /** Attempts per minute before 429: per client IP, and per account. */
  loginRatePerIp: setting(integer(1, 100_000), {
    env: 'TESSERA_LOGIN_RATE_PER_IP',
    flag: 'login-rate-per-ip',
    default: '20',
    help: 'Login attempts per minute per client IP (an IPv6 client: per /64 network).',
  }),
  loginRatePerAccount: setting(integer(1, 100_000), {
    env: 'TESSERA_LOGIN_RATE_PER_ACCOUNT',
    flag: 'login-rate-per-account',
    default: '10',
    help: 'Login attempts per minute per account.',
  }),
  /** `closed`: `POST /auth/register` (and the tutorials' aliases) answer 403; accounts come from the CLI. */
  registration: setting(oneOf('open', 'closed'), {
    env: 'TESSERA_REGISTRATION',
    flag: 'registration',
    default: 'open',
    help: '`open` (anyone may register) or `closed` (403 registration_closed; accounts from `tessera users create`).',
  }),
  registerRatePerIp: setting(integer(1, 100_000), {
    env: 'TESSERA_REGISTER_RATE_PER_IP',
    flag: 'register-rate-per-ip',
    default: '10',
    help: 'Registrations per minute per client IP (an IPv6 client: per /64 network).',
  }),
  /** Refreshes per minute of one session (its chain of refresh tokens), before 429. */
  refreshRatePerSession: setting(integer(1, 100_000), {
    env: 'TESSERA_REFRESH_RATE_PER_SESSION',
    flag: 'refresh-rate-per-session',
    default: '30',
    help: 'Refreshes per minute per session: a client refreshes every few minutes, a script writing rows far more often.',
  }),
  /**
   * Live sessions one user may have: a login past it ends the least recently used ones (0: no limit).
   * Bounds what a client that logs in without ever logging out leaves behind.
   */
  maxSessionsPerUser: setting(integer(0, 100_000), {
    env: 'TESSERA_MAX_SESSIONS_PER_USER',
    flag: 'max-sessions-per-user',
    default: '100',
    help: 'Live sessions per user; a login past it ends the least recently used (0: no limit).',
  }),
  logLevel: setting(oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'), {
    env: 'TESSERA_LOG_LEVEL',
    flag: 'log-level',
    default: 'info',
    help: 'fatal, error, warn, info, debug, trace or silent.',
  }),
  /** Trust `X-Forwarded-*` from a proxy in front (true, or the proxies' addresses and ranges). */
  trustProxy: setting(proxyTrust(), {
    env: 'TESSERA_TRUST_PROXY',
    flag: 'trust-proxy',
    default: 'false',
    help: "Trust X-Forwarded-*: true, or the proxies' addresses and ranges (10.0.0.0/8, uniquelocal).",
  }),
  /** Allow lifetimes above the sane bounds (access > 1 h, refresh > 90 d). */
  allowLongLifetimes: setting(boolean(), {
    env: 'TESSERA_ALLOW_LONG_LIFETIMES',
    flag: 'allow-long-lifetimes',
    default: 'false',
    help: 'Start even with access > 1 h or refresh > 90 d.',
  }),
  /** Database connection pool size (PostgreSQL). */
  databasePoolSize: setting(integer(1, 1000), {
    env: 'TESSERA_DATABASE_POOL_SIZE',
    flag: 'database-pool-size',
    default: '10',
    help: 'PostgreSQL connection pool size.',
  }),
  /** Seconds the JWKS may be cached (`Cache-Control: max-age`); a scheduled rotation waits this long. */
  jwksMaxAge: setting(duration({ allowZero: true }), {
    env: 'TESSERA_JWKS_MAX_AGE',
    flag: 'jwks-max-age',
    default: '5m',
    help: 'How long services may cache the JWKS; `keys rotate` signs with the new key only after it (+ the key refresh interval).',
  }),
  /** Seconds between two key-ring refreshes from the database (rotation, revocation, pruning). */
  keyRefreshInterval: setting(duration(), {
    env: 'TESSERA_KEY_REFRESH_INTERVAL',
    flag: 'key-refresh-interval',
    default: '5s',
    help: 'How often every instance reloads the signing keys (rotations, revocations, pruning) from the database.',
  }),
  /** Seconds a stored signing key signs before the server rotates it by itself; 0: only `keys rotate`. */
  keyRotationInterval: setting(duration({ allowZero: true }), {
    env: 'TESSERA_KEY_ROTATION_INTERVAL',
    flag: 'key-rotation-interval',
    default: '90d',
    help: 'How long a signing key signs before the server schedules the next one by itself (at least 1d); 0 turns it off.',
  }),
  /**
   * Milliseconds a request may wait on the database in all (statement and connection timeouts, SQLite
   * busy timeout, and the deadline after which a request answers 503 + Retry-After).
   */
  databaseTimeoutMs: setting(millis(100, 600_000), {
    env: 'TESSERA_DATABASE_TIMEOUT',
    flag: 'database-timeout',
    default: '5s',
    help: 'Longest wait on the database (statement, connection, SQLite lock); a request still waiting answers 503.',
  }),
  /** Milliseconds between maintenance runs (purges, gauges) on this instance; 0: never. */
  maintenanceIntervalMs: setting(millisOrOff(1000, 86_400_000), {
    env: 'TESSERA_MAINTENANCE_INTERVAL',
    flag: 'maintenance-interval',
    default: '60s',
    help: 'Time between maintenance runs (purge expired rows, refresh gauges, the automatic key rotation), at least 1 s; 0 disables them.',
  }),
  /** Seconds expired or revoked sessions are kept before the maintenance job deletes them. */
  sessionRetention: setting(duration({ allowZero: true }), {
    env: 'TESSERA_SESSION_RETENTION',
    flag: 'session-retention',
    default: '7d',
    help: 'How long expired or revoked sessions are kept (shown to nobody; for investigations).',
  }),
  /** Seconds audit events are kept before the maintenance job deletes them. */
  auditRetention: setting(duration(), {
    env: 'TESSERA_AUDIT_RETENTION',
    flag: 'audit-retention',
    default: '90d',
    help: 'How long audit events are kept.',
  }),
  /**
   * Seconds the routine audit events (a user's successful login and refresh: `ROUTINE_AUDIT_EVENTS` in
   * stores/sql/audit.ts, most of the log's rows) are kept; at most `auditRetention`. Unset: as long as
   * every other event, so that an upgrade shortens no one's login history.
   */
  auditRoutineRetention: setting(optionalDuration(), {
    env: 'TESSERA_AUDIT_ROUTINE_RETENTION',
    flag: 'audit-routine-retention',
    default: undefined,
    help: 'How long successful logins and refreshes (most audit rows) are kept, at most TESSERA_AUDIT_RETENTION; unset: as long.',
  }),
  /**
   * The bearer token `GET /metrics` asks for (a scraper's `authorization: { credentials }`); unset,
   * `/metrics` answers anyone who reaches it.
   */
  metricsToken: setting(optionalText(), {
    env: 'TESSERA_METRICS_TOKEN',
    flag: 'metrics-token',
    default: undefined,
    help: 'Bearer token GET /metrics requires (≥ 32 characters, e.g. openssl rand -hex 32); unset: /metrics answers anyone.',
  }),
  /** Milliseconds between SIGTERM (`/readyz` answers 503 at once) and closing the listener. */
  shutdownDelayMs: setting(millis(0, 600_000), {
    env: 'TESSERA_SHUTDOWN_DELAY',
    flag: 'shutdown-delay',
    default: '5s',
    help: 'On SIGTERM, time spent answering not-ready on /readyz while still serving, before closing.',
  }),
  /** The previous system's HS256 secret (flask-jwt-extended's JWT_SECRET_KEY): its tokens stay valid until `legacyUntil`. */
  legacyHsSecret: setting(optionalText(), {
    env: 'TESSERA_LEGACY_HS_SECRET',
    flag: 'legacy-hs-secret',
    default: undefined,
    help: 'The previous app’s HS256 secret (flask-jwt-extended JWT_SECRET_KEY): its tokens are honoured until TESSERA_LEGACY_UNTIL.',
  }),
  /** End of the legacy window (Unix seconds); also the expiry of imported revoked jtis. */
  legacyUntil: setting(instant(), {
    env: 'TESSERA_LEGACY_UNTIL',
    flag: 'legacy-until',
    default: undefined,
    help: 'End of the legacy window (ISO 8601 or Unix seconds); required with TESSERA_LEGACY_HS_SECRET.',
  }),
  /** Shortest new password, in characters. */
  passwordMinLength: setting(integer(8, 128), {
    env: 'TESSERA_PASSWORD_MIN_LENGTH',
    flag: 'password-min-length',
    default: '8',
    help: 'Shortest new password, in characters (8 to 128).',
  }),
  /** Lowest zxcvbn score (0–4) a new password must reach. */
  passwordMinScore: setting(integer(0, 4), {
    env: 'TESSERA_PASSWORD_MIN_SCORE',
    flag: 'password-min-score',
    default: '3',
    help: 'Lowest zxcvbn strength score of a new password, 0 (off) to 4.',
  }),
  /**
   * Scheduling priority (Linux `nice`) of the password threads (argon2id, strength estimates): the
   * default 10 keeps a login flood from slowing other requests (password-pool.ts,
   * DEFAULT_PASSWORD_THREAD_NICE); 19 yields even more; 0 gives them the event loop's share.
   */
  passwordThreadNice: setting(integer(0, 19), {
    env: 'TESSERA_PASSWORD_THREAD_NICE',
    flag: 'password-thread-nice',
    default: String(DEFAULT_PASSWORD_THREAD_NICE),
    help: 'Linux nice of the password threads, 0–19: the default 10 lets requests run before password work.',
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
