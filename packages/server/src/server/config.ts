/**
 * The auth server's configuration: one table of settings, read from (in rising priority) defaults, an
 * optional `.env` file, `TESSERA_*` environment variables and command-line flags, validated at start
 * with one clear message per bad value.
 */
import {
  ALGORITHMS,
  ConfigurationError,
  isAlgorithm,
  parseDuration,
  SECRET_ADVICE,
  weakSecretReason,
  type Algorithm,
} from 'tessera'

/** Token transport between the server and its clients. */
export type TokenTransport = 'header' | 'cookie'

/** Resolved server settings. */
export interface ServerConfig {
  host: string
  port: number
  /** Directory of the embedded database and key files. */
  dataDir: string
  /** `file:…` / a path for SQLite (default `<dataDir>/tessera.db`), or `postgres://…`. */
  databaseUrl: string
  /** `redis://…` to share revocations and rate limits across instances. */
  redisUrl: string | undefined
  /** Prefix of every Redis key and channel (one per deployment sharing a Redis). */
  redisPrefix: string
  algorithm: Algorithm
  /** HMAC secret, only with an HS* algorithm (prefer EdDSA: other services verify with the JWKS). */
  secret: string | undefined
  accessTokenTtl: number
  refreshTokenTtl: number
  issuer: string | undefined
  audience: string | undefined
  tokenTransport: TokenTransport
  /** `auto`: Secure unless the request is to localhost over plain http. */
  cookieSecure: 'auto' | boolean
  cookieSameSite: 'lax' | 'strict' | 'none'
  /** Cookie mode: refuse unsafe requests whose Origin / Sec-Fetch-Site names another site. */
  checkOrigin: boolean
  /** Origins accepted besides the server's own (a separate front end), comma-separated. */
  trustedOrigins: string[]
  /** Seconds during which a just-rotated refresh token still yields the same successor (two tabs). */
  refreshGraceSeconds: number
  /** Attempts per minute before 429: per client IP, and per account. */
  loginRatePerIp: number
  loginRatePerAccount: number
  registerRatePerIp: number
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** Trust `X-Forwarded-*` from a proxy in front (true, a hop count, or addresses). */
  trustProxy: boolean | number | string
  /** Allow lifetimes above the sane bounds (access > 1 h, refresh > 90 d). */
  allowLongLifetimes: boolean
  /** Database connection pool size (PostgreSQL). */
  databasePoolSize: number
  /** Seconds the JWKS may be cached (`Cache-Control: max-age`); a scheduled rotation waits this long. */
  jwksMaxAge: number
  /** Seconds between two key-ring refreshes from the database (rotation, revocation, pruning). */
  keyRefreshInterval: number
  /**
   * Milliseconds a request may wait on the database in all (statement and connection timeouts, SQLite
   * busy timeout, and the deadline after which a request answers 503 + Retry-After).
   */
  databaseTimeoutMs: number
  /** Milliseconds between maintenance runs (purges, gauges) on this instance; 0: never. */
  maintenanceIntervalMs: number
  /** Seconds expired or revoked sessions are kept before the maintenance job deletes them. */
  sessionRetention: number
  /** Seconds audit events are kept before the maintenance job deletes them. */
  auditRetention: number
  /** Milliseconds between SIGTERM (`/readyz` answers 503 at once) and closing the listener. */
  shutdownDelayMs: number
  /** The previous system's HS256 secret (flask-jwt-extended's JWT_SECRET_KEY): its tokens stay valid until {@link legacyUntil}. */
  legacyHsSecret: string | undefined
  /** End of the legacy window (Unix seconds); also the expiry of imported revoked jtis. */
  legacyUntil: number | undefined
  /** Shortest new password, in characters. */
  passwordMinLength: number
  /** Lowest zxcvbn score (0–4) a new password must reach. */
  passwordMinScore: number
}

interface Setting {
  key: keyof ServerConfig
  env: string
  flag: string
  default: string | undefined
  help: string
  parse: (value: string, name: string) => unknown
}

