/**
 * The key lifecycle of one instance: every `keyRefreshInterval` it prunes the keys whose tokens have all
 * expired and brings its key ring up to date with the database (a pending key published, a scheduled
 * rotation reached, a revoked key dropped). One small query per interval; every step is idempotent, so
 * any number of instances run it at once. A failure (database down) keeps the ring as it is, is
 * reported by the maintenance runner that schedules it (maintenance.ts), and is retried on the next tick.
 */
import { generateKey, type KeyRing } from 'tessera'
import type { KeyStore, StoredKeyInfo } from '../stores/sql/signing-keys.js'
import type { SqlStores } from '../stores/sql/stores.js'
import { nowSeconds } from '../time.js'
import type { ServerConfig } from './config.js'
import type { Maintenance } from './maintenance.js'

/** Margin for clock skew between instances, added to how long a retired key is kept. */
export const KEY_CLOCK_SKEW_SECONDS = 60

/** What one refresh did. */
export interface KeyRefreshResult {
  /** Kids deleted from the database by this instance (another instance may have pruned them first). */
  pruned: string[]
  /** True when the ring changed (a key added, removed, or a new signer). */
  changed: boolean
}

/** The key lifecycle of one instance. */
export interface KeyLifecycle {
  /** Runs one refresh now (concurrent calls, the scheduled ones included, share one run). */
  refresh(): Promise<KeyRefreshResult>
}

/** Options of {@link keyLifecycle}. */
export interface KeyLifecycleOptions {
  keys: KeyStore
  ring: KeyRing
  /** Seconds a retired key is kept: see {@link keyRetentionSeconds}. */
  retentionSeconds: number
  /** Called after a refresh that pruned keys or changed the ring. */
  onChange?: (result: KeyRefreshResult) => void
  /** The time to prune retired keys at, Unix seconds (the server's trusted clock). @default the wall clock */
  clock?: () => number
}

/**
 * How long a retired key must keep verifying: the longest token it can have signed (the refresh token
 * lifetime) plus the time instances may keep signing with it after its retirement (one refresh
 * interval) plus the clock-skew margin.
 */
export function keyRetentionSeconds(
  config: Pick<ServerConfig, 'refreshTokenTtl' | 'accessTokenTtl' | 'keyRefreshInterval'>,
): number {
  return (
    Math.max(config.refreshTokenTtl, config.accessTokenTtl) +
    config.keyRefreshInterval +
    KEY_CLOCK_SKEW_SECONDS
  )
}

/**
 * How long `tessera keys rotate` waits before the new key signs: every instance publishes it within one
 * refresh interval, and a service that fetched the JWKS just before keeps its copy for `max-age`.
 */
export function rotationDelaySeconds(
  config: Pick<ServerConfig, 'jwksMaxAge' | 'keyRefreshInterval'>,
): number {
  return config.jwksMaxAge + config.keyRefreshInterval
}

/** How {@link rotateSigningKey} rotates. */
export interface RotationOptions {
  /**
   * An emergency: the next key signs once every instance has loaded it (one key refresh interval, + 1 s)
   * instead of after {@link rotationDelaySeconds}; on a database without a signing key, at once.
   */
  immediate?: boolean
  /**
   * Rotate only if the signing key will have signed this long (seconds) by the time its successor
   * would take over (`TESSERA_KEY_ROTATION_INTERVAL`); absent: rotate now (`tessera keys rotate`).
   */
  maxKeyAge?: number
  /** Unix seconds. @default the current time */
  now?: number
  /** Recorded with the audit event (`automatic`: by the server's schedule). */
  by?: 'cli' | 'automatic'
}

/** What {@link rotateSigningKey} did. */
export type RotationResult =
  /**
   * `kid` signs from `at`: `rotated` for an emergency (within a key refresh interval, or at once on a
   * database with no key signing), `scheduled` once every service's cached JWKS has expired.
   */
  | { status: 'rotated' | 'scheduled'; kid: string; at: number }
  /** A rotation was pending already: `kid` signs from `at`; nothing changed. */
  | { status: 'already_scheduled'; kid: string; at: number }
  /** `maxKeyAge` not reached: the next rotation is due at `due`. Nothing changed. */
  | { status: 'not_due'; due: number }

/**
 * Rotates the signing key, the one decision shared by `tessera keys rotate` and the server's schedule:
 * the next key is the pending one, else the newest generated one of the configured algorithm (it has
 * been published longest), else a new key; it signs once every instance publishes it and every
 * service's cached JWKS has expired ({@link rotationDelaySeconds}, counted from when it was stored),
 * or at once when `immediate` or when no key signs yet. A rotation already pending is reported, not
 * stacked. Under the key store's lock, so instances and the CLI deciding at once add one key between
 * them; the change and its audit event are one transaction.
 */
