/**
 * "Did you mean" hints for unknown option names, shared by the engine, adapter and route validators: a
 * misspelling (`acessTokenTtl`), another spelling (`verify_type`, `TOKENLOCATIONS`), a singular or plural
 * (`role`, `tokenLocation`) or a flask-jwt-extended setting (`JWT_TOKEN_LOCATION`) names the option meant.
 */

/** Where an option is written: `createTessera()`, the adapter options, or a route's options. */
export type OptionScope = 'engine' | 'adapter' | 'route'

/**
 * flask-jwt-extended's settings and `jwt_required()` arguments, each with the Tessera option it became.
 * docs/migrating-from-flask-jwt-extended.md lists the same names; its test checks both against this table.
 */
export const FLASK_OPTION_NAMES: Readonly<Record<string, readonly [OptionScope, string]>> = Object.freeze({
  JWT_SECRET_KEY: ['engine', 'secret'],
  JWT_ALGORITHM: ['engine', 'algorithm'],
  JWT_DECODE_ALGORITHMS: ['engine', 'keys'],
  JWT_PRIVATE_KEY: ['engine', 'keys'],
  JWT_PUBLIC_KEY: ['engine', 'keys'],
  JWT_ACCESS_TOKEN_EXPIRES: ['engine', 'accessTokenTtl'],
  JWT_REFRESH_TOKEN_EXPIRES: ['engine', 'refreshTokenTtl'],
  JWT_IDENTITY_CLAIM: ['engine', 'identityClaim'],
  JWT_VERIFY_SUB: ['engine', 'identityFrom'],
  JWT_DECODE_LEEWAY: ['engine', 'leeway'],
  JWT_ENCODE_NBF: ['engine', 'writeNbf'],
  JWT_ENCODE_AUDIENCE: ['engine', 'audience'],
  JWT_DECODE_AUDIENCE: ['engine', 'audience'],
  JWT_ENCODE_ISSUER: ['engine', 'issuer'],
  JWT_DECODE_ISSUER: ['engine', 'issuer'],
  JWT_TOKEN_LOCATION: ['adapter', 'tokenLocations'],
  JWT_HEADER_NAME: ['adapter', 'header.name'],
  JWT_HEADER_TYPE: ['adapter', 'header.type'],
  JWT_QUERY_STRING_NAME: ['adapter', 'query.name'],
  JWT_QUERY_STRING_VALUE_PREFIX: ['adapter', 'query.prefix'],
  JWT_JSON_KEY: ['adapter', 'json.accessKey'],
  JWT_REFRESH_JSON_KEY: ['adapter', 'json.refreshKey'],
  JWT_ACCESS_COOKIE_NAME: ['adapter', 'cookies.accessName'],
  JWT_REFRESH_COOKIE_NAME: ['adapter', 'cookies.refreshName'],
  JWT_ACCESS_COOKIE_PATH: ['adapter', 'cookies.accessPath'],
  JWT_REFRESH_COOKIE_PATH: ['adapter', 'cookies.refreshPath'],
  JWT_COOKIE_DOMAIN: ['adapter', 'cookies.domain'],
  JWT_COOKIE_SECURE: ['adapter', 'cookies.secure'],
  JWT_COOKIE_SAMESITE: ['adapter', 'cookies.sameSite'],
  JWT_SESSION_COOKIE: ['adapter', 'cookies.session'],
  JWT_COOKIE_CSRF_PROTECT: ['adapter', 'csrf.protect'],
  JWT_CSRF_METHODS: ['adapter', 'csrf.methods'],
  JWT_CSRF_CHECK_FORM: ['adapter', 'csrf.checkForm'],
  JWT_CSRF_IN_COOKIES: ['adapter', 'csrf.inCookies'],
  JWT_ACCESS_CSRF_HEADER_NAME: ['adapter', 'csrf.accessHeaderName'],
  JWT_REFRESH_CSRF_HEADER_NAME: ['adapter', 'csrf.refreshHeaderName'],
  JWT_ACCESS_CSRF_FIELD_NAME: ['adapter', 'csrf.accessFieldName'],
  JWT_REFRESH_CSRF_FIELD_NAME: ['adapter', 'csrf.refreshFieldName'],
  JWT_ACCESS_CSRF_COOKIE_NAME: ['adapter', 'csrf.accessCookieName'],
  JWT_REFRESH_CSRF_COOKIE_NAME: ['adapter', 'csrf.refreshCookieName'],
  JWT_ACCESS_CSRF_COOKIE_PATH: ['adapter', 'csrf.accessCookiePath'],
  JWT_REFRESH_CSRF_COOKIE_PATH: ['adapter', 'csrf.refreshCookiePath'],
  JWT_ERROR_MESSAGE_KEY: ['adapter', 'errors.messageKey'],
  verify_type: ['route', 'verifyType'],
  skip_revocation_check: ['route', 'skipRevocationCheck'],
})