const str = (value: string): string => value
const int =
  (min: number, max: number) =>
  (value: string, name: string): number => {
    const n = Number(value)
    if (!/^\d+$/.test(value.trim()) || n < min || n > max) {
      throw new ConfigurationError(
        name,
        `expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
      )
    }
    return n
  }
const bool = (value: string, name: string): boolean => {
  const v = value.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(v)) return true
  if (['0', 'false', 'no', 'off'].includes(v)) return false
  throw new ConfigurationError(name, `expected true or false, got ${JSON.stringify(value)}`)
}
const oneOf =
  <T extends string>(...values: T[]) =>
  (value: string, name: string): T => {
    const v = value.trim().toLowerCase() as T
    if (!values.includes(v))
      throw new ConfigurationError(name, `expected one of ${values.join(', ')}, got ${JSON.stringify(value)}`)
    return v
  }
const duration = (value: string, name: string): number => parseDuration(value, name)
/** Milliseconds from `250ms`, or any duration in whole seconds (`5s`, `1m`, `0`). */
const millis =
  (min: number, max: number) =>
  (value: string, name: string): number => {
    const ms = /^\s*(\d+)\s*ms\s*$/.exec(value)
    const n = ms === null ? parseDuration(value, name, { allowZero: true }) * 1000 : Number(ms[1])
    if (n < min || n > max) {
      throw new ConfigurationError(
        name,
        `expected from ${min} ms to ${max / 1000} s (250ms, 5s, 1m), got ${JSON.stringify(value)}`,
      )
    }
    return n
  }
// An instant: ISO 8601 (a date alone is 00:00 UTC that day) or Unix seconds.
const instant = (value: string, name: string): number => {
  const v = value.trim()
  if (/^\d{9,11}$/.test(v)) return Number(v)
  const iso = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?$/
  const ms = iso.test(v) ? Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v) : Number.NaN
  if (Number.isNaN(ms))
    throw new ConfigurationError(
      name,
      `expected an ISO 8601 instant (2027-03-31 or 2027-03-31T12:00:00Z) or Unix seconds, got ${JSON.stringify(value)}`,
    )
  return Math.floor(ms / 1000)
}
const algorithm = (value: string, name: string): Algorithm => {
  if (!isAlgorithm(value))
    throw new ConfigurationError(name, `unsupported algorithm ${JSON.stringify(value)}`)
  return value
}

/** Every setting, its variable, flag, default and meaning: the README's configuration table is made from it. */
export const SETTINGS: readonly Setting[] = [
  {
    key: 'host',
    env: 'TESSERA_HOST',
    flag: 'host',
    default: '127.0.0.1',
    help: 'Address to listen on.',
    parse: str,
  },
  {
    key: 'port',
    env: 'TESSERA_PORT',
    flag: 'port',
    default: '8080',
    help: 'Port to listen on (0: any free port).',
    parse: int(0, 65_535),
  },
  {
    key: 'dataDir',
    env: 'TESSERA_DATA_DIR',
    flag: 'data-dir',
    default: './data',
    help: 'Directory of the SQLite database.',
    parse: str,
  },
  {
    key: 'databaseUrl',
    env: 'TESSERA_DATABASE_URL',
    flag: 'database-url',
    default: undefined,
    help: 'SQLite path or `postgres://…`. Default `<data-dir>/tessera.db`.',
    parse: str,
  },
  {
    key: 'redisUrl',
    env: 'TESSERA_REDIS_URL',
    flag: 'redis-url',
    default: undefined,
    help: '`redis://…`: shared revocations, pub/sub and rate limits.',
    parse: str,
  },
  {
    key: 'redisPrefix',
    env: 'TESSERA_REDIS_PREFIX',
    flag: 'redis-prefix',
    default: 'tessera:',
    help: 'Prefix of the Redis keys and channel (one per deployment sharing a Redis).',
    parse: str,
  },
  {
    key: 'algorithm',
    env: 'TESSERA_ALGORITHM',
    flag: 'algorithm',
    default: 'EdDSA',
    help: 'Signing algorithm (EdDSA, ES256, RS256, PS256, HS256, …).',
    parse: algorithm,
  },
  {
    key: 'secret',
    env: 'TESSERA_SECRET',
    flag: 'secret',
    default: undefined,
    help: 'HMAC secret for HS* algorithms (≥ 32 bytes). Not needed for EdDSA.',
    parse: str,
  },
  {
    key: 'accessTokenTtl',
    env: 'TESSERA_ACCESS_TOKEN_TTL',
    flag: 'access-token-ttl',
    default: '15m',
    help: 'Access token lifetime.',
    parse: duration,
  },
  {
    key: 'refreshTokenTtl',
    env: 'TESSERA_REFRESH_TOKEN_TTL',
    flag: 'refresh-token-ttl',
    default: '30d',
    help: 'Refresh token lifetime.',
    parse: duration,
  },
  {
    key: 'issuer',
    env: 'TESSERA_ISSUER',
    flag: 'issuer',
    default: undefined,
    help: '`iss` written and required.',
    parse: str,
  },
  {
    key: 'audience',
    env: 'TESSERA_AUDIENCE',
    flag: 'audience',
    default: undefined,
    help: '`aud` written and required.',
    parse: str,
  },
  {
    key: 'tokenTransport',
    env: 'TESSERA_TOKEN_TRANSPORT',
    flag: 'token-transport',
    default: 'header',
    help: '`header` (JSON bodies + Authorization) or `cookie` (HttpOnly cookies + CSRF).',
    parse: oneOf('header', 'cookie'),
  },
  {
    key: 'cookieSecure',
    env: 'TESSERA_COOKIE_SECURE',
    flag: 'cookie-secure',
    default: 'auto',
    help: '`auto` (Secure except localhost over http), `true` or `false`.',
    parse: (v, n) => (v.trim().toLowerCase() === 'auto' ? 'auto' : bool(v, n)),
  },
  {
    key: 'cookieSameSite',
    env: 'TESSERA_COOKIE_SAMESITE',
    flag: 'cookie-samesite',
    default: 'lax',
    help: 'SameSite of the cookies: lax, strict or none (none needs Secure).',
    parse: oneOf('lax', 'strict', 'none'),
  },
  {
    key: 'checkOrigin',
    env: 'TESSERA_CHECK_ORIGIN',
    flag: 'check-origin',
    default: 'true',
    help: 'Cookie mode: also refuse unsafe requests whose Origin or Sec-Fetch-Site names another site.',
    parse: bool,
  },
  {
    key: 'trustedOrigins',
    env: 'TESSERA_TRUSTED_ORIGINS',
    flag: 'trusted-origins',
    default: '',
    help: 'Comma-separated origins (https://app.example.com) accepted besides the server’s own.',
    parse: (value) =>
      value
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== ''),
  },
  {
    key: 'refreshGraceSeconds',
    env: 'TESSERA_REFRESH_GRACE',
    flag: 'refresh-grace',
    default: '10',
    help: 'Seconds a rotated refresh token still yields the same successor.',
    parse: int(0, 300),
  },
  {
    key: 'loginRatePerIp',
    env: 'TESSERA_LOGIN_RATE_PER_IP',
    flag: 'login-rate-per-ip',
    default: '20',
    help: 'Login attempts per minute per client IP.',
    parse: int(1, 100_000),
  },
  {
    key: 'loginRatePerAccount',
    env: 'TESSERA_LOGIN_RATE_PER_ACCOUNT',
    flag: 'login-rate-per-account',
    default: '10',
    help: 'Login attempts per minute per account.',
    parse: int(1, 100_000),
  },
  {
    key: 'registerRatePerIp',
    env: 'TESSERA_REGISTER_RATE_PER_IP',
    flag: 'register-rate-per-ip',
    default: '10',
    help: 'Registrations per minute per client IP.',
    parse: int(1, 100_000),
  },
  {
    key: 'logLevel',
    env: 'TESSERA_LOG_LEVEL',
    flag: 'log-level',
    default: 'info',
    help: 'fatal, error, warn, info, debug, trace or silent.',
    parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
  },
  {
    key: 'trustProxy',
    env: 'TESSERA_TRUST_PROXY',
    flag: 'trust-proxy',
    default: 'false',
    help: 'Trust X-Forwarded-For: true, a hop count, or addresses.',
    parse: (v) => (/^\d+$/.test(v) ? Number(v) : /^(true|false)$/i.test(v) ? v.toLowerCase() === 'true' : v),
  },
  {
    key: 'allowLongLifetimes',
    env: 'TESSERA_ALLOW_LONG_LIFETIMES',
    flag: 'allow-long-lifetimes',
    default: 'false',
    help: 'Start even with access > 1 h or refresh > 90 d.',
    parse: bool,
  },
  {
    key: 'databasePoolSize',
    env: 'TESSERA_DATABASE_POOL_SIZE',
    flag: 'database-pool-size',
    default: '10',
    help: 'PostgreSQL connection pool size.',
    parse: int(1, 1000),
  },
  {
    key: 'jwksMaxAge',
    env: 'TESSERA_JWKS_MAX_AGE',
    flag: 'jwks-max-age',
    default: '5m',
    help: 'How long services may cache the JWKS; `keys rotate` signs with the new key only after it (+ the key refresh interval).',
    parse: (v, n) => parseDuration(v, n, { allowZero: true }),
  },
  {
    key: 'keyRefreshInterval',
    env: 'TESSERA_KEY_REFRESH_INTERVAL',
    flag: 'key-refresh-interval',
    default: '5s',
    help: 'How often every instance reloads the signing keys (rotations, revocations, pruning) from the database.',
    parse: duration,
  },
  {
    key: 'databaseTimeoutMs',
    env: 'TESSERA_DATABASE_TIMEOUT',
    flag: 'database-timeout',
    default: '5s',
    help: 'Longest wait on the database (statement, connection, SQLite lock); a request still waiting answers 503.',
    parse: millis(100, 600_000),
  },
  {
    key: 'maintenanceIntervalMs',
    env: 'TESSERA_MAINTENANCE_INTERVAL',
    flag: 'maintenance-interval',
    default: '60s',
    help: 'Time between maintenance runs (purge expired rows, refresh gauges); 0 disables them.',
    parse: millis(0, 86_400_000),
  },
  {
    key: 'sessionRetention',
    env: 'TESSERA_SESSION_RETENTION',
    flag: 'session-retention',
    default: '7d',
    help: 'How long expired or revoked sessions are kept (shown to nobody; for investigations).',
    parse: (value, name) => parseDuration(value, name, { allowZero: true }),
  },
  {
    key: 'auditRetention',
    env: 'TESSERA_AUDIT_RETENTION',
    flag: 'audit-retention',
    default: '90d',
    help: 'How long audit events are kept.',
    parse: duration,
  },
  {
    key: 'shutdownDelayMs',
    env: 'TESSERA_SHUTDOWN_DELAY',
    flag: 'shutdown-delay',
    default: '5s',
    help: 'On SIGTERM, time spent answering not-ready on /readyz while still serving, before closing.',
    parse: millis(0, 600_000),
  },
  {
    key: 'legacyHsSecret',
    env: 'TESSERA_LEGACY_HS_SECRET',
    flag: 'legacy-hs-secret',
    default: undefined,
    help: 'The previous app’s HS256 secret (flask-jwt-extended JWT_SECRET_KEY): its tokens are honoured until TESSERA_LEGACY_UNTIL.',
    parse: str,
  },
  {
    key: 'legacyUntil',
    env: 'TESSERA_LEGACY_UNTIL',
    flag: 'legacy-until',
    default: undefined,
    help: 'End of the legacy window (ISO 8601 or Unix seconds); required with TESSERA_LEGACY_HS_SECRET.',
    parse: instant,
  },
  {
    key: 'passwordMinLength',
    env: 'TESSERA_PASSWORD_MIN_LENGTH',
    flag: 'password-min-length',
    default: '8',
    help: 'Shortest new password, in characters (8 to 128).',
    parse: int(8, 128),
  },
  {
    key: 'passwordMinScore',
    env: 'TESSERA_PASSWORD_MIN_SCORE',
    flag: 'password-min-score',
    default: '3',
    help: 'Lowest zxcvbn strength score of a new password, 0 (off) to 4.',
    parse: int(0, 4),
  },
]

