// The revocation-store contract, written once and run over every store: the core's in-memory store
// (revocation-memory.test.ts), `tessera/sql` on SQLite and PostgreSQL (revocation-sqlite.test.ts,
// revocation-postgres.test.ts) and `tessera/redis` (revocation-redis.test.ts). Every store answers the
// three grains and keeps the largest expiry; a durable store also lists its live entries, survives a
// restart and carries the replicated store (a synchronous in-memory replica in front of it).
// Times are real Unix seconds: the stores read the clock in `isRevoked`.
import type { Kysely } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTessera } from '../../packages/tessera/src/core/tessera.js'
import { memoryRevocationStore, type RevocationStore } from '../../packages/tessera/src/core/revocation.js'
import {
  createRevocationsTable,
  sqlRevocationStore,
  type RevocationsDatabase,
  type SqlRevocationStore,
} from '../../packages/tessera/src/sql.js'
import {
  replicatedRevocationStore,
  type DurableRevocationStore,
  type ReplicatedRevocationStore,
} from '../../packages/tessera/src/stores/replicated-revocation.js'

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256!'

/** The current time in Unix seconds. */
const now = (): number => Math.floor(Date.now() / 1000)

/** A durable store; `purgeExpired` where the backend has it (SQL; Redis expires its keys itself). */
export type DurableStore = DurableRevocationStore & { purgeExpired?: (now?: number) => Promise<number> }

/** One fresh, empty store for one test, and how to let it go. */
export interface OpenedStore<S extends RevocationStore> {
  store: S
  /** Opens a new store (a new connection) on the same storage, as a restart would. */
  reopen?: () => Promise<S>
  /** Closes every connection the test opened and drops what it stored. */
  close: () => Promise<void> | void
}

/**
 * A `tessera/sql` store as a library user sets it up: their own Kysely instance (from `connect`, which
 * opens a new one on the same database each call) and `createRevocationsTable`. `drop` removes the
 * database once every connection is closed.
 */
export async function openSqlStore(
  connect: () => Kysely<RevocationsDatabase>,
  drop: () => Promise<void> | void,
): Promise<OpenedStore<SqlRevocationStore>> {
  const open: Kysely<RevocationsDatabase>[] = []
  const connection = (): Kysely<RevocationsDatabase> => {
    const db = connect()
    open.push(db)
    return db
  }
  const db = connection()
  await createRevocationsTable(db)
  return {
    store: sqlRevocationStore(db),
    reopen: async () => {
      open.splice(open.indexOf(db), 1)
      await db.destroy()
      return sqlRevocationStore(connection())
    },
    close: async () => {
      await Promise.all(open.map((d) => d.destroy()))
      await drop()
    },
  }
}

/** Registers the contract for a store that only answers (the in-memory store). */
export function describeRevocationStore(name: string, open: () => Promise<OpenedStore<RevocationStore>>): void
/** Registers the contract for a durable store: the common cases, `loadLive`, restarts, the replica. */
export function describeRevocationStore(
  name: string,
  open: () => Promise<OpenedStore<DurableStore>>,
  options: { durable: true },
): void
export function describeRevocationStore(
  name: string,
  open: () => Promise<OpenedStore<RevocationStore>>,
  options: { durable?: boolean } = {},
): void {
  describe(`${name}: the revocation-store contract`, () => {
    let opened: OpenedStore<RevocationStore> | undefined
    beforeEach(async () => {
      opened = await open()
    })
    afterEach(async () => {
      await opened?.close()
      opened = undefined
    })
    const get = (): OpenedStore<RevocationStore> => {
      if (opened === undefined) throw new Error('no store: the contract hooks did not run')
      return opened
    }
    commonCases(() => get().store)
    if (options.durable === true) {
      const durable = (): OpenedStore<DurableStore> => get() as OpenedStore<DurableStore>
      describe('as a durable store', () => {
        durableCases(durable)
      })
      describe('under replicatedRevocationStore', () => {
        replicatedCases(durable)
      })
    }
  })
}

