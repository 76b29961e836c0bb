// The key ring: one active signer, older keys kept for verification, rotation without logging anyone out,
// removal and pruning of retired keys, change notification, and the public JWKS.
import { describe, expect, it } from 'vitest'
import {
  ConfigurationError,
  createKeyRing,
  createTessera,
  decodeUnverified,
  exportKey,
  generateKey,
  importKey,
  isKeyRing,
  type KeyRing,
  type TesseraKey,
} from '../../packages/tessera/src/index.js'

const SECRET_A = 'key-ring-test-secret-number-one-0123456789'
const SECRET_B = 'key-ring-test-secret-number-two-0123456789'

function expectConfigurationError(fn: () => unknown, option: string): void {
  let caught: unknown
  try {
    fn()
  } catch (error) {
    caught = error
  }
  expect(caught).toBeInstanceOf(ConfigurationError)
  expect((caught as ConfigurationError).code).toBe('configuration_error')
  expect((caught as ConfigurationError).option).toBe(option)
}

async function verificationOnly(alg: 'EdDSA' | 'ES256' = 'EdDSA'): Promise<TesseraKey> {
  return importKey({ alg, publicKey: exportKey(await generateKey(alg)).pem! })
}

/** Counts change notifications. */
function watch(ring: KeyRing): { count: () => number; stop: () => void } {
  let calls = 0
  const stop = ring.onChange(() => {
    calls++
  })
  return { count: () => calls, stop }
}

describe('createKeyRing', () => {
  it('makes the first key the active signer and accepts key descriptions', async () => {
    const first = await generateKey('EdDSA')
    const ring = createKeyRing([first, { alg: 'HS256', secret: SECRET_A, kid: 'hs' }])
    expect(isKeyRing(ring)).toBe(true)
    expect(ring.active).toBe(first)
    expect(ring.get('hs')?.alg).toBe('HS256')
    expect(ring.get(first.kid)).toBe(first)
    expect(ring.get('nope')).toBeUndefined()
    expect(ring.version).toBe(0)
    expect(createKeyRing({ alg: 'HS256', secret: SECRET_A }).active.alg).toBe('HS256')
  })

  it('activates the key named by "active"', async () => {
    const [a, b] = await Promise.all([generateKey('ES256'), generateKey('ES256')])
    expect(createKeyRing([a, b], { active: b.kid }).active).toBe(b)
  })

  it('refuses an "active" kid that names no key, naming the "active" option', async () => {
    const key = await generateKey('ES256')
    expectConfigurationError(() => createKeyRing([key], { active: 'missing' }), 'active')
  })

  it('refuses an empty list', () => {
    expectConfigurationError(() => createKeyRing([]), 'keys')
  })

  it('refuses a verification-only key as the active signer when another key could sign', async () => {
    const verifier = await verificationOnly()
    const signer = await generateKey('EdDSA')
    expectConfigurationError(() => createKeyRing([signer, verifier], { active: verifier.kid }), 'keys')
    expect(createKeyRing([signer, verifier]).get(verifier.kid)).toBe(verifier)
  })

  it('builds a verify-only ring from public keys alone, which refuses to activate a public key', async () => {
    const verifier = await verificationOnly()
    const ring = createKeyRing([verifier])
    expect([ring.active, ring.active.canSign]).toEqual([verifier, false])
    const other = await verificationOnly()
    expectConfigurationError(() => ring.add(other, { activate: true }), 'key')
  })

  it('refuses a duplicate kid', async () => {
    const key = await generateKey('ES256')
    expectConfigurationError(() => createKeyRing([key, key]), 'keys[1]')
    expectConfigurationError(
      () =>
        createKeyRing([
          { alg: 'HS256', secret: SECRET_A, kid: 'same' },
          { alg: 'HS256', secret: SECRET_B, kid: 'same' },
        ]),
      'keys[1]',
    )
  })

  it('names the list entry of a bad key description', () => {
    expectConfigurationError(
      () =>
        createKeyRing([
          { alg: 'HS256', secret: SECRET_A },
          { alg: 'HS256', secret: 'too-short' },
        ]),
      'keys[1].secret',
    )
  })
})

