// Property-based fuzzing over HTTP (issue 8, "Fuzzing"): fast-check mutations of genuine tokens, random
// headers and claims (unsigned, and signed by the server's own key), and random request bodies against
// the JSON endpoints. Properties: never a 5xx, the server keeps answering, never an accepted forgery.
// TESSERA_FUZZ_RUNS sets the number of runs per property (default 100).
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { createTessera, generateKey } from '../../packages/tessera/src/index.js'
import { PASSWORD, uniqueName, useServer, type Tokens } from '../helpers/server-harness.js'
import { b64, FUZZ_RUNS, now, partsOf, signedBy, useAdapterApps } from './tools.js'

// Generous: each run is one or a few loopback requests.
const TIMEOUT = 60_000

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')
// Header values must be visible ASCII (fetch refuses anything else before it reaches the server).
const ascii = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c))

/** One edit of a token: replace, insert or delete a character, or rearrange the segments. */
type Mutation =
  | { kind: 'replace' | 'insert'; at: number; char: string }
  | { kind: 'delete'; at: number }
  | { kind: 'swap'; a: number; b: number }
  | { kind: 'duplicate'; which: number }
  | { kind: 'case'; at: number }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('replace' as const, 'insert' as const),
    at: fc.nat(),
    char: fc.oneof(fc.constantFrom(...BASE64URL, '.', '='), ascii),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), a: fc.nat(2), b: fc.nat(2) }),
  fc.record({ kind: fc.constant('duplicate' as const), which: fc.nat(2) }),
  fc.record({ kind: fc.constant('case' as const), at: fc.nat() }),
)

function apply(token: string, edits: readonly Mutation[]): string {
  let out = token
  for (const edit of edits) {
    const at = out.length === 0 ? 0 : ('at' in edit ? edit.at : 0) % out.length
    switch (edit.kind) {
      case 'replace':
        out = out.slice(0, at) + edit.char + out.slice(at + 1)
        break
      case 'insert':
        out = out.slice(0, at) + edit.char + out.slice(at)
        break
      case 'delete':
        out = out.slice(0, at) + out.slice(at + 1)
        break
      case 'case': {
        const c = out.charAt(at)
        out =
          out.slice(0, at) + (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) + out.slice(at + 1)
        break
      }
      case 'swap': {
        const parts = out.split('.')
        const [x, y] = [parts[edit.a], parts[edit.b]]
        if (x !== undefined && y !== undefined) {
          parts[edit.a] = y
          parts[edit.b] = x
        }
        out = parts.join('.')
        break
      }
      case 'duplicate': {
        const parts = out.split('.')
        const part = parts[edit.which]
        if (part !== undefined) parts.splice(edit.which, 0, part)
        out = parts.join('.')
        break
      }
    }
  }
  return out
}

/** A JSON value of bounded size, plus the values JWT parsers have tripped on. */
const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    null,
    '',
    'none',
    'None',
    'HS256',
    'EdDSA',
    -1,
    0,
    1e300,
    2 ** 53,
    '../../../dev/null',
    "' OR 1=1 --",
    [],
    {},
    { __proto__: null },
    '__proto__',
  ),
)

const server = useServer()
let alice: Tokens
let admin: Tokens
let victimId: number

beforeAll(async () => {
  alice = await server.register(uniqueName('fuzz'))
  const adminName = uniqueName('fuzz-admin')
  await server.createUserWithCli(adminName, 'fuzz admin password long enough', true)
  admin = await server.login(adminName, 'fuzz admin password long enough')
  victimId = (await server.register(uniqueName('fuzz-victim'))).userId
})