/** The three grains, expiry, largest-expiry-wins and odd ids: every store. */
function commonCases(store: () => RevocationStore): void {
  it('revokes by token, by session, and a user’s tokens issued before a time', async () => {
    const s = store()
    const t = now()
    await s.revokeToken('jti-1', t + 60)
    await s.revokeSession('sid-1', t + 60)
    await s.revokeUser('42', t, t + 60)
    expect(await s.isRevoked({ jti: 'jti-1' })).toBe(true)
    expect(await s.isRevoked({ jti: 'jti-2', sid: 'sid-1' })).toBe(true)
    expect(await s.isRevoked({ jti: 'jti-2', sid: 'sid-2', sub: '42', iat: t - 1 })).toBe(true)
    // Tokens issued in the second `before` itself stay valid (a login right after "logout everywhere").
    expect(await s.isRevoked({ jti: 'jti-2', sid: 'sid-2', sub: '42', iat: t })).toBe(false)
    // A token without iat counts as issued at the epoch.
    expect(await s.isRevoked({ sub: '42' })).toBe(true)
    // The grains do not mix: a sid is no jti.
    expect(await s.isRevoked({ jti: 'sid-1' })).toBe(false)
    expect(await s.isRevoked({ sub: '43', iat: 0 })).toBe(false)
    expect(await s.isRevoked({})).toBe(false)
  })

  it('ignores an entry whose expiry has passed', async () => {
    const s = store()
    const t = now()
    await s.revokeToken('old', t - 10)
    await s.revokeSession('old-sid', t - 10)
    await s.revokeUser('old-user', t, t - 10)
    expect(await s.isRevoked({ jti: 'old' })).toBe(false)
    expect(await s.isRevoked({ sid: 'old-sid' })).toBe(false)
    expect(await s.isRevoked({ sub: 'old-user', iat: 0 })).toBe(false)
  })

  it('keeps the largest expiry and "before" time when an entry is written again, in any order', async () => {
    const s = store()
    const t = now()
    await s.revokeToken('longer-first', t + 100)
    await s.revokeToken('longer-first', t - 10)
    await s.revokeSession('longer-last', t - 10)
    await s.revokeSession('longer-last', t + 100)
    await s.revokeUser('42', t + 10, t + 100)
    await s.revokeUser('42', t, t + 200)
    expect(await s.isRevoked({ jti: 'longer-first' })).toBe(true)
    expect(await s.isRevoked({ sid: 'longer-last' })).toBe(true)
    // The earlier "before" did not narrow the revocation: tokens of t + 5 stay revoked.
    expect(await s.isRevoked({ sub: '42', iat: t + 5 })).toBe(true)
    expect(await s.isRevoked({ sub: '42', iat: t + 10 })).toBe(false)
  })

  it('keeps ids with colons and spaces intact', async () => {
    const s = store()
    const t = now()
    await s.revokeSession('a:b c', t + 60)
    expect(await s.isRevoked({ sid: 'a:b c' })).toBe(true)
    expect(await s.isRevoked({ sid: 'a:b' })).toBe(false)
    expect(await s.isRevoked({ sid: 'a' })).toBe(false)
  })
}

/** What a durable store adds: it lists its live entries and survives a restart. */
function durableCases(get: () => OpenedStore<DurableStore>): void {
  it('lists the merged entries with loadLive: the largest expiry and "before" time', async () => {
    const { store } = get()
    const t = now()
    await store.revokeToken('jti-1', t + 100)
    await store.revokeToken('jti-1', t + 50)
    await store.revokeUser('42', t + 10, t + 100)
    await store.revokeUser('42', t, t + 200)
    const live = await store.loadLive(t)
    expect(live).toEqual(
      expect.arrayContaining([
        { kind: 'token', id: 'jti-1', expiresAt: t + 100 },
        { kind: 'user', id: '42', before: t + 10, expiresAt: t + 200 },
      ]),
    )
    expect(live).toHaveLength(2)
  })

  it('leaves expired entries out of loadLive, and purges them where the store keeps them', async () => {
    const { store } = get()
    const t = now()
    await store.revokeToken('old', t - 10)
    await store.revokeSession('live', t + 60)
    expect(await store.isRevoked({ jti: 'old' })).toBe(false)
    expect(await store.loadLive(t)).toEqual([{ kind: 'session', id: 'live', expiresAt: t + 60 }])
    if (store.purgeExpired !== undefined) {
      expect(await store.purgeExpired(t)).toBe(1)
      expect(await store.purgeExpired(t)).toBe(0)
    }
  })

  it('lists ids with colons and spaces intact', async () => {
    const { store } = get()
    const t = now()
    await store.revokeSession('a:b c', t + 60)
    expect(await store.loadLive(t)).toEqual([{ kind: 'session', id: 'a:b c', expiresAt: t + 60 }])
  })

  it('lists thousands of live entries with loadLive (Redis: SCAN across pages)', async () => {
    const { store } = get()
    const t = now()
    await Promise.all(Array.from({ length: 2500 }, async (_, i) => store.revokeToken(`bulk-${i}`, t + 60)))
    expect(await store.loadLive(t)).toHaveLength(2500)
  })

  it('keeps its entries across a restart (a new store on the same storage)', async () => {
    const { store: before, reopen } = get()
    const t = now()
    await before.revokeToken('jti-1', t + 60)
    await before.revokeSession('sid-old', t - 60)
    await before.revokeUser('7', t, t + 60)
    const after = await restarted(reopen)
    expect(await after.isRevoked({ jti: 'jti-1' })).toBe(true)
    expect(await after.isRevoked({ sub: '7', iat: t - 5 })).toBe(true)
    expect(await after.isRevoked({ sid: 'sid-old' })).toBe(false)
    if (after.purgeExpired !== undefined) expect(await after.purgeExpired(t)).toBe(1)
    expect((await after.loadLive(t)).map((e) => e.id).sort()).toEqual(['7', 'jti-1'])
  })
}

