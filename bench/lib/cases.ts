/**
 * The contenders of the micro-benchmark: one realistic access token per algorithm, verified and signed
 * by a bare node:crypto reference ("the physical limit"), Tessera, fast-jwt, jose and jsonwebtoken.
 *
 * Every case carries a `check` that proves, before anything is timed, that the contender accepts the
 * token (and refuses a tampered one), or that the token it signs verifies in Tessera and in jose.
 */
import {
  createHmac,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  sign as cryptoSign,
  timingSafeEqual,
  verify as cryptoVerify,
  webcrypto,
  type KeyObject,
} from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import { SignJWT, importPKCS8, importSPKI, jwtVerify, type CryptoKey } from 'jose'
import jsonwebtoken from 'jsonwebtoken'
import type * as TesseraModule from '../../packages/tessera/src/index.js'
import type { Tessera } from '../../packages/tessera/src/index.js'

/** The Tessera module under test: tsc's output (as shipped) or src/ through tsx. */
export type Engine = typeof TesseraModule

export const GROUPS = ['HS256 verify', 'EdDSA verify', 'HS256 sign', 'EdDSA sign'] as const
export type Group = (typeof GROUPS)[number]

/**
 * `reference`: the bare node:crypto baseline of its group (ratio 1). `tessera`: the engine as shipped.
 * `library`: another JWT library. `variant`: an experiment or an alternative set-up, for information.
 */
export type Role = 'reference' | 'tessera' | 'library' | 'variant'

export interface BenchCase {
  /** Stable id, used to match results across runs and child processes. */
  id: string
  group: Group
  label: string
  role: Role
  /** What is timed: one verification or one signature (a promise is awaited by mitata). */
  fn: () => unknown
  /** Throws unless the contender does its job on the benchmark token. */
  check: () => Promise<void>
}

/** A contender that cannot run a group at all; reported, not timed. */
export interface UnsupportedCase {
  group: Group
  label: string
  reason: string
}

export interface Suite {
  cases: BenchCase[]
  unsupported: UnsupportedCase[]
  /** The benchmark tokens, for the report. */
  tokens: { hs256: string; eddsa: string }
}

const SUB = 'user-42817'
const ROLES = ['admin', 'editor']
// Longer than any full run, so nothing expires while it is timed.
const TTL_SECONDS = 24 * 3600
const TOKEN_TYP = 'at+jwt'

/** The claim set every signer produces per call: fresh iat/nbf/exp and a random 128-bit jti, like Tessera. */
function claimsNow(): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return {
    roles: ROLES,
    sub: SUB,
    iat: now,
    nbf: now,
    exp: now + TTL_SECONDS,
    jti: randomBytes(16).toString('base64url'),
    type: 'access',
    fresh: true,
  }
}

const b64json = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Changes the first signature character, which always changes the decoded bytes. */
function tamper(token: string): string {
  const at = token.lastIndexOf('.') + 1
  const swapped = token[at] === 'A' ? 'B' : 'A'
  return `${token.slice(0, at)}${swapped}${token.slice(at + 1)}`
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`bench check failed: ${message}`)
}

function subOf(value: unknown): unknown {
  return typeof value === 'object' && value !== null ? (value as { sub?: unknown }).sub : undefined
}

/** Accepts `token` (the result names SUB), refuses its tampered twin. */
async function checkVerifier(
  label: string,
  verify: (token: string) => unknown,
  token: string,
  pick: (result: unknown) => unknown = (r) => r,
): Promise<void> {
  const result: unknown = await verify(token)
  assert(subOf(pick(result)) === SUB, `${label} did not accept the benchmark token`)
  let refused: boolean
  try {
    refused = (await verify(tamper(token))) === false
  } catch {
    refused = true
  }
  assert(refused, `${label} accepted a token with a tampered signature`)
}

/** The token a signer produced verifies in Tessera (the same checks as the hot path) and in jose. */
async function checkSigner(
  label: string,
  sign: () => unknown,
  auth: Tessera,
  joseKey: CryptoKey,
): Promise<void> {
  const { alg, kid } = auth.keys.active
  const token: unknown = await sign()
  assert(typeof token === 'string', `${label} did not return a string`)
  const verified = await auth.verify(token)
  assert(verified.identity === SUB, `${label}: Tessera read the wrong identity`)
  const { payload, protectedHeader } = await jwtVerify(token, joseKey, { algorithms: [alg], typ: TOKEN_TYP })
  assert(payload.sub === SUB && protectedHeader.kid === kid, `${label}: jose disagrees`)
}

