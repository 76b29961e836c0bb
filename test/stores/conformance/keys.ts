// The signing-key repository and the audit log.
import { describe, expect, it } from 'vitest'
import { createKeyRing } from '../../../packages/tessera/src/core/key-ring.js'
import { generateKey, importKey } from '../../../packages/tessera/src/core/keys.js'
import { createTessera } from '../../../packages/tessera/src/core/tessera.js'
import type { SuiteContext } from './context.js'
import { NOW } from './context.js'
import { keyLifecycleTests } from './key-lifecycle.js'

export function keyAndAuditTests(ctx: () => SuiteContext): void {
  describe('keyStore', () => {
    it('round-trips a key: tokens signed before saving verify with the loaded ring after a restart', async () => {
      const key = await generateKey('EdDSA')
      const before = createTessera({ keys: key, revocation: false })
      const token = await before.createAccessToken('alice')
      await ctx().stores.keys.save(key, { activate: true, now: NOW })
      const ring = await (await ctx().reopen()).keys.loadRing(NOW)
      expect(ring?.active.kid).toBe(key.kid)
      const after = createTessera({ keys: ring!, revocation: false })
      expect((await after.verify(token)).identity).toBe('alice')
      expect((await before.verify(await after.createAccessToken('bob'))).identity).toBe('bob')
    })

    it('round-trips HMAC, RSA and ECDSA keys', async () => {
      const { keys } = ctx().stores
      const saved = [await generateKey('HS256'), await generateKey('RS256'), await generateKey('ES256')]
      for (const key of saved) await keys.save(key, { now: NOW })
      const { keys: loaded, activeKid } = await keys.load()
      expect(activeKid).toBeUndefined()
      expect(await keys.loadRing()).toBeUndefined()
      for (const key of saved) {
        const copy = loaded.find((k) => k.kid === key.kid)!
        expect(copy.alg).toBe(key.alg)
        expect(key.verify('input', copy.sign('input'))).toBe(true)
      }
    })

    it('activates one key at a time and retires the previous one', async () => {
      const { keys } = ctx().stores
      const first = await generateKey('EdDSA', { kid: 'k1' })
      const second = await generateKey('EdDSA', { kid: 'k2' })
      await keys.save(first, { activate: true, now: NOW })
      await keys.save(second, { now: NOW + 1 })
      expect((await keys.list(NOW + 1)).map((k) => [k.kid, k.active, k.state])).toEqual([
        ['k1', true, 'active'],
        ['k2', false, 'generated'],
      ])
      expect(await keys.activate('k2', NOW + 2)).toBe(true)
      expect(await keys.activate('nope', NOW + 2)).toBe(false)
      expect(await keys.list(NOW + 2)).toEqual([
        {
          kid: 'k2',
          alg: 'EdDSA',
          state: 'active',
          createdAt: NOW + 1,
          activatedAt: NOW + 2,
          retiredAt: null,
          revokedAt: null,
          active: true,
        },
        {
          kid: 'k1',
          alg: 'EdDSA',
          state: 'retired',
          createdAt: NOW,
          activatedAt: NOW,
          retiredAt: NOW + 2,
          revokedAt: null,
          active: false,
        },
      ])
      expect((await keys.loadRing(NOW + 2))?.active.kid).toBe('k2')
      expect(await keys.pruneRetired(10, NOW + 12)).toEqual([])
      expect(await keys.pruneRetired(10, NOW + 13)).toEqual(['k1'])
    })

    it('brings a running ring up to date with a rotation made elsewhere', async () => {
      const { keys } = ctx().stores
      const first = await generateKey('EdDSA', { kid: 'k1' })
      await keys.save(first, { activate: true, now: NOW })
      const ring = (await keys.loadRing(NOW))!
      expect(await keys.syncRing(ring, NOW)).toBe(false)
      await keys.save(await generateKey('EdDSA', { kid: 'k2' }), { activate: true, now: NOW + 1 })
      expect(await keys.syncRing(ring, NOW + 1)).toBe(true)
      expect(ring.active.kid).toBe('k2')
      expect(ring.get('k1')).toBeDefined()
      await keys.pruneRetired(0, NOW + 2)
      expect(await keys.syncRing(ring, NOW + 2)).toBe(true)
      expect(ring.get('k1')).toBeUndefined()
      expect(createKeyRing(ring.active).active.kid).toBe('k2')
    })

    it('refuses a key without private material and a duplicate kid', async () => {
      const { keys } = ctx().stores
      const key = await generateKey('EdDSA', { kid: 'k1' })
      const publicOnly = importKey({
        alg: 'EdDSA',
        publicKey: key.publicJwk,
        kid: 'pub',
      })
      await expect(keys.save(publicOnly)).rejects.toMatchObject({ code: 'configuration_error' })
      await keys.save(key)
      await expect(keys.save(key)).rejects.toThrow()
      expect(await keys.list()).toHaveLength(1)
    })

    it('names the key whose stored JWK is damaged, instead of a bare JSON error', async () => {
      const { keys } = ctx().stores
      await keys.save(await generateKey('EdDSA', { kid: 'k1' }), { activate: true, now: NOW })
      await keys.save(await generateKey('EdDSA', { kid: 'k2' }), { now: NOW })
      // Cut short by hand, as an editor or a truncated restore leaves it.
      await ctx()
        .db.updateTable('signing_keys')
        .set({ private_jwk: '{"crv":"Ed25519","d":"abc' })
        .where('kid', '=', 'k2')
        .execute()
      await expect(keys.loadRing(NOW)).rejects.toMatchObject({
        code: 'configuration_error',
        option: 'signing_keys.k2',
        message: expect.stringMatching(/not valid JSON.*tessera keys revoke/) as unknown,
      })
    })
  })

  keyLifecycleTests(ctx)

  describe('auditStore', () => {
    it('records events and lists them newest first, by user, page by page', async () => {
      const { audit } = ctx().stores
      await audit.record({ event: 'register', userId: 1, at: NOW })
      await audit.record({ event: 'login', userId: 1, detail: { ip: '127.0.0.1' }, at: NOW + 1 })
      await audit.record({ event: 'key_rotated', at: NOW + 2 })
      const all = await audit.list()
      expect(all.map((e) => e.event)).toEqual(['key_rotated', 'login', 'register'])
      expect(all[1]).toMatchObject({ at: NOW + 1, userId: 1, detail: { ip: '127.0.0.1' } })
      expect(all[0]).toMatchObject({ userId: null, detail: null })
      expect((await audit.list({ userId: 1, limit: 1 })).map((e) => e.event)).toEqual(['login'])
      expect((await audit.list({ beforeId: all[1]!.id })).map((e) => e.event)).toEqual(['register'])
      // Of given types only (the routine ones), all at once or in batches.
      expect(await audit.purgeBefore(NOW + 3, undefined, { events: ['login', 'refresh'] })).toBe(1)
      expect(await audit.purgeBefore(NOW + 3, 10, { events: ['register'] })).toBe(1)
      expect(await audit.purgeBefore(NOW + 3, 10, { events: [] })).toBe(0)
      expect((await audit.list()).map((e) => e.event)).toEqual(['key_rotated'])
      expect(await audit.purgeBefore(NOW + 3)).toBe(1)
    })
  })
}
