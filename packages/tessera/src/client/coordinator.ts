/**
 * Cross-tab coordination of refreshes: one lock per session name, held while a refresh runs, so that when
 * several tabs need a refresh at once exactly one sends it and the others reuse its result.
 *
 * The Web Locks API (`navigator.locks`) is used when present. Without it, a BroadcastChannel protocol
 * elects one tab: each candidate announces a claim, waits a moment for the others' claims, and the
 * earliest claim refreshes while the others wait for its `done`. Without either (old browsers, workers
 * without them) the refresh runs uncoordinated and the server's grace window (the same successor for a
 * spent refresh token reused within a few seconds) keeps the tabs logged in.
 */

/** The part of the Web Locks API the client uses. */
export interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>
}

/** The part of a BroadcastChannel the client uses. */
export interface ChannelLike {
  postMessage(message: unknown): void
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void
  removeEventListener(type: 'message', listener: (event: { data: unknown }) => void): void
  close(): void
}

/** Makes a channel of a given name (the global `BroadcastChannel` constructor, or a fake in tests). */
export type ChannelFactory = (name: string) => ChannelLike

/** Runs `task` while holding the cross-tab lock `name`. */
export type WithLock = <T>(name: string, task: () => Promise<T>) => Promise<T>

/** Timings of the BroadcastChannel fallback (milliseconds). */
export interface ElectionTimings {
  /** How long a candidate listens for competing claims. @default 60 */
  claimWindow: number
  /** How long a losing candidate waits for the winner's `done` before going ahead. @default 10000 */
  maxWait: number
}

interface ClaimMessage {
  kind: 'tessera-lock'
  lock: string
  type: 'claim' | 'running' | 'done'
  id: string
  /**
   * The claim's Lamport time: one more than any claim the sender had seen when it claimed. A claim made
   * after seeing another therefore comes after it, however the random ids compare. Absent in messages of
   * earlier Tessera clients: their claims are ordered by id alone, as those clients order them.
   */
  at?: number
}

/** Another tab's claim, not yet followed by its `done`. */
interface Claim {
  state: 'claim' | 'running'
  at: number | undefined
}

function isClaimMessage(value: unknown): value is ClaimMessage {
  if (value === null || typeof value !== 'object') return false
  const m = value as Partial<ClaimMessage>
  return (
    m.kind === 'tessera-lock' &&
    typeof m.lock === 'string' &&
    typeof m.id === 'string' &&
    (m.at === undefined || (typeof m.at === 'number' && Number.isSafeInteger(m.at) && m.at >= 0)) &&
    (m.type === 'claim' || m.type === 'running' || m.type === 'done')
  )
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A lock backed by the Web Locks API. */
export function webLocks(locks: LockManagerLike): WithLock {
  return (name, task) => locks.request(name, () => task())
}

/** A random claim identifier (comparable as a string). */
function claimId(): string {
  const bytes = new Uint8Array(8)
  globalThis.crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/**
 * A lock elected over a BroadcastChannel (the fallback when `navigator.locks` is missing). Within one tab
 * the holders are serialised by a promise chain. Across tabs a candidate posts a claim and listens for
 * `claimWindow`; it goes ahead (posting `running`) once no other tab is `running` and no competing claim
 * comes before its own; the others wait for the holder's `done` (or `maxWait`), then run their task, which
 * finds the work already done.
 *
 * Claims are ordered by Lamport time, then by a random id: a claim posted after its sender saw another
 * comes after that one. By id alone, a tab that released the lock and claimed it again could go ahead of
 * a tab that had been waiting, while that tab, woken by the `done` before the new claim reached it, went
 * ahead too (seen when a busy event loop delivered the three at once).
 */
export function broadcastLocks(channel: ChannelLike, timings: Partial<ElectionTimings> = {}): WithLock {
  const { claimWindow = 60, maxWait = 10_000 } = timings
  // Claims of other tabs not yet followed by their `done`, per lock.
  const pending = new Map<string, Map<string, Claim>>()
  const waiters = new Set<() => void>()
  // The highest claim time seen or made here.
  let clock = 0
  channel.addEventListener('message', (event) => {
    const m = event.data
    if (!isClaimMessage(m)) return
    if (m.at !== undefined) clock = Math.max(clock, m.at)
    let claims = pending.get(m.lock)
    if (claims === undefined) {
      claims = new Map<string, Claim>()
      pending.set(m.lock, claims)
    }
    if (m.type === 'done') claims.delete(m.id)
    else claims.set(m.id, { state: m.type, at: m.at ?? claims.get(m.id)?.at })
    for (const wake of [...waiters]) wake()
  })
  const changed = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const wake = (): void => {
        waiters.delete(wake)
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      waiters.add(wake)
    })
  let chain: Promise<unknown> = Promise.resolve()

  const post = (lock: string, type: ClaimMessage['type'], id: string, at: number): void => {
    channel.postMessage({ kind: 'tessera-lock', lock, type, id, at } satisfies ClaimMessage)
  }
  // Whether another tab's claim comes before ours (`at`, `id`).
  const before = (other: string, claim: Claim, id: string, at: number): boolean =>
    claim.at === undefined || claim.at === at ? other < id : claim.at < at

  const acquire = async (lock: string): Promise<{ id: string; at: number }> => {
    const id = claimId()
    const at = (clock += 1)
    post(lock, 'claim', id, at)
    await sleep(claimWindow)
    const deadline = Date.now() + maxWait
    for (;;) {
      const claims = pending.get(lock)
      const others = claims === undefined ? [] : [...claims]
      const blocked = others.some(
        ([other, claim]) => claim.state === 'running' || before(other, claim, id, at),
      )
      if (!blocked || Date.now() >= deadline) {
        post(lock, 'running', id, at)
        return { id, at }
      }
      await changed(Math.max(1, deadline - Date.now()))
    }
  }

  return <T>(lock: string, task: () => Promise<T>): Promise<T> => {
    const run = chain.then(async () => {
      const { id, at } = await acquire(lock)
      try {
        return await task()
      } finally {
        post(lock, 'done', id, at)
      }
    })
    chain = run.catch(() => undefined)
    return run
  }
}

/** No coordination: the task runs at once. */
export const noLocks: WithLock = (_name, task) => task()
