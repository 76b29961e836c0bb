/**
 * The key lifecycle of one instance: every `keyRefreshInterval` it prunes the keys whose tokens have all
 * expired and brings its key ring up to date with the database (a pending key published, a scheduled
 * rotation reached, a revoked key dropped). One small query per interval; every step is idempotent, so
 * any number of instances run it at once. A failure (database down) keeps the ring as it is, is
 * reported by the maintenance runner that schedules it (maintenance.ts), and is retried on the next tick.
 */
import type { KeyRing } from 'tessera'
import type { KeyStore } from '../stores/sql/signing-keys.js'
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

/** The refresh of `ring` from `keys` (not scheduled: see {@link registerKeyLifecycle}). */
export function keyLifecycle(options: KeyLifecycleOptions): KeyLifecycle {
  const { keys, ring, retentionSeconds, onChange } = options
  let running: Promise<KeyRefreshResult> | undefined

  const once = async (): Promise<KeyRefreshResult> => {
    const pruned = await keys.pruneRetired(retentionSeconds)
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