/** The replicated store built on the durable one: synchronous answers from an in-memory replica. */
function replicatedCases(get: () => OpenedStore<DurableStore>): void {
  const replicated = (durable: DurableStore): ReplicatedRevocationStore =>
    replicatedRevocationStore({ durable, replica: memoryRevocationStore({ sweepIntervalSeconds: 0 }) })

  it('answers synchronously from the replica, effective before the durable write completes', async () => {
    const { store: durable } = get()
    const store = replicated(durable)
    const pending = store.revokeToken('jti-1', now() + 60)
    expect(store.isRevoked({ jti: 'jti-1' })).toBe(true)
    await pending
    expect(await durable.isRevoked({ jti: 'jti-1' })).toBe(true)
    await store.close()
  })

  it('writes every grain through to the durable store', async () => {
    const { store: durable } = get()
    const t = now()
    const store = replicated(durable)
    await store.revokeSession('sid-1', t + 60)
    await store.revokeUser('42', t, t + 60)
    expect(store.isRevoked({ sid: 'sid-1' })).toBe(true)
    expect(store.isRevoked({ sub: '42', iat: t - 1 })).toBe(true)
    expect((await durable.loadLive(t)).map((e) => e.kind).sort()).toEqual(['session', 'user'])
    await store.close()
  })

  it('fills a new replica with every live entry through sync() after a restart', async () => {
    const { store: first, reopen } = get()
    const t = now()
    await first.revokeSession('sid-1', t + 60)
    await first.revokeUser('42', t, t + 60)
    await first.revokeToken('expired', t - 1)
    const replica = memoryRevocationStore({ sweepIntervalSeconds: 0 })
    const store = replicatedRevocationStore({ durable: await restarted(reopen), replica })
    expect(store.isRevoked({ sid: 'sid-1' })).toBe(false)
    expect(await store.sync(t)).toBe(2)
    expect(store.isRevoked({ sid: 'sid-1' })).toBe(true)
    expect(store.isRevoked({ sub: '42', iat: t - 1 })).toBe(true)
    expect(store.isRevoked({ jti: 'expired' })).toBe(false)
    expect(replica.size()).toEqual({ tokens: 0, sessions: 1, users: 1 })
    await store.close()
  })

  it('lets the core refuse a revoked token on the very next verification, synchronously', async () => {
    const { store: durable } = get()
    const revocation = replicated(durable)
    const auth = createTessera({ secret: SECRET, revocation })
    const token = await auth.createAccessToken('alice', { sid: 'sid-9' })
    expect(auth.verifyInline(token)).not.toBeInstanceOf(Promise)
    await auth.revokeSession('sid-9')
    expect(() => auth.verifyInline(token)).toThrow(expect.objectContaining({ code: 'token_revoked' }))
    expect(await durable.isRevoked({ sid: 'sid-9' })).toBe(true)
    await revocation.close()
  })
}

async function restarted(reopen: (() => Promise<DurableStore>) | undefined): Promise<DurableStore> {
  if (reopen === undefined) throw new Error('a durable store under the contract must say how to reopen it')
  return reopen()
}
