/**
 * The auth server's configuration: the settings of settings.ts read from (in rising priority) defaults,
 * an optional `.env` file, `TESSERA_*` environment variables and command-line flags, each checked with
 * one clear message per bad value; then the start-up doctor, which also checks overrides given in code
 * against the settings' schema.
 */
import { Value } from 'typebox/value'
import { ALGORITHMS, ConfigurationError, SECRET_ADVICE, weakSecretReason } from 'tessera'
import { durationText, nowSeconds } from '../time.js'
import { SETTINGS, ServerConfigSchema, type ServerConfig } from './settings.js'

export { SETTINGS } from './settings.js'
export type { ServerConfig, TokenTransport } from './settings.js'

/**
 * Resolves the configuration from flags (already split into `name → value`), the environment and
 * defaults. Throws a {@link ConfigurationError} naming the variable or flag at fault.
 */
export function loadServerConfig(
  flags: Readonly<Record<string, string | undefined>> = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): ServerConfig {
  const values: Record<string, unknown> = {}
  for (const setting of SETTINGS) {
    const fromFlag = flags[setting.flag]
    const fromEnv = env[setting.env]
    const [raw, name] =
      fromFlag !== undefined
        ? [fromFlag, `--${setting.flag}`]
        : fromEnv !== undefined && fromEnv !== ''
          ? [fromEnv, setting.env]
          : [setting.default, setting.env]
    values[setting.key] = raw === undefined ? undefined : setting.parse(raw, name)
  }
  values.databaseUrl ??= `${String(values.dataDir).replace(/\/$/, '')}/tessera.db`
  if (Value.Check(ServerConfigSchema, values)) return values
  const [first] = invalidSettings(values)
  throw new ConfigurationError(first?.setting ?? 'config', first?.message ?? 'invalid configuration')
}

/** A finding of the start-up doctor. */
export interface DoctorFinding {
  level: 'error' | 'warning'
  setting: string
  message: string
}

/**
 * The settings whose value does not fit its schema (a wrong type, a number below its minimum): one
 * finding per setting, named by its variable. Values read from text always fit; overrides given in code
 * (`buildServer({ … })`) are checked here.
 */
function invalidSettings(config: Readonly<Record<string, unknown>>): DoctorFinding[] {
  // Per property, its own keyword's error ("must be <= 65535", "must match a schema in anyOf"), not a
  // union branch's.
  const errors = new Map<string, { schemaPath: string; message: string }>()
  for (const error of Value.Errors(ServerConfigSchema, config)) {
    const key = error.instancePath.split('/')[1] ?? ''
    const known = errors.get(key)
    if (known === undefined || error.schemaPath.length < known.schemaPath.length) errors.set(key, error)
  }
  return [...errors].map(([key, error]) => ({
    level: 'error',
    setting: SETTINGS.find((s) => s.key === key)?.env ?? 'config',
    message: `${error.message}, got ${JSON.stringify(config[key])}`,
  }))
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])

const refusal = (setting: string, message: string): DoctorFinding => ({ level: 'error', setting, message })
const warning = (setting: string, message: string): DoctorFinding => ({ level: 'warning', setting, message })

/**
 * The start-up doctor: refuses to start on a value that does not fit its setting's schema (an override
 * given in code), a weak HS secret, cookie mode with SameSite=None without Secure, lifetimes above sane
 * bounds without an explicit override, a legacy secret without an end date; warns when listening beyond
 * loopback (put TLS in front) and about other risky combinations.
 */
export function checkServerConfig(config: ServerConfig): DoctorFinding[] {
  const invalid = invalidSettings(config)
  // The checks below read each value as its type says: only run them on a configuration that fits it.
  if (invalid.length > 0) return invalid
  return [
    checkSecret,
    checkCookies,
    checkLifetimes,
    checkKeyRotation,
    checkAuditRetention,
    checkSharedRevocations,
    checkLegacyWindow,
    checkMetricsToken,
    checkListener,
  ].flatMap((check) => check(config))
}

/**
 * A routine retention longer than the general one would do nothing: the general purge deletes every
 * event past its retention, routine ones included. Refused rather than clamped, since the operator
 * expected routine events to be kept longer than they would be.
 */