// --- bare node:crypto references -------------------------------------------------------------------

function bareHs256Verify(token: string, secret: KeyObject): Record<string, unknown> {
  const [header, payload, signature] = token.split('.')
  if (header === undefined || payload === undefined || signature === undefined) throw new Error('malformed')
  const mac = createHmac('sha256', secret).update(`${header}.${payload}`).digest()
  const given = Buffer.from(signature, 'base64url')
  if (given.length !== mac.length || !timingSafeEqual(mac, given)) throw new Error('bad signature')
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
}

/**
 * The reference with a cheaper comparison: the MAC as base64url text (`digest('base64url')` makes no
 * Buffer in C++) against the signature's UTF-8 bytes, in constant time, with no base64url decoding.
 */
function bareHs256VerifyText(token: string, secret: KeyObject): Record<string, unknown> {
  const [header, payload, signature] = token.split('.')
  if (header === undefined || payload === undefined || signature === undefined) throw new Error('malformed')
  const mac = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url')
  const given = Buffer.from(signature)
  const wanted = Buffer.from(mac)
  if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) throw new Error('bad signature')
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
}

// A copy of bareHs256Verify for the Buffer secret, so neither copy's call sites see both key kinds.
function bareHs256VerifyBuffer(token: string, secret: Buffer): Record<string, unknown> {
  const [header, payload, signature] = token.split('.')
  if (header === undefined || payload === undefined || signature === undefined) throw new Error('malformed')
  const mac = createHmac('sha256', secret).update(`${header}.${payload}`).digest()
  const given = Buffer.from(signature, 'base64url')
  if (given.length !== mac.length || !timingSafeEqual(mac, given)) throw new Error('bad signature')
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
}

function bareEdDsaVerify(token: string, publicKey: KeyObject): Record<string, unknown> {
  const [header, payload, signature] = token.split('.')
  if (header === undefined || payload === undefined || signature === undefined) throw new Error('malformed')
  const data = Buffer.from(`${header}.${payload}`)
  if (!cryptoVerify(null, data, publicKey, Buffer.from(signature, 'base64url'))) {
    throw new Error('bad signature')
  }
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
}

// --- the suite -------------------------------------------------------------------------------------

const claimsOf = (result: unknown): unknown => (result as { claims: unknown }).claims
const payloadOf = (result: unknown): unknown => (result as { payload: unknown }).payload

/** Other builds of Tessera, each adding one HS256 verify row. */
export interface EngineVariants {
  /** src/ loaded through tsx: what measuring the TypeScript sources directly would report. */
  src?: Engine
  /** The compiled engine with keys.ts patched to give createHmac the secret as a Buffer. */
  bufferSecret?: Engine
}

