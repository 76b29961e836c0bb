// The signing-key lifecycle: scheduled rotation (pending → active → retired), emergency rotation,
// revocation and pruning, with explicit times so every backend answers the same.
import { describe, expect, it } from 'vitest'
import { rotateSigningKey } from '../../../packages/server/src/server/key-lifecycle.js'
import { keyStore as keyStoreOf } from '../../../packages/server/src/stores/sql/signing-keys.js'
import { sqlStores } from '../../../packages/server/src/stores/sql/stores.js'
import { generateKey } from '../../../packages/tessera/src/core/keys.js'
import { createTessera } from '../../../packages/tessera/src/core/tessera.js'
import type { SuiteContext } from './context.js'
import { NOW } from './context.js'

export function keyLifecycleTests(ctx: () => SuiteContext): void {
  /** k1 signing since NOW, k2 stored at NOW + 1 and scheduled to sign from NOW + 100. */
  const scheduled = async (): Promise<void> => {
    const { keys } = ctx().stores
    await keys.save(await generateKey('EdDSA', { kid: 'k1' }), { activate: true, now: NOW })
    await keys.save(await generateKey('EdDSA', { kid: 'k2' }), { now: NOW + 1 })
    expect(await keys.activate('k2', NOW + 100)).toBe(true)
  }
  const states = async (now: number): Promise<[string, string][]> =>
    (await ctx().stores.keys.list(now)).map((k) => [k.kid, k.state])

  describe('keyStore lifecycle', () => {
    it('publishes a scheduled key at once and signs with it only from its activation time', async () => {
      await scheduled()
      const { keys } = ctx().stores
      expect(await states(NOW + 50)).toEqual([
        ['k1', 'active'],
        ['k2', 'pending'],
      ])
      const before = (await keys.loadRing(NOW + 50))!
      expect(before.active.kid).toBe('k1')
      expect(
        before
          .jwks()
          .keys.map((k) => k.kid)
          .sort(),
      ).toEqual(['k1', 'k2'])
      expect((await keys.list(NOW + 50))[0]).toMatchObject({ kid: 'k1', retiredAt: NOW + 100 })

      expect(await states(NOW + 100)).toEqual([
        ['k2', 'active'],
        ['k1', 'retired'],
      ])
      // A running ring follows the schedule on its next refresh, keeping the old key for verification.
      expect(await keys.syncRing(before, NOW + 99)).toBe(false)
      expect(await keys.syncRing(before, NOW + 100)).toBe(true)
      expect(before.active.kid).toBe('k2')
      expect(before.get('k1')).toBeDefined()
    })

    it('lets an emergency rotation overtake a scheduled one: the scheduled key never signs', async () => {
      await scheduled()
      const { keys } = ctx().stores
      await keys.save(await generateKey('EdDSA', { kid: 'k3' }), { now: NOW + 10 })
      expect(await keys.activate('k3', NOW + 10)).toBe(true)
      expect(await states(NOW + 10)).toEqual([
        ['k3', 'active'],
        ['k2', 'retired'],
        ['k1', 'retired'],
      ])
      expect((await keys.loadRing(NOW + 500))?.active.kid).toBe('k3')
    })

    it('revokes a retired key: out of the ring and the JWKS, its tokens refused, its material erased', async () => {
      const { keys } = ctx().stores
      const k1 = await generateKey('EdDSA', { kid: 'k1' })
      await keys.save(k1, { activate: true, now: NOW })
      const token = await createTessera({ keys: k1, revocation: false }).createAccessToken('alice')
      await keys.save(await generateKey('EdDSA', { kid: 'k2' }), { activate: true, now: NOW + 10 })
      const ring = (await keys.loadRing(NOW + 10))!
      const auth = createTessera({ keys: ring, revocation: false })
      expect((await auth.verify(token)).identity).toBe('alice')

      expect(await keys.revoke('k1', NOW + 20)).toBe('revoked')
      expect(await keys.syncRing(ring, NOW + 20)).toBe(true)
      expect(ring.get('k1')).toBeUndefined()
      expect(ring.jwks().keys.map((k) => k.kid)).toEqual(['k2'])
      await expect(auth.verify(token)).rejects.toMatchObject({ code: 'token_unknown_key', status: 401 })
      expect((await keys.loadRing(NOW + 20))?.get('k1')).toBeUndefined()
      expect((await keys.list(NOW + 20)).find((k) => k.kid === 'k1')).toMatchObject({
        state: 'revoked',
        revokedAt: NOW + 20,
        active: false,
      })
      const row = await ctx()
        .db.selectFrom('signing_keys')
        .select('private_jwk')
        .where('kid', '=', 'k1')
        .executeTakeFirstOrThrow()
      expect(row.private_jwk).toBe('')
      expect(await keys.revoke('k1', NOW + 21)).toBe('already_revoked')
      expect(await keys.activate('k1', NOW + 22)).toBe(false)
    })

    it('refuses to revoke the signing key or an unknown kid, and changes nothing', async () => {
      const { keys } = ctx().stores
      await keys.save(await generateKey('EdDSA', { kid: 'k1' }), { activate: true, now: NOW })
      expect(await keys.revoke('k1', NOW + 1)).toBe('active')
      expect(await keys.revoke('nope', NOW + 1)).toBe('unknown')
      expect(await states(NOW + 1)).toEqual([['k1', 'active']])
      expect((await keys.loadRing(NOW + 1))?.active.kid).toBe('k1')
    })

    it('cancels a scheduled rotation when the pending key is revoked: the current key keeps signing', async () => {
      await scheduled()
      const { keys } = ctx().stores
      expect(await keys.revoke('k2', NOW + 50)).toBe('revoked')
      expect(await states(NOW + 200)).toEqual([
        ['k1', 'active'],
        ['k2', 'revoked'],
      ])
      expect((await keys.list(NOW + 200))[0]).toMatchObject({ kid: 'k1', retiredAt: null })
      expect((await keys.loadRing(NOW + 200))?.jwks().keys.map((k) => k.kid)).toEqual(['k1'])
    })

    it('prunes retired and revoked keys once, whichever connection asks first', async () => {
      const { keys } = ctx().stores
      await keys.save(await generateKey('EdDSA', { kid: 'k1' }), { activate: true, now: NOW })
      await keys.save(await generateKey('EdDSA', { kid: 'k2' }), { activate: true, now: NOW + 10 })
      await keys.save(await generateKey('EdDSA', { kid: 'k3' }), { now: NOW + 11 })
      expect(await keys.revoke('k3', NOW + 12)).toBe('revoked')
      const peer = keyStoreOf(await ctx().connect({ peer: true }))
      expect(await keys.pruneRetired(100, NOW + 110)).toEqual([])
      const [first, second] = await Promise.all([
        keys.pruneRetired(100, NOW + 113),
        peer.pruneRetired(100, NOW + 113),
      ])
      expect([...first, ...second].sort()).toEqual(['k1', 'k3'])
      expect(await keys.pruneRetired(100, NOW + 113)).toEqual([])
      expect(await states(NOW + 113)).toEqual([['k2', 'active']])
    })
  })

  describe('rotateSigningKey', () => {
    // A refresh interval of 5 s and a JWKS max-age of 300 s: a successor signs 306 s after it is stored.
    const config = { algorithm: 'EdDSA', jwksMaxAge: 300, keyRefreshInterval: 5 } as const
    const DAY = 86_400

    it('rotates by age: not before the key has signed maxKeyAge, its successor published 306 s ahead', async () => {
      const { stores } = ctx()
      await stores.keys.save(await generateKey('EdDSA', { kid: 'k1' }), { activate: true, now: NOW })
      const due = NOW + DAY - 306
      expect(await rotateSigningKey(stores, config, { maxKeyAge: DAY, now: due - 1 })).toEqual({
        status: 'not_due',
        due,
      })
      expect(await states(due - 1)).toEqual([['k1', 'active']])

      const rotation = await rotateSigningKey(stores, config, { maxKeyAge: DAY, now: due, by: 'automatic' })
      expect(rotation).toMatchObject({ status: 'scheduled', at: NOW + DAY })
      // A new key (none was stored to pick).
      const next = (rotation as { kid: string }).kid
      expect(next).not.toBe('k1')
      expect(await states(due)).toEqual([
        ['k1', 'active'],
        [next, 'pending'],
      ])
      // Checked again before it signs: reported, not stacked.
      expect(await rotateSigningKey(stores, config, { maxKeyAge: DAY, now: due + 60 })).toEqual({
        status: 'already_scheduled',
        kid: next,
        at: NOW + DAY,
      })
      // Once it signs, its own age counts.
      expect(await rotateSigningKey(stores, config, { maxKeyAge: DAY, now: NOW + DAY + 60 })).toEqual({
        status: 'not_due',
        due: NOW + 2 * DAY - 306,
      })
      expect(await states(NOW + DAY)).toEqual([
        [next, 'active'],
        ['k1', 'retired'],
      ])
      const events = await stores.audit.list()
      expect(events.map((e) => [e.event, e.detail])).toEqual([
        ['key_rotation_scheduled', { kid: next, activates_at: NOW + DAY, by: 'automatic' }],
      ])
    })

    it('switches to a generated key of the configured algorithm, at once if it was published long enough', async () => {
      const { stores } = ctx()
      await stores.keys.save(await generateKey('EdDSA', { kid: 'k1' }), { activate: true, now: NOW })
      await stores.keys.save(await generateKey('ES256', { kid: 'other-alg' }), { now: NOW + 5 })
      await stores.keys.save(await generateKey('EdDSA', { kid: 'k2' }), { now: NOW + 10 })
      expect(await rotateSigningKey(stores, config, { now: NOW + 100 })).toEqual({
        status: 'scheduled',
        kid: 'k2',
        at: NOW + 10 + 306,
      })
      // An emergency still waits one key refresh interval (+1 s), for every instance to load the key.
      expect(await rotateSigningKey(stores, config, { immediate: true, now: NOW + 200 })).toEqual({
        status: 'rotated',
        kid: 'k2',
        at: NOW + 206,
      })
      expect(await states(NOW + 205)).toEqual([
        ['k1', 'active'],
        ['k2', 'pending'],
        ['other-alg', 'generated'],
      ])
      expect(await states(NOW + 206)).toEqual([
        ['k2', 'active'],
        ['other-alg', 'generated'],
        ['k1', 'retired'],
      ])
    })

    it('adds one key when five rotations decide at once over five connections', async () => {
      await ctx().stores.keys.save(await generateKey('EdDSA', { kid: 'k1' }), { activate: true, now: NOW })
      const peers = await Promise.all([1, 2, 3, 4].map(() => ctx().connect({ peer: true })))
      const results = await Promise.all(
        [ctx().db, ...peers].map((db) =>
          rotateSigningKey(sqlStores(db), config, { maxKeyAge: DAY, now: NOW + DAY }),
        ),
      )
      const scheduled = results.filter((r) => r.status === 'scheduled')
      expect(scheduled).toHaveLength(1)
      const { kid } = scheduled[0] as { kid: string }
      expect(results.filter((r) => r.status === 'already_scheduled')).toEqual(
        Array.from({ length: 4 }, () => ({ status: 'already_scheduled', kid, at: NOW + DAY + 306 })),
      )
      expect(await states(NOW + DAY)).toEqual([
        ['k1', 'active'],
        [kid, 'pending'],
      ])
      expect((await ctx().stores.audit.list()).map((e) => e.event)).toEqual(['key_rotation_scheduled'])
    })
  })
}