/**
 * Resolves the configuration from flags (already split into `name → value`), the environment and
 * defaults. Throws a {@link ConfigurationError} naming the variable or flag at fault.
 */
export function loadServerConfig(
  flags: Readonly<Record<string, string | undefined>> = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): ServerConfig {
  const out: Record<string, unknown> = {}
  for (const setting of SETTINGS) {
    const fromFlag = flags[setting.flag]
    const fromEnv = env[setting.env]
    const [raw, name] =
      fromFlag !== undefined
        ? [fromFlag, `--${setting.flag}`]
        : fromEnv !== undefined && fromEnv !== ''
          ? [fromEnv, setting.env]
          : [setting.default, setting.env]
    out[setting.key] = raw === undefined ? undefined : setting.parse(raw, name)
  }
  out.databaseUrl ??= `${String(out.dataDir).replace(/\/$/, '')}/tessera.db`
  return out as unknown as ServerConfig
}

/** A finding of the start-up doctor. */
export interface DoctorFinding {
  level: 'error' | 'warning'
  setting: string
  message: string
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])

/**
 * The start-up doctor: refuses to start on a weak HS secret, cookie mode with SameSite=None without
 * Secure, lifetimes above sane bounds without an explicit override; warns when listening beyond
 * loopback (put TLS in front).
 */
