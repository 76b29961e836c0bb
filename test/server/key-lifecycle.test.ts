// The per-instance key lifecycle: one refresh prunes what has expired and brings the ring up to date;
// concurrent refreshes share one run; scheduled by the maintenance runner, a failing database leaves
// the ring as it was and is reported.
import type { Kysely } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  KEY_CLOCK_SKEW_SECONDS,
  keyRetentionSeconds,
  keyLifecycle,
  registerKeyLifecycle,
  rotationDelaySeconds,
} from '../../packages/server/src/server/key-lifecycle.js'
import { createMaintenance, type Maintenance } from '../../packages/server/src/server/maintenance.js'
import { openDatabase } from '../../packages/server/src/stores/sql/database.js'
import { migrateToLatest } from '../../packages/server/src/stores/sql/migrations/index.js'
import type { TesseraDatabase } from '../../packages/server/src/stores/sql/schema.js'
import { keyStore, type KeyStore } from '../../packages/server/src/stores/sql/signing-keys.js'
import { generateKey } from '../../packages/tessera/src/core/keys.js'

const now = (): number => Math.floor(Date.now() / 1000)

describe('key lifecycle', () => {
  let db: Kysely<TesseraDatabase>
  let keys: KeyStore
  let maintenance: Maintenance | undefined

  beforeEach(async () => {
    db = await openDatabase({ url: ':memory:' })
    await migrateToLatest(db)
    keys = keyStore(db)
  })
  afterEach(async () => {
    await maintenance?.stop()
    maintenance = undefined
    await db.destroy()
  })

  it('keeps a retired key for the longest token lifetime plus one refresh interval and the clock margin', () => {
    const config = { accessTokenTtl: 900, refreshTokenTtl: 86_400, keyRefreshInterval: 5, jwksMaxAge: 300 }
    expect(keyRetentionSeconds(config)).toBe(86_400 + 5 + KEY_CLOCK_SKEW_SECONDS)
    expect(rotationDelaySeconds(config)).toBe(305)
  })

  it('prunes expired keys and follows rotations and revocations in one refresh', async () => {
    const t = now()
    await keys.save(await generateKey('EdDSA', { kid: 'old' }), { activate: true, now: t - 1000 })
    await keys.save(await generateKey('EdDSA', { kid: 'k1' }), { activate: true, now: t - 500 })
    const ring = (await keys.loadRing())!
    expect(
      ring
        .jwks()
        .keys.map((k) => k.kid)
        .sort(),
    ).toEqual(['k1', 'old'])
    const lifecycle = keyLifecycle({ keys, ring, retentionSeconds: 100 })

    await keys.save(await generateKey('EdDSA', { kid: 'k2' }), { activate: true, now: t })
    await keys.save(await generateKey('EdDSA', { kid: 'k3' }), { now: t })
    const first = await lifecycle.refresh()
    expect(first).toEqual({ pruned: ['old'], changed: true })
    expect(ring.active.kid).toBe('k2')
    expect(
      ring
        .jwks()
        .keys.map((k) => k.kid)
        .sort(),
    ).toEqual(['k1', 'k2', 'k3'])

    expect(await keys.revoke('k3')).toBe('revoked')
    expect(await lifecycle.refresh()).toEqual({ pruned: [], changed: true })
    expect(ring.get('k3')).toBeUndefined()
    expect(await lifecycle.refresh()).toEqual({ pruned: [], changed: false })
  })

  it('runs concurrent refreshes once', async () => {
    await keys.save(await generateKey('EdDSA', { kid: 'k1' }), { activate: true })
    const ring = (await keys.loadRing())!
    const lifecycle = keyLifecycle({ keys, ring, retentionSeconds: 100 })
    const [a, b] = [lifecycle.refresh(), lifecycle.refresh()]
    expect(a).toBe(b)
    await a
  })

  it('leaves the ring as it was when the database fails, and reports it', async () => {
    await keys.save(await generateKey('EdDSA', { kid: 'k1' }), { activate: true })
    const ring = (await keys.loadRing())!
    const errors: string[] = []
    // Passes never run (interval 0): the key refresh runs on its own timer.
    maintenance = createMaintenance({ intervalMs: 0, onError: (task) => errors.push(task) })
    const lifecycle = registerKeyLifecycle(maintenance, { keys, ring, retentionSeconds: 100, intervalMs: 20 })
    maintenance.start()
    await db.destroy()
    await expect(lifecycle.refresh()).rejects.toThrow()
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(errors.length).toBeGreaterThan(0)
    expect(new Set(errors)).toEqual(new Set(['keys']))
    expect(ring.active.kid).toBe('k1')
    db = await openDatabase({ url: ':memory:' })
  })
})