// The natural camelCase ports of flask-jwt-extended names that edit distance does not reach.
const PORTED_NAMES: Readonly<Record<string, readonly [OptionScope, string]>> = Object.freeze({
  secretkey: ['engine', 'secret'],
  accesstokenexpires: ['engine', 'accessTokenTtl'],
  refreshtokenexpires: ['engine', 'refreshTokenTtl'],
  decodeleeway: ['engine', 'leeway'],
  encodenbf: ['engine', 'writeNbf'],
  privatekey: ['engine', 'keys'],
  publickey: ['engine', 'keys'],
})

const WHERE: Record<OptionScope, string> = {
  engine: 'an option of createTessera()',
  adapter: 'an adapter option',
  route: 'a route option',
}

/** Lower case without `_`, `-` and a leading `jwt`: `JWT_TOKEN_LOCATION` → `tokenlocation`. */
function normalise(name: string): string {
  return name
    .toLowerCase()
    .replace(/[_-]/g, '')
    .replace(/^jwt(?=.)/, '')
}

/**
 * The option meant by an unknown `name`, as a hint for the message (`did you mean "roles"?`), or
 * `undefined`. `known` are the names valid where `name` was written, in `scope`.
 */
export function suggestOption(
  name: string,
  known: readonly string[],
  scope?: OptionScope,
  prefix = '',
): string | undefined {
  const key = normalise(name)
  const exact = known.find((k) => normalise(k) === key)
  if (exact !== undefined) return `"${exact}"`
  const ported =
    FLASK_OPTION_NAMES[name] ??
    PORTED_NAMES[key] ??
    Object.entries(FLASK_OPTION_NAMES).find(([fje]) => normalise(fje) === key)?.[1]
  if (ported !== undefined && scope !== undefined) {
    const [where, path] = ported
    if (where !== scope) return `"${path}", ${WHERE[where]}`
    const local = prefix !== '' && path.startsWith(`${prefix}.`) ? path.slice(prefix.length + 1) : path
    return `"${local}"`
  }
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of known) {
    const distance = editDistance(key, normalise(candidate))
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  // One edit for short names, two from eight letters on: close enough to be a slip, not another word.
  const allowed = key.length >= 8 ? 2 : 1
  return best !== undefined && bestDistance <= allowed ? `"${best}"` : undefined
}

/** `unknown option`, with the hint when there is one. */
export function unknownOption(
  name: string,
  known: readonly string[],
  scope?: OptionScope,
  prefix = '',
): string {
  const hint = suggestOption(name, known, scope, prefix)
  return hint === undefined ? 'unknown option' : `unknown option; did you mean ${hint}?`
}

/** Levenshtein distance with adjacent transpositions (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0
  const cols = b.length + 1
  const d = new Uint16Array((a.length + 1) * cols)
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0
  for (let i = 0; i <= a.length; i++) d[i * cols] = i
  for (let j = 0; j < cols; j++) d[j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let value = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, at(i - 2, j - 2) + 1)
      }
      d[i * cols + j] = value
    }
  }
  return at(a.length, b.length)
}