export async function rotateSigningKey(
  stores: SqlStores,
  config: Pick<ServerConfig, 'algorithm' | 'jwksMaxAge' | 'keyRefreshInterval'>,
  options: RotationOptions = {},
): Promise<RotationResult> {
  const now = options.now ?? nowSeconds()
  const delay = rotationDelaySeconds(config)
  // Decided once without the lock (the schedule's check every minute takes no lock), and again under it.
  const first = planRotation(await stores.keys.list(now), now, delay, config.algorithm, options)
  if ('status' in first) return first
  // A new key is made before the lock is taken: an RSA key takes a while, and SQLite's lock holds every
  // other write up meanwhile.
  let spare = first.next === undefined ? await generateKey(config.algorithm) : undefined
  return stores.transaction(async (tx): Promise<RotationResult> => {
    await tx.keys.lockForChange()
    const plan = planRotation(await tx.keys.list(now), now, delay, config.algorithm, options)
    if ('status' in plan) return plan
    let next: Pick<StoredKeyInfo, 'kid' | 'createdAt'>
    if (plan.next === undefined) {
      const key = (spare ??= await generateKey(config.algorithm))
      await tx.keys.save(key, { now })
      next = { kid: key.kid, createdAt: now }
    } else next = plan.next
    // Plus one second: times are whole seconds, so the wait is never shorter than configured. Even an
    // emergency waits for every instance to publish the key (one refresh interval): a service meeting
    // the new kid refetches the JWKS through the load balancer, and an instance that had not loaded
    // it yet would answer the old set, which the service then keeps for its cooldown (jose: 30 s).
    const at = !plan.immediate
      ? Math.max(now, next.createdAt + 1 + delay)
      : plan.first
        ? now
        : now + config.keyRefreshInterval + 1
    if (!(await tx.keys.activate(next.kid, at))) throw new Error(`key ${next.kid} vanished during a rotation`)
    await tx.audit.record({
      event: plan.immediate ? 'key_rotated' : 'key_rotation_scheduled',
      detail: { kid: next.kid, activates_at: at, by: options.by ?? 'cli' },
      at: now,
    })
    return { status: plan.immediate ? 'rotated' : 'scheduled', kid: next.kid, at }
  })
}

/** A rotation's outcome when nothing is to change, else the key to switch to (`undefined`: a new one). */
function planRotation(
  keys: readonly StoredKeyInfo[],
  now: number,
  delay: number,
  algorithm: string,
  options: RotationOptions,
): RotationResult | { next: StoredKeyInfo | undefined; immediate: boolean; first: boolean } {
  const active = keys.find((k) => k.active)
  // With no key signing yet (a new database) there is nothing to wait for.
  const immediate = options.immediate === true || active === undefined
  const pending = keys.find((k) => k.state === 'pending')
  if (pending !== undefined && !immediate) {
    return { status: 'already_scheduled', kid: pending.kid, at: pending.activatedAt ?? now }
  }
  if (options.maxKeyAge !== undefined && active !== undefined && !immediate) {
    // The successor signs `delay` (+1 s) after it is stored: start early enough for the key to be
    // replaced when it has signed `maxKeyAge`.
    const due = (active.activatedAt ?? active.createdAt) + options.maxKeyAge - delay - 1
    if (now < due) return { status: 'not_due', due }
  }
  return {
    next: pending ?? keys.find((k) => k.state === 'generated' && k.alg === algorithm),
    immediate,
    first: active === undefined,
  }
}

/** The refresh of `ring` from `keys` (not scheduled: see {@link registerKeyLifecycle}). */
export function keyLifecycle(options: KeyLifecycleOptions): KeyLifecycle {
  const { keys, ring, retentionSeconds, onChange } = options
  const clock = options.clock ?? nowSeconds
  let running: Promise<KeyRefreshResult> | undefined

  const once = async (): Promise<KeyRefreshResult> => {
    const pruned = await keys.pruneRetired(retentionSeconds, clock())
    // Which key signs follows the wall clock, as on every other instance: only deleting waits for it.
    const changed = await keys.syncRing(ring)
    const result = { pruned, changed }
    if (pruned.length > 0 || changed) onChange?.(result)
    return result
  }
  return {
    refresh() {
      running ??= once().finally(() => {
        running = undefined
      })
      return running
    },
  }
}

/**
 * Registers the key lifecycle with the maintenance runner as the task `keys`, every `intervalMs` on
 * its own timer (the refresh interval is a promise made to clients: see {@link rotationDelaySeconds});
 * the task counts the keys it pruned.
 */
export function registerKeyLifecycle(
  maintenance: Maintenance,
  options: KeyLifecycleOptions & { intervalMs: number },
): KeyLifecycle {
  const lifecycle = keyLifecycle(options)
  maintenance.register('keys', async () => (await lifecycle.refresh()).pruned.length, {
    intervalMs: options.intervalMs,
  })
  return lifecycle
}
