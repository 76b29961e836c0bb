/**
 * A revocation store with two copies: a durable one (SQL or Redis) and an in-memory
 * replica that answers every check synchronously, so a protected request never waits on I/O.
 */
import type { RevocationStore, RevocationSubject } from '../core/revocation.js'

/** One live revocation, as a durable store lists it. Times are Unix seconds. */
export type RevocationEntry =
  | { kind: 'token' | 'session'; id: string; expiresAt: number }
  | { kind: 'user'; id: string; before: number; expiresAt: number }

/** A revocation store that keeps its entries durably and can list the live ones. */
export interface DurableRevocationStore extends RevocationStore {
  /** Every entry whose `expiresAt` is not before `now`. */
  loadLive(now?: number): Promise<RevocationEntry[]>
}

/** A store whose check is synchronous, such as the core's `memoryRevocationStore()`. */
export interface SyncRevocationStore extends RevocationStore {
  isRevoked(subject: RevocationSubject): boolean
}

/** The store returned by {@link replicatedRevocationStore}. */
export interface ReplicatedRevocationStore extends RevocationStore {
  readonly durable: DurableRevocationStore
  readonly replica: SyncRevocationStore
  /** Answers from the replica, synchronously. */
  isRevoked(subject: RevocationSubject): boolean
  revokeToken(jti: string, expiresAt: number): Promise<void>
  revokeSession(sid: string, expiresAt: number): Promise<void>
  revokeUser(sub: string, before: number, expiresAt: number): Promise<void>
  /** Copies every live durable entry into the replica (at start, after a reconnect); returns the count. */
  sync(now?: number): Promise<number>
  /** Closes the replica, then the durable store. */
  close(): Promise<void>
}

/** Applies one entry to a store (the replica, or another instance's replica fed by pub/sub). */
export async function applyRevocation(store: RevocationStore, entry: RevocationEntry): Promise<void> {
  switch (entry.kind) {
    case 'token':
      return store.revokeToken(entry.id, entry.expiresAt)
    case 'session':
      return store.revokeSession(entry.id, entry.expiresAt)
    case 'user':
      return store.revokeUser(entry.id, entry.before, entry.expiresAt)
  }
}

/**
 * Writes every revocation to the replica first, so it is effective on the very next request of this
 * instance, then awaits the durable write (whose failure is rethrown: the revocation then holds on
 * this instance only until restart). Call `sync()` once before serving.
 *
 * @example
 * const revocation = replicatedRevocationStore({ durable: sqlRevocationStore(db), replica: memoryRevocationStore() })
 * await revocation.sync()
 * const auth = createTessera({ keys, revocation })
 */
export function replicatedRevocationStore(options: {
  durable: DurableRevocationStore
  replica: SyncRevocationStore
}): ReplicatedRevocationStore {
  const { durable, replica } = options
  return {
    durable,
    replica,
    isRevoked: (subject) => replica.isRevoked(subject),
    async revokeToken(jti, expiresAt) {
      await replica.revokeToken(jti, expiresAt)
      await durable.revokeToken(jti, expiresAt)
    },
    async revokeSession(sid, expiresAt) {
      await replica.revokeSession(sid, expiresAt)
      await durable.revokeSession(sid, expiresAt)
    },
    async revokeUser(sub, before, expiresAt) {
      await replica.revokeUser(sub, before, expiresAt)
      await durable.revokeUser(sub, before, expiresAt)
    },
    async sync(now) {
      const entries = await durable.loadLive(now)
      for (const entry of entries) await applyRevocation(replica, entry)
      return entries.length
    },
    async close() {
      await replica.close?.()
      await durable.close?.()
    },
  } satisfies ReplicatedRevocationStore
}