describe('mutated genuine tokens (server)', () => {
  it(
    'never accepts a mutated access token on /admin or /protected, never a 5xx',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (edits) => {
          const token = apply(alice.access, edits)
          if (token === alice.access) return
          for (const path of ['/protected', '/admin']) {
            const res = await server.api('GET', path, { token })
            expect(res.status, `${path} ${token}: ${res.text}`).toBeGreaterThanOrEqual(400)
            expect(res.status).toBeLessThan(500)
            expect(res.body.logged_in_as).toBeUndefined()
          }
        }),
        { numRuns: FUZZ_RUNS },
      )
    },
    TIMEOUT,
  )

  it(
    'never accepts a mutated refresh token on POST /auth/refresh, never a 5xx',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (edits) => {
          const token = apply(alice.refresh, edits)
          if (token === alice.refresh) return
          const res = await server.refresh(token)
          expect(res.status, `${token}: ${res.text}`).toBeGreaterThanOrEqual(400)
          expect(res.status).toBeLessThan(500)
          expect(res.body.access_token).toBeUndefined()
        }),
        { numRuns: FUZZ_RUNS },
      )
    },
    TIMEOUT,
  )

  it(
    'refuses random headers and payloads carrying the genuine signature (or none), never a 5xx',
    async () => {
      const { header, claims, segments } = partsOf(alice.access)
      await fc.assert(
        fc.asyncProperty(
          fc.dictionary(
            fc.constantFrom('alg', 'kid', 'typ', 'crit', 'jwk', 'jku', 'b64', 'x5c', 'zip', 'x'),
            jsonish,
          ),
          fc.dictionary(
            fc.constantFrom('sub', 'exp', 'nbf', 'iat', 'jti', 'type', 'roles', 'sid', 'aud', 'fresh'),
            jsonish,
          ),
          fc.constantFrom('genuine', 'empty', 'zeros'),
          async (headerChanges, claimChanges, signatureKind) => {
            const h = { ...header, ...headerChanges }
            const p = { ...claims, ...claimChanges }
            const signature =
              signatureKind === 'genuine'
                ? segments[2]
                : signatureKind === 'empty'
                  ? ''
                  : Buffer.alloc(64).toString('base64url')
            const token = `${b64(h)}.${b64(p)}.${signature}`
            if (token === alice.access) return
            const res = await server.api('GET', '/admin', { token })
            expect(res.status, `${token}: ${res.text}`).toBe(401)
          },
        ),
        { numRuns: FUZZ_RUNS },
      )
    },
    TIMEOUT,
  )
})

describe('authentic tokens with random claims (signed with the server key)', () => {
  // Bob's session takes the beating: replayed refresh jtis revoke it (reuse detection), as they should.
  let bob: Tokens
  beforeAll(async () => {
    bob = await server.register(uniqueName('fuzz-bob'))
  })

  it(
    'never answers a 5xx on /protected, /auth/me, /auth/logout and /auth/refresh, whatever the claims',
    async () => {
      const { header, claims } = partsOf(bob.access)
      const { header: refreshHeader, claims: refreshClaims } = partsOf(bob.refresh)
      const t = now()
      const claimValue = fc.oneof(
        jsonish,
        fc.constantFrom(
          t - 10,
          t + 10,
          t + 900,
          String(t + 900),
          'abc',
          '-1',
          '1e9',
          String(alice.userId),
          '999999999',
        ),
      )
      await fc.assert(
        fc.asyncProperty(
          fc.dictionary(
            fc.constantFrom('sub', 'exp', 'nbf', 'iat', 'jti', 'sid', 'roles', 'fresh', 'username'),
            claimValue,
            {
              maxKeys: 3,
            },
          ),
          async (changes) => {
            const access = signedBy(server.signingKey, header, {
              ...claims,
              ...changes,
              jti: `fz-${Math.random()}`,
            })
            const refresh = signedBy(server.signingKey, refreshHeader, { ...refreshClaims, ...changes })
            const answers = await Promise.all([
              server.api('GET', '/protected', { token: access }),
              server.api('GET', '/auth/me', { token: access }),
              server.api('GET', '/auth/sessions', { token: access }),
              server.refresh(refresh),
            ])
            for (const res of answers) expect(res.status, res.text).toBeLessThan(500)
          },
        ),
        { numRuns: FUZZ_RUNS },
      )
      // The logout path writes revocations: a smaller sample, on throw-away claims.
      await fc.assert(
        fc.asyncProperty(
          fc.dictionary(fc.constantFrom('sub', 'exp', 'sid', 'jti'), claimValue, { maxKeys: 2 }),
          async (changes) => {
            const token = signedBy(server.signingKey, header, {
              ...claims,
              sid: `fz-${Math.random()}`,
              jti: `fz-${Math.random()}`,
              ...changes,
            })
            const res = await server.api('POST', '/auth/logout', { token })
            expect(res.status, res.text).toBeLessThan(500)
          },
        ),
        { numRuns: Math.max(10, Math.floor(FUZZ_RUNS / 2)) },
      )
      // Alice's session is untouched by all that.
      expect((await server.me(alice.access)).status).toBe(200)
    },
    TIMEOUT,
  )
})