describe('signing and rotation', () => {
  it('signs new tokens with the active key', async () => {
    const [a, b] = await Promise.all([generateKey('ES256'), generateKey('ES384')])
    const ring = createKeyRing([a, b])
    const auth = createTessera({ keys: ring })
    const token = await auth.createAccessToken('alice')
    expect(decodeUnverified(token).header).toMatchObject({ alg: 'ES256', kid: a.kid })
    const [header, payload, signature] = token.split('.') as [string, string, string]
    expect(a.verify(`${header}.${payload}`, signature)).toBe(true)
  })

  it('keeps verifying tokens of the old key after rotate(), while new tokens carry the new kid', async () => {
    const ring = createKeyRing(await generateKey('EdDSA'))
    const auth = createTessera({ keys: ring })
    const old = ring.active
    const before = await auth.createAccessToken('alice')

    const next = await ring.rotate()
    expect(next).not.toBe(old)
    expect(next.alg).toBe('EdDSA')
    expect(next.kid).not.toBe(old.kid)
    expect(ring.active).toBe(next)
    expect(ring.get(old.kid)).toBe(old)

    const after = await auth.createAccessToken('alice')
    expect(decodeUnverified(after).header.kid).toBe(next.kid)
    expect(decodeUnverified(before).header.kid).toBe(old.kid)
    expect((await auth.verify(before)).identity).toBe('alice')
    expect((await auth.verify(after)).identity).toBe('alice')
  })

  it('records when each key was added and retired, the active key first', async () => {
    const ring = createKeyRing(await generateKey('HS256'))
    const old = ring.active
    const start = Math.floor(Date.now() / 1000)
    const next = await ring.rotate()
    const entries = ring.entries()
    expect(entries.map((e) => e.key)).toEqual([next, old])
    expect(entries[0]!.retiredAt).toBeUndefined()
    expect(entries[1]!.retiredAt).toBeGreaterThanOrEqual(start)
    expect(entries[1]!.retiredAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000))
    for (const entry of entries) expect(entry.addedAt).toBeGreaterThanOrEqual(start - 1)
  })

  it('rotates to a given key, even of another algorithm, and back to a retired one', async () => {
    const ring = createKeyRing({ alg: 'HS256', secret: SECRET_A, kid: 'hs' })
    const auth = createTessera({ keys: ring })
    const hsToken = await auth.createAccessToken('alice')
    const ed = await ring.rotate({
      alg: 'EdDSA',
      privateKey: exportKey(await generateKey('EdDSA'), { includePrivate: true }).pem!,
    })
    expect(ring.active).toBe(ed)
    const edToken = await auth.createAccessToken('bob')
    expect(decodeUnverified(edToken).header).toMatchObject({ alg: 'EdDSA', kid: ed.kid })
    expect((await auth.verify(hsToken)).identity).toBe('alice')

    const hs = ring.get('hs')!
    await ring.rotate(hs)
    expect(ring.active).toBe(hs)
    expect(ring.entries()[0]!.retiredAt).toBeUndefined()
    expect(ring.entries().find((e) => e.key === ed)!.retiredAt).toEqual(expect.any(Number))
    expect((await auth.verify(edToken)).identity).toBe('bob')
  })

  it('refuses to rotate to a verification-only key and stays unchanged', async () => {
    const ring = createKeyRing(await generateKey('EdDSA'))
    const active = ring.active
    const verifier = await verificationOnly()
    await expect(ring.rotate(verifier)).rejects.toBeInstanceOf(ConfigurationError)
    await expect(ring.rotate(verifier)).rejects.toMatchObject({ code: 'configuration_error' })
    expect(ring.active).toBe(active)
    expect(ring.get(verifier.kid)).toBeUndefined()
    expect(ring.version).toBe(0)
  })

  it('refuses to rotate to a different key under a kid already in the ring', async () => {
    const ring = createKeyRing({ alg: 'HS256', secret: SECRET_A, kid: 'taken' })
    await expect(ring.rotate({ alg: 'HS256', secret: SECRET_B, kid: 'taken' })).rejects.toMatchObject({
      code: 'configuration_error',
      option: 'key',
    })
    expect(ring.version).toBe(0)
  })

  it('activates a signer added with activate: true', async () => {
    const ring = createKeyRing(await generateKey('ES256'))
    const old = ring.active
    const added = ring.add(
      { alg: 'ES256', privateKey: exportKey(await generateKey('ES256'), { includePrivate: true }).jwk },
      { activate: true },
    )
    expect(ring.active).toBe(added)
    expect(ring.entries().find((e) => e.key === old)!.retiredAt).toEqual(expect.any(Number))
  })

  it('leaves the ring unchanged when add() refuses to activate a verification-only key', async () => {
    const ring = createKeyRing(await generateKey('EdDSA'))
    const active = ring.active
    const verifier = await verificationOnly()
    expect(() => ring.add(verifier, { activate: true })).toThrow(ConfigurationError)
    expect(ring.active).toBe(active)
    expect(ring.get(verifier.kid)).toBeUndefined()
    expect(ring.entries()).toHaveLength(1)
  })
})