function checkAuditRetention(config: ServerConfig): DoctorFinding[] {
  const routine = config.auditRoutineRetention
  if (routine === undefined || routine <= config.auditRetention) return []
  const general = durationText(config.auditRetention)
  return [
    refusal(
      'TESSERA_AUDIT_ROUTINE_RETENTION',
      `is ${durationText(routine)}, longer than TESSERA_AUDIT_RETENTION (${general}), which deletes every audit event older than it, routine ones too: set it to at most ${general}, or leave it unset to keep routine events as long as the others`,
    ),
  ]
}

/** Shortest `TESSERA_METRICS_TOKEN`: 32 hex digits are 128 bits. */
const METRICS_TOKEN_MIN_LENGTH = 32

function checkMetricsToken(config: ServerConfig): DoctorFinding[] {
  const token = config.metricsToken
  if (token === undefined) return []
  const advice = 'make one with `openssl rand -hex 32`'
  // RFC 6750 §2.1's b64token: what a client can send after "Bearer " as it is.
  if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(token))
    return [refusal('TESSERA_METRICS_TOKEN', `holds characters a bearer token cannot carry; ${advice}`)]
  if (token.length < METRICS_TOKEN_MIN_LENGTH || new Set(token).size < 8)
    return [
      refusal(
        'TESSERA_METRICS_TOKEN',
        `is too short or too repetitive to be unguessable (at least ${METRICS_TOKEN_MIN_LENGTH} random characters); ${advice}`,
      ),
    ]
  return []
}

function checkSecret(config: ServerConfig): DoctorFinding[] {
  if (!config.algorithm.startsWith('HS')) {
    return config.secret === undefined
      ? []
      : [warning('TESSERA_SECRET', `ignored: ${config.algorithm} uses a key pair`)]
  }
  const need = ALGORITHMS[config.algorithm].minSecretBytes ?? 32
  if (config.secret === undefined)
    return [refusal('TESSERA_SECRET', `${config.algorithm} needs a secret of at least ${need} bytes`)]
  if (Buffer.byteLength(config.secret) < need)
    return [refusal('TESSERA_SECRET', `the secret is shorter than ${need} bytes`)]
  if (new Set(config.secret).size < 8)
    return [refusal('TESSERA_SECRET', `the secret repeats too few characters to be random; ${SECRET_ADVICE}`)]
  // Published samples (also padded), repetition, sequences (RFC 8725 §3.5); words: secret-strength.ts.
  const weak = weakSecretReason(config.secret)
  return weak === undefined ? [] : [refusal('TESSERA_SECRET', weak)]
}

function checkCookies(config: ServerConfig): DoctorFinding[] {
  const insecureNone =
    config.tokenTransport === 'cookie' && config.cookieSameSite === 'none' && config.cookieSecure !== true
  return insecureNone
    ? [
        refusal(
          'TESSERA_COOKIE_SAMESITE',
          'SameSite=None cookies must be Secure: set TESSERA_COOKIE_SECURE=true',
        ),
      ]
    : []
}

/**
 * True when the server signs with `TESSERA_SECRET` (an HMAC algorithm and a secret given): the key is
 * configuration, never stored, published or rotated by the server; otherwise its keys live in the
 * database.
 */
export function signsWithConfiguredSecret(config: Pick<ServerConfig, 'algorithm' | 'secret'>): boolean {
  return config.algorithm.startsWith('HS') && config.secret !== undefined
}

/** The shortest automatic key rotation interval, in seconds. */
const MIN_KEY_ROTATION_INTERVAL = 86_400

function checkKeyRotation(config: ServerConfig): DoctorFinding[] {
  const every = config.keyRotationInterval
  if (every === 0) return []
  if (every < MIN_KEY_ROTATION_INTERVAL)
    return [
      refusal(
        'TESSERA_KEY_ROTATION_INTERVAL',
        'rotating more often than daily piles keys up in the JWKS (a retired key stays published for the refresh token lifetime): use 1d or more, or 0 to rotate only with "tessera keys rotate"',
      ),
    ]
  return !signsWithConfiguredSecret(config) && config.maintenanceIntervalMs === 0
    ? [
        warning(
          'TESSERA_MAINTENANCE_INTERVAL',
          'is 0: the key rotation every TESSERA_KEY_ROTATION_INTERVAL runs with the maintenance passes, so keys rotate only with "tessera keys rotate"',
        ),
      ]
    : []
}

