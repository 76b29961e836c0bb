/**
 * The key lifecycle of one instance: every `keyRefreshInterval` it prunes the keys whose tokens have all
 * expired and brings its key ring up to date with the database (a pending key published, a scheduled
 * rotation reached, a revoked key dropped). One small query per interval; every step is idempotent, so
 * any number of instances run it at once. A failure (database down) keeps the ring as it is and is
 * retried on the next tick.
 */
import type { KeyRing } from 'tessera'
import type { KeyStore } from '../stores/sql/signing-keys.js'
import type { ServerConfig } from './config.js'

/** Margin for clock skew between instances, added to how long a retired key is kept. */
export const KEY_CLOCK_SKEW_SECONDS = 60

/** What one refresh did. */
export interface KeyRefreshResult {
  /** Kids deleted from the database by this instance (another instance may have pruned them first). */
  pruned: string[]
  /** True when the ring changed (a key added, removed, or a new signer). */
  changed: boolean
}

/** A running key lifecycle. */
export interface KeyLifecycle {
  /** Runs one refresh now (the timer's calls and this one never overlap). */
  refresh(): Promise<KeyRefreshResult>
  /** Stops the timer; an in-flight refresh finishes. */
  stop(): void
}

/** Options of {@link startKeyLifecycle}. */
export interface KeyLifecycleOptions {
  keys: KeyStore
  ring: KeyRing
  /** Seconds a retired key is kept: see {@link keyRetentionSeconds}. */
  retentionSeconds: number
  /** Milliseconds between two refreshes. */
  intervalMs: number
  /** Called with a refresh's failure (the ring is left as it was). */
  onError?: (error: unknown) => void
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

/** Starts the periodic refresh (its timer does not keep the process alive). */
export function startKeyLifecycle(options: KeyLifecycleOptions): KeyLifecycle {
  const { keys, ring, retentionSeconds, intervalMs, onError, onChange } = options
  let running: Promise<KeyRefreshResult> | undefined

  const once = async (): Promise<KeyRefreshResult> => {
    const pruned = await keys.pruneRetired(retentionSeconds)
    const changed = await keys.syncRing(ring)
    const result = { pruned, changed }
    if (pruned.length > 0 || changed) onChange?.(result)
    return result
  }
  const refresh = (): Promise<KeyRefreshResult> => {
    running ??= once().finally(() => {
      running = undefined
    })
    return running
  }

  const timer = setInterval(() => {
    refresh().catch((error: unknown) => onError?.(error))
  }, intervalMs)
  timer.unref()
  return {
    refresh,
    stop() {
      clearInterval(timer)
    },
  }
}