describe('adding and removing keys', () => {
  it('adds verification keys without changing the signer, and refuses a duplicate kid', async () => {
    const ring = createKeyRing(await generateKey('EdDSA'))
    const verifier = await verificationOnly()
    expect(ring.add(verifier)).toBe(verifier)
    expect(ring.active).not.toBe(verifier)
    expect(ring.version).toBe(1)
    expectConfigurationError(() => ring.add(verifier), 'key')
    expectConfigurationError(() => ring.add(ring.active), 'key')
    expect(ring.version).toBe(1)
  })

  it('verifies tokens signed by an added verification-only key', async () => {
    const issuer = createTessera({ keys: await generateKey('ES256') })
    const ring = createKeyRing(await generateKey('ES256'))
    const auth = createTessera({ keys: ring })
    const token = await issuer.createAccessToken('alice')
    await expect(auth.verify(token)).rejects.toMatchObject({ code: 'token_unknown_key' })
    ring.add({ alg: 'ES256', publicKey: issuer.jwks().keys[0]! as unknown as Record<string, unknown> })
    expect((await auth.verify(token)).identity).toBe('alice')
  })

  it('refuses to remove the active key', async () => {
    const ring = createKeyRing(await generateKey('EdDSA'))
    expectConfigurationError(() => ring.remove(ring.active.kid), 'kid')
    expect(ring.get(ring.active.kid)).toBe(ring.active)
    expect(ring.version).toBe(0)
  })

  it('removes a retired key, after which its tokens are refused as signed by an unknown key', async () => {
    const ring = createKeyRing(await generateKey('EdDSA'))
    const auth = createTessera({ keys: ring })
    const old = ring.active
    const token = await auth.createAccessToken('alice')
    await ring.rotate()
    expect((await auth.verify(token)).identity).toBe('alice') // also warms the header cache
    expect(ring.remove(old.kid)).toBe(true)
    expect(ring.get(old.kid)).toBeUndefined()
    await expect(auth.verify(token)).rejects.toMatchObject({ code: 'token_unknown_key' })
    expect(ring.remove(old.kid)).toBe(false)
    expect(ring.remove('never-existed')).toBe(false)
  })
})

describe('prune', () => {
  it('drops keys retired longer than the given age, and only those', async () => {
    const ring = createKeyRing({ alg: 'HS256', secret: SECRET_A, kid: 'first' })
    await ring.rotate({ alg: 'HS256', secret: SECRET_B, kid: 'second' })
    const verifier = await verificationOnly()
    ring.add(verifier) // never active, so never retired
    const retiredAt = ring.entries().find((e) => e.key.kid === 'first')!.retiredAt!
    const version = ring.version

    expect(ring.prune(3600, retiredAt + 3600)).toEqual([])
    expect(ring.version).toBe(version)
    expect(ring.prune(3600, retiredAt + 3601)).toEqual(['first'])
    expect(ring.get('first')).toBeUndefined()
    expect(ring.version).toBe(version + 1)
    expect(ring.get('second')).toBe(ring.active)
    expect(ring.get(verifier.kid)).toBe(verifier)
  })

  it('never drops the active key, however old', async () => {
    const ring = createKeyRing({ alg: 'HS256', secret: SECRET_A, kid: 'a' })
    await ring.rotate({ alg: 'HS256', secret: SECRET_B, kid: 'b' })
    await ring.rotate(ring.get('a'))
    const far = Math.floor(Date.now() / 1000) + 10 * 365 * 86_400
    expect(ring.prune(0, far)).toEqual(['b'])
    expect(ring.active.kid).toBe('a')
    expect(ring.prune(0, far)).toEqual([])
  })

  it('uses the current time by default', async () => {
    const ring = createKeyRing({ alg: 'HS256', secret: SECRET_A, kid: 'a' })
    await ring.rotate({ alg: 'HS256', secret: SECRET_B, kid: 'b' })
    expect(ring.prune(3600)).toEqual([])
    expect(ring.get('a')).toBeDefined()
  })
})