describe('random request bodies against the JSON endpoints', () => {
  const body = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.dictionary(
      fc.constantFrom(
        'username',
        'password',
        'refresh_token',
        'current_password',
        'new_password',
        'roles',
        'disabled',
        'role',
        '__proto__',
        'constructor',
      ),
      jsonish,
    ),
  )

  it(
    'never answers a 5xx to random JSON on register, login, refresh, password and the admin PATCH',
    async () => {
      await fc.assert(
        fc.asyncProperty(body, async (value) => {
          const answers = await Promise.all([
            server.api('POST', '/auth/login', { body: value }),
            server.api('POST', '/auth/refresh', { body: value }),
            server.api('POST', '/auth/password', { token: alice.access, body: value }),
            server.api('PATCH', `/users/${String(victimId)}`, { token: admin.access, body: value }),
            server.api('POST', '/auth/register', { body: value }),
          ])
          for (const res of answers) expect(res.status, res.text).toBeLessThan(500)
          // Random credentials never log anyone in.
          expect(answers[0].status).not.toBe(200)
        }),
        { numRuns: FUZZ_RUNS },
      )
      // Alice's password survived (a random body never matched her current password).
      expect(
        (await server.login(String(partsOf(alice.access).claims.username), PASSWORD)).access,
      ).toBeTruthy()
    },
    TIMEOUT,
  )

  it(
    'never answers a 5xx to random raw text sent as JSON',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.string({ maxLength: 200 }), async (text) => {
          const paths = ['/auth/login', '/auth/register', '/auth/refresh']
          const answers = await Promise.all(paths.map((path) => server.api('POST', path, { raw: text })))
          for (const [i, res] of answers.entries()) {
            expect(res.status, `${paths[i] ?? ''} ${JSON.stringify(text)}: ${res.text}`).toBeLessThan(500)
          }
        }),
        { numRuns: FUZZ_RUNS },
      )
    },
    TIMEOUT,
  )

  it(
    'never logs anyone in with random structured credentials (unknown users cost a dummy hash)',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.record({ username: fc.string({ maxLength: 80 }), password: fc.string({ maxLength: 80 }) }),
          async (credentials) => {
            const res = await server.api('POST', '/auth/login', { body: credentials })
            expect([400, 401]).toContain(res.status)
          },
        ),
        { numRuns: Math.max(10, Math.floor(FUZZ_RUNS / 4)) },
      )
    },
    TIMEOUT,
  )

  it('still serves Alice after all that', async () => {
    // A few random bodies of its own first, aimed at Alice's session and password.
    for (const value of fc.sample(body, 10)) {
      expect(
        (await server.api('POST', '/auth/password', { token: alice.access, body: value })).status,
      ).toBeLessThan(500)
      expect((await server.api('POST', '/auth/refresh', { body: value })).status).toBeLessThan(500)
    }
    expect((await server.me(alice.access)).status).toBe(200)
    expect((await server.api('GET', '/healthz')).status).toBe(200)
  })
})

describe('mutated genuine tokens (Fastify and Express adapters)', () => {
  const { apps, auth } = useAdapterApps(async () => ({
    auth: createTessera({ keys: await generateKey('ES256') }),
  }))

  it(
    'never accepts a mutated token, never a 5xx',
    async () => {
      const token = await auth().createAccessToken('alice', { claims: { roles: [] } })
      await fc.assert(
        fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (edits) => {
          const forged = apply(token, edits)
          if (forged === token) return
          for (const app of apps) {
            const res = await app.client.api('GET', '/protected', { token: forged })
            expect(res.status, `${app.name} ${forged}: ${res.text}`).toBe(401)
          }
        }),
        { numRuns: FUZZ_RUNS },
      )
    },
    TIMEOUT,
  )
})