/** The longest access-token lifetime, in seconds, without `TESSERA_ALLOW_LONG_LIFETIMES`. */
export const MAX_ACCESS_TOKEN_TTL = 3600

function checkLifetimes(config: ServerConfig): DoctorFinding[] {
  const findings: DoctorFinding[] = []
  if (!config.allowLongLifetimes && config.accessTokenTtl > MAX_ACCESS_TOKEN_TTL) {
    findings.push(
      refusal(
        'TESSERA_ACCESS_TOKEN_TTL',
        'access tokens above 1 hour defeat revocation; set TESSERA_ALLOW_LONG_LIFETIMES=true to insist',
      ),
    )
  }
  if (!config.allowLongLifetimes && config.refreshTokenTtl > 90 * 86_400) {
    findings.push(
      refusal(
        'TESSERA_REFRESH_TOKEN_TTL',
        'refresh tokens above 90 days; set TESSERA_ALLOW_LONG_LIFETIMES=true to insist',
      ),
    )
  }
  if (config.refreshTokenTtl <= config.accessTokenTtl) {
    findings.push(refusal('TESSERA_REFRESH_TOKEN_TTL', 'must be longer than the access token lifetime'))
  }
  return findings
}

function checkSharedRevocations(config: ServerConfig): DoctorFinding[] {
  if (!/^postgres(ql)?:\/\//i.test(config.databaseUrl.trim()) || config.redisUrl !== undefined) return []
  return [
    warning(
      'TESSERA_REDIS_URL',
      'PostgreSQL without Redis: a revocation reaches the other instances only at their next key refresh (TESSERA_KEY_REFRESH_INTERVAL, each re-reading every live revocation), and login and registration limits count per instance; set TESSERA_REDIS_URL when running more than one instance',
    ),
  ]
}

function checkLegacyWindow(config: ServerConfig): DoctorFinding[] {
  const { legacyHsSecret, legacyUntil } = config
  if (legacyHsSecret === undefined) return []
  const findings: DoctorFinding[] = []
  if (legacyUntil === undefined) {
    findings.push(
      refusal(
        'TESSERA_LEGACY_UNTIL',
        'TESSERA_LEGACY_HS_SECRET needs an end date: the legacy window must close',
      ),
    )
  } else if (legacyUntil <= nowSeconds()) {
    findings.push(
      warning(
        'TESSERA_LEGACY_UNTIL',
        'the legacy window is closed: old tokens are refused (legacy_token_expired); remove TESSERA_LEGACY_HS_SECRET',
      ),
    )
  }
  const bytes = Buffer.byteLength(legacyHsSecret)
  if (bytes === 0) findings.push(refusal('TESSERA_LEGACY_HS_SECRET', 'is empty'))
  else if (bytes < 32) {
    findings.push(
      warning(
        'TESSERA_LEGACY_HS_SECRET',
        `the legacy secret is ${bytes} bytes (below 32): accepted only to honour the old app's tokens; whoever knows it can mint them until the window closes, so close it early`,
      ),
    )
  }
  return findings
}

function checkListener(config: ServerConfig): DoctorFinding[] {
  const findings: DoctorFinding[] = []
  if (!LOOPBACK.has(config.host))
    findings.push(
      warning(
        'TESSERA_HOST',
        `listening on ${config.host} beyond loopback: put TLS (a reverse proxy) in front`,
      ),
    )
  if (!LOOPBACK.has(config.host) && config.metricsToken === undefined)
    findings.push(
      warning(
        'TESSERA_METRICS_TOKEN',
        'unset while listening beyond loopback: GET /metrics answers anyone who reaches the server (how many users, logins, failures); set it, or keep /metrics off the public side of the proxy',
      ),
    )
  if (config.trustProxy === true)
    findings.push(
      warning(
        'TESSERA_TRUST_PROXY',
        'true trusts every X-Forwarded-For: a client that reaches the server directly chooses its own address and its own rate limits; name the proxies instead (10.0.0.0/8, uniquelocal)',
      ),
    )
  return findings
}