describe('version and onChange', () => {
  it('increases the version and notifies listeners on every change, and only then', async () => {
    const ring = createKeyRing(await generateKey('EdDSA'))
    const watcher = watch(ring)
    const versions = [ring.version]
    const step = (): void => {
      versions.push(ring.version)
    }

    const added = ring.add(await verificationOnly())
    step()
    const old = ring.active
    await ring.rotate()
    step()
    ring.remove(added.kid)
    step()
    ring.prune(0, Math.floor(Date.now() / 1000) + 10)
    expect(ring.get(old.kid)).toBeUndefined()
    step()
    expect(versions).toEqual([...versions].sort((x, y) => x - y))
    expect(new Set(versions).size).toBe(versions.length)
    expect(watcher.count()).toBe(4)

    // No-ops change nothing.
    ring.remove('missing')
    ring.prune(3600)
    expect(() => ring.add(ring.active)).toThrow(ConfigurationError)
    expect(ring.version).toBe(versions.at(-1))
    expect(watcher.count()).toBe(4)
  })

  it('stops notifying a listener once unsubscribed', async () => {
    const ring = createKeyRing(await generateKey('HS256'))
    const first = watch(ring)
    const second = watch(ring)
    await ring.rotate()
    first.stop()
    await ring.rotate()
    expect(first.count()).toBe(1)
    expect(second.count()).toBe(2)
  })
})

describe('jwks', () => {
  it('lists the public keys of every asymmetric key, active or not, and no HMAC key', async () => {
    const [ed, rs, es] = await Promise.all([generateKey('EdDSA'), generateKey('RS256'), generateKey('ES512')])
    const verifier = await verificationOnly('ES256')
    const ring = createKeyRing([{ alg: 'HS512', secret: 'h'.repeat(64), kid: 'hmac' }, ed, rs, es, verifier])
    const { keys } = ring.jwks()
    expect(keys.map((k) => k.kid).sort()).toEqual([ed.kid, rs.kid, es.kid, verifier.kid].sort())
    expect(keys.find((k) => k.kid === 'hmac')).toBeUndefined()
    for (const jwk of keys) {
      expect(jwk.use).toBe('sig')
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(jwk).not.toHaveProperty(member)
    }
    expect(keys.find((k) => k.kid === rs.kid)).toEqual(rs.publicJwk)
  })

  it('follows rotation and removal', async () => {
    const ring = createKeyRing(await generateKey('ES256'))
    const old = ring.active
    const next = await ring.rotate()
    expect(
      ring
        .jwks()
        .keys.map((k) => k.kid)
        .sort(),
    ).toEqual([old.kid, next.kid].sort())
    ring.remove(old.kid)
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual([next.kid])
  })

  it('returns copies that callers cannot use to change the ring', async () => {
    const ring = createKeyRing(await generateKey('EdDSA'))
    const published = ring.jwks()
    published.keys[0]!.kid = 'tampered'
    published.keys.push({ ...published.keys[0]!, kid: 'extra' })
    expect(ring.jwks().keys).toHaveLength(1)
    expect(ring.jwks().keys[0]!.kid).toBe(ring.active.kid)
    expect(ring.active.publicJwk!.kid).toBe(ring.active.kid)
  })
})