export function checkServerConfig(config: ServerConfig): DoctorFinding[] {
  const findings: DoctorFinding[] = []
  const error = (setting: string, message: string): void => {
    findings.push({ level: 'error', setting, message })
  }
  if (config.algorithm.startsWith('HS')) {
    const need = ALGORITHMS[config.algorithm].minSecretBytes ?? 32
    if (config.secret === undefined)
      error('TESSERA_SECRET', `${config.algorithm} needs a secret of at least ${need} bytes`)
    else if (Buffer.byteLength(config.secret) < need)
      error('TESSERA_SECRET', `the secret is shorter than ${need} bytes`)
    else if (new Set(config.secret).size < 8)
      error('TESSERA_SECRET', `the secret repeats too few characters to be random; ${SECRET_ADVICE}`)
    else {
      // Published samples (also padded), repetition, sequences (RFC 8725 §3.5); words: secret-strength.ts.
      const weak = weakSecretReason(config.secret)
      if (weak !== undefined) error('TESSERA_SECRET', weak)
    }
  } else if (config.secret !== undefined) {
    findings.push({
      level: 'warning',
      setting: 'TESSERA_SECRET',
      message: `ignored: ${config.algorithm} uses a key pair`,
    })
  }
  if (
    config.tokenTransport === 'cookie' &&
    config.cookieSameSite === 'none' &&
    config.cookieSecure !== true
  ) {
    error('TESSERA_COOKIE_SAMESITE', 'SameSite=None cookies must be Secure: set TESSERA_COOKIE_SECURE=true')
  }
  if (!config.allowLongLifetimes) {
    if (config.accessTokenTtl > 3600) {
      error(
        'TESSERA_ACCESS_TOKEN_TTL',
        'access tokens above 1 hour defeat revocation; set TESSERA_ALLOW_LONG_LIFETIMES=true to insist',
      )
    }
    if (config.refreshTokenTtl > 90 * 86_400) {
      error(
        'TESSERA_REFRESH_TOKEN_TTL',
        'refresh tokens above 90 days; set TESSERA_ALLOW_LONG_LIFETIMES=true to insist',
      )
    }
  }
  if (config.refreshTokenTtl <= config.accessTokenTtl) {
    error('TESSERA_REFRESH_TOKEN_TTL', 'must be longer than the access token lifetime')
  }
  if (/^postgres(ql)?:\/\//i.test(config.databaseUrl.trim()) && config.redisUrl === undefined) {
    findings.push({
      level: 'warning',
      setting: 'TESSERA_REDIS_URL',
      message:
        'PostgreSQL without Redis: a revocation reaches the other instances only when they restart; set TESSERA_REDIS_URL when running more than one instance',
    })
  }
  if (config.legacyHsSecret !== undefined) {
    const until = config.legacyUntil
    if (until === undefined) {
      error(
        'TESSERA_LEGACY_UNTIL',
        'TESSERA_LEGACY_HS_SECRET needs an end date: the legacy window must close',
      )
    } else if (until <= Date.now() / 1000) {
      findings.push({
        level: 'warning',
        setting: 'TESSERA_LEGACY_UNTIL',
        message:
          'the legacy window is closed: old tokens are refused (legacy_token_expired); remove TESSERA_LEGACY_HS_SECRET',
      })
    }
    if (config.legacyHsSecret === '') error('TESSERA_LEGACY_HS_SECRET', 'is empty')
    else if (Buffer.byteLength(config.legacyHsSecret) < 32) {
      findings.push({
        level: 'warning',
        setting: 'TESSERA_LEGACY_HS_SECRET',
        message: `the legacy secret is ${Buffer.byteLength(config.legacyHsSecret)} bytes (below 32): accepted only to honour the old app's tokens; whoever knows it can mint them until the window closes, so close it early`,
      })
    }
  }
  if (!LOOPBACK.has(config.host)) {
    findings.push({
      level: 'warning',
      setting: 'TESSERA_HOST',
      message: `listening on ${config.host} beyond loopback: put TLS (a reverse proxy) in front`,
    })
  }
  return findings
}