/** Builds every case against `engine` (plus one row per variant given). */
export async function buildSuite(engine: Engine, variants: EngineVariants = {}): Promise<Suite> {
  const { createTessera } = engine
  const cases: BenchCase[] = []
  // Each timed function is its own closure (bound to the token), so no call site is shared by contenders.
  const verifyCase = (
    head: Pick<BenchCase, 'id' | 'group' | 'role' | 'label'>,
    token: string,
    verify: (token: string) => unknown,
    pick: (result: unknown) => unknown = (result) => result,
  ): void => {
    cases.push({
      ...head,
      fn: verify.bind(undefined, token),
      check: () => checkVerifier(head.label, verify, token, pick),
    })
  }
  const signCase = (
    head: Pick<BenchCase, 'id' | 'group' | 'role' | 'label'>,
    auth: Tessera,
    joseKey: CryptoKey,
    sign: () => unknown,
  ): void => {
    cases.push({ ...head, fn: sign, check: () => checkSigner(head.label, sign, auth, joseKey) })
  }
  const tokenOptions = { claims: { roles: ROLES }, fresh: true }

  // HS256 ------------------------------------------------------------------------------------------
  const secretBytes = randomBytes(32)
  const secretKey = createSecretKey(secretBytes)
  // The verified-token cache is off in the timed Tessera rows: they measure the full verification (the
  // same token is verified over and over, so with the cache on every call would be a hit). The cached
  // rows are variants, for information.
  const hs = createTessera({
    secret: secretBytes,
    accessTokenTtl: TTL_SECONDS,
    maxTokenAge: false,
    verifyCache: false,
  })
  const hsCached = createTessera({ secret: secretBytes, accessTokenTtl: TTL_SECONDS, maxTokenAge: false })
  const hsKid = hs.keys.active.kid
  const hsToken = await hs.createAccessToken(SUB, tokenOptions)
  if (hs.verifyInline(hsToken) instanceof Promise) throw new Error('bench: verifyInline is not synchronous')
  const hsCryptoKey = await webcrypto.subtle.importKey(
    'raw',
    secretBytes,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign', 'verify'],
  )
  const hsHeader = b64json({ alg: 'HS256', kid: hsKid, typ: TOKEN_TYP })
  const fastHsVerify = createVerifier({ key: secretBytes, algorithms: ['HS256'], cache: false })
  const fastHsSign = createSigner({
    key: secretBytes,
    algorithm: 'HS256',
    kid: hsKid,
    header: { alg: 'HS256', typ: TOKEN_TYP },
    noTimestamp: true,
  })

  const hv = 'HS256 verify' as const
  const hsAlgs = { algorithms: ['HS256'] }
  verifyCase(
    { id: 'hs-verify/bare', group: hv, role: 'reference', label: 'bare node:crypto (KeyObject)' },
    hsToken,
    (t) => bareHs256Verify(t, secretKey),
  )
  verifyCase(
    { id: 'hs-verify/bare-buffer', group: hv, role: 'variant', label: 'bare node:crypto (Buffer secret)' },
    hsToken,
    (t) => bareHs256VerifyBuffer(t, secretBytes),
  )
  verifyCase(
    {
      id: 'hs-verify/bare-text',
      group: hv,
      role: 'variant',
      label: "bare node:crypto, digest('base64url') text compare",
    },
    hsToken,
    (t) => bareHs256VerifyText(t, secretKey),
  )
  verifyCase(
    {
      id: 'hs-verify/tessera-inline',
      group: hv,
      role: 'tessera',
      label: 'Tessera verifyInline (sync, verifyCache off)',
    },
    hsToken,
    (t) => hs.verifyInline(t),
    claimsOf,
  )
  verifyCase(
    { id: 'hs-verify/tessera-await', group: hv, role: 'tessera', label: 'Tessera await verify' },
    hsToken,
    (t) => hs.verify(t),
    claimsOf,
  )
  verifyCase(
    {
      id: 'hs-verify/tessera-cached',
      group: hv,
      role: 'variant',
      label: 'Tessera verifyInline, verifyCache hit (the default)',
    },
    hsToken,
    (t) => hsCached.verifyInline(t),
    claimsOf,
  )
  if (variants.bufferSecret !== undefined) {
    const hsBuffer = variants.bufferSecret.createTessera({
      secret: secretBytes,
      accessTokenTtl: TTL_SECONDS,
      maxTokenAge: false,
      verifyCache: false,
    })
    verifyCase(
      {
        id: 'hs-verify/tessera-buffer',
        group: hv,
        role: 'variant',
        label: 'Tessera verifyInline, keys.ts patched: createHmac gets a Buffer',
      },
      hsToken,
      (t) => hsBuffer.verifyInline(t),
      claimsOf,
    )
  }
  if (variants.src !== undefined) {
    const hsSrc = variants.src.createTessera({
      secret: secretBytes,
      accessTokenTtl: TTL_SECONDS,
      maxTokenAge: false,
      verifyCache: false,
    })
    verifyCase(
      {
        id: 'hs-verify/tessera-tsx',
        group: hv,
        role: 'variant',
        label: 'Tessera verifyInline, src/ run through tsx (esbuild keepNames)',
      },
      hsToken,
      (t) => hsSrc.verifyInline(t),
      claimsOf,
    )
  }
  verifyCase(
    { id: 'hs-verify/fast-jwt', group: hv, role: 'library', label: 'fast-jwt createVerifier (cache: false)' },
    hsToken,
    (t) => fastHsVerify(t),
  )
  verifyCase(
    { id: 'hs-verify/jose', group: hv, role: 'library', label: 'jose jwtVerify (pre-imported CryptoKey)' },
    hsToken,
    (t) => jwtVerify(t, hsCryptoKey, hsAlgs),
    payloadOf,
  )
  verifyCase(
    {
      id: 'hs-verify/jose-bytes',
      group: hv,
      role: 'variant',
      label: 'jose jwtVerify (Uint8Array secret, imported per call)',
    },
    hsToken,
    (t) => jwtVerify(t, secretBytes, hsAlgs),
    payloadOf,
  )
  verifyCase(
    { id: 'hs-verify/jsonwebtoken', group: hv, role: 'library', label: 'jsonwebtoken verify (KeyObject)' },
    hsToken,
    (t) => jsonwebtoken.verify(t, secretKey, { algorithms: ['HS256'] }),
  )

  const hsg = 'HS256 sign' as const
  signCase(
    { id: 'hs-sign/bare', group: hsg, role: 'reference', label: 'bare node:crypto (KeyObject)' },
    hs,
    hsCryptoKey,
    () => {
      const input = `${hsHeader}.${b64json(claimsNow())}`
      return `${input}.${createHmac('sha256', secretKey).update(input).digest('base64url')}`
    },
  )
  signCase(
    { id: 'hs-sign/tessera', group: hsg, role: 'tessera', label: 'Tessera await createAccessToken' },
    hs,
    hsCryptoKey,
    () => hs.createAccessToken(SUB, tokenOptions),
  )
  signCase(
    { id: 'hs-sign/fast-jwt', group: hsg, role: 'library', label: 'fast-jwt createSigner' },
    hs,
    hsCryptoKey,
    () => fastHsSign(claimsNow()),
  )
  signCase(
    { id: 'hs-sign/jose', group: hsg, role: 'library', label: 'jose SignJWT (pre-imported CryptoKey)' },
    hs,
    hsCryptoKey,
    () =>
      new SignJWT(claimsNow())
        .setProtectedHeader({ alg: 'HS256', kid: hsKid, typ: TOKEN_TYP })
        .sign(hsCryptoKey),
  )
  signCase(
    { id: 'hs-sign/jsonwebtoken', group: hsg, role: 'library', label: 'jsonwebtoken sign (KeyObject)' },
    hs,
    hsCryptoKey,
    () =>
      jsonwebtoken.sign(claimsNow(), secretKey, {
        algorithm: 'HS256',
        keyid: hsKid,
        header: { alg: 'HS256', typ: TOKEN_TYP },
      }),
  )

  // EdDSA (Ed25519) -------------------------------------------------------------------------------
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const privatePem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  const publicPem = publicKey.export({ format: 'pem', type: 'spki' }).toString()
  const ed = createTessera({
    keys: { alg: 'EdDSA', privateKey },
    accessTokenTtl: TTL_SECONDS,
    maxTokenAge: false,
    verifyCache: false,
  })
  const edCached = createTessera({
    keys: { alg: 'EdDSA', privateKey },
    accessTokenTtl: TTL_SECONDS,
    maxTokenAge: false,
  })
  const edKid = ed.keys.active.kid
  const edToken = await ed.createAccessToken(SUB, tokenOptions)
  if (ed.verifyInline(edToken) instanceof Promise) throw new Error('bench: verifyInline is not synchronous')
  const joseEdPublic = await importSPKI(publicPem, 'EdDSA')
  const joseEdPrivate = await importPKCS8(privatePem, 'EdDSA')
  const edHeader = b64json({ alg: 'EdDSA', kid: edKid, typ: TOKEN_TYP })
  const fastEdVerify = createVerifier({ key: publicPem, algorithms: ['EdDSA'], cache: false })
  const fastEdSign = createSigner({
    key: privatePem,
    algorithm: 'EdDSA',
    kid: edKid,
    header: { alg: 'EdDSA', typ: TOKEN_TYP },
    noTimestamp: true,
  })

  const ev = 'EdDSA verify' as const
  const edAlgs = { algorithms: ['EdDSA'] }
  verifyCase(
    { id: 'ed-verify/bare', group: ev, role: 'reference', label: 'bare node:crypto (KeyObject)' },
    edToken,
    (t) => bareEdDsaVerify(t, publicKey),
  )
  verifyCase(
    {
      id: 'ed-verify/tessera-inline',
      group: ev,
      role: 'tessera',
      label: 'Tessera verifyInline (sync, verifyCache off)',
    },
    edToken,
    (t) => ed.verifyInline(t),
    claimsOf,
  )
  verifyCase(
    { id: 'ed-verify/tessera-await', group: ev, role: 'tessera', label: 'Tessera await verify' },
    edToken,
    (t) => ed.verify(t),
    claimsOf,
  )
  verifyCase(
    {
      id: 'ed-verify/tessera-cached',
      group: ev,
      role: 'variant',
      label: 'Tessera verifyInline, verifyCache hit (the default)',
    },
    edToken,
    (t) => edCached.verifyInline(t),
    claimsOf,
  )
  // Issue 13: the same verification in a resource server whose key ring is a remote JWKS. Its fetch is
  // answered in process (the `fetch` option), once, before timing; the timed calls never fetch.
  const remoteKeys = async (): Promise<ReturnType<Engine['remoteJwks']>> => {
    const body = JSON.stringify(ed.jwks())
    const keys = engine.remoteJwks('http://127.0.0.1/.well-known/jwks.json', {
      fetch: () =>
        Promise.resolve(
          new Response(body, {
            headers: { 'content-type': 'application/json', 'cache-control': 'max-age=3600' },
          }),
        ),
    })
    await keys.ready()
    return keys
  }
  const edRemote = createTessera({
    keys: await remoteKeys(),
    accessTokenTtl: TTL_SECONDS,
    maxTokenAge: false,
    verifyCache: false,
  })
  const edRemoteCached = createTessera({
    keys: await remoteKeys(),
    accessTokenTtl: TTL_SECONDS,
    maxTokenAge: false,
  })
  if (edRemote.verifyInline(edToken) instanceof Promise)
    throw new Error('bench: remote verifyInline is not synchronous')
  verifyCase(
    {
      id: 'ed-verify/tessera-remote',
      group: ev,
      role: 'variant',
      label: 'Tessera verifyInline, resource server on `remoteJwks` (verifyCache off)',
    },
    edToken,
    (t) => edRemote.verifyInline(t),
    claimsOf,
  )
  verifyCase(
    {
      id: 'ed-verify/tessera-remote-cached',
      group: ev,
      role: 'variant',
      label: 'Tessera verifyInline, resource server on `remoteJwks`, verifyCache hit',
    },
    edToken,
    (t) => edRemoteCached.verifyInline(t),
    claimsOf,
  )
  verifyCase(
    { id: 'ed-verify/fast-jwt', group: ev, role: 'library', label: 'fast-jwt createVerifier (cache: false)' },
    edToken,
    (t) => fastEdVerify(t),
  )
  verifyCase(
    { id: 'ed-verify/jose', group: ev, role: 'library', label: 'jose jwtVerify (pre-imported CryptoKey)' },
    edToken,
    (t) => jwtVerify(t, joseEdPublic, edAlgs),
    payloadOf,
  )

  const esg = 'EdDSA sign' as const
  signCase(
    { id: 'ed-sign/bare', group: esg, role: 'reference', label: 'bare node:crypto (KeyObject)' },
    ed,
    joseEdPublic,
    () => {
      const input = `${edHeader}.${b64json(claimsNow())}`
      return `${input}.${cryptoSign(null, Buffer.from(input), privateKey).toString('base64url')}`
    },
  )
  signCase(
    { id: 'ed-sign/tessera', group: esg, role: 'tessera', label: 'Tessera await createAccessToken' },
    ed,
    joseEdPublic,
    () => ed.createAccessToken(SUB, tokenOptions),
  )
  signCase(
    { id: 'ed-sign/fast-jwt', group: esg, role: 'library', label: 'fast-jwt createSigner' },
    ed,
    joseEdPublic,
    () => fastEdSign(claimsNow()),
  )
  signCase(
    { id: 'ed-sign/jose', group: esg, role: 'library', label: 'jose SignJWT (pre-imported CryptoKey)' },
    ed,
    joseEdPublic,
    () =>
      new SignJWT(claimsNow())
        .setProtectedHeader({ alg: 'EdDSA', kid: edKid, typ: TOKEN_TYP })
        .sign(joseEdPrivate),
  )

  const noEdDsa = 'jsonwebtoken 9 implements no EdDSA'
  return {
    cases,
    unsupported: [
      { group: ev, label: 'jsonwebtoken verify', reason: noEdDsa },
      { group: esg, label: 'jsonwebtoken sign', reason: noEdDsa },
    ],
    tokens: { hs256: hsToken, eddsa: edToken },
  }
}
