/**
 * Cross-tab coordination of refreshes: one lock per session name, held while a refresh runs, so that when
 * several tabs need a refresh at once exactly one sends it and the others reuse its result.
 *
 * The Web Locks API (`navigator.locks`) is used when present. Without it, a BroadcastChannel protocol
 * elects one tab: each candidate announces a random claim, waits a moment for the others' claims, and the
 * lowest claim refreshes while the others wait for its `done`. Without either (old browsers, workers
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
}

function isClaimMessage(value: unknown): value is ClaimMessage {
  if (value === null || typeof value !== 'object') return false
  const m = value as Partial<ClaimMessage>
  return (
    m.kind === 'tessera-lock' &&
    typeof m.lock === 'string' &&
    typeof m.id === 'string' &&
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
 * the holders are serialised by a promise chain. Across tabs a candidate posts a random claim and listens
 * for `claimWindow`; it goes ahead (posting `running`) once no other tab is `running` and no competing
 * claim is lower than its own; the others wait for the holder's `done` (or `maxWait`), then run their task,
 * which finds the work already done.
 *
 * A candidate that would go ahead while competing claims are pending listens one more `claimWindow` first.
 * The lowest claim need not be the first posted: a tab whose own (higher) claim was posted first, before
 * ours reached it, saw no competitor and went ahead, and its `running` reaches us within that second
 * window. That covers a tab that just released the lock and claimed it again, too: the tab it kept
 * waiting, woken by the `done` before the new claim reached it, goes ahead. (Messages are assumed to
 * reach the other tabs within `claimWindow`.) Each decision also waits one turn of the event loop: after
 * a stall, the timer that ends a window can fire before messages that arrived during the stall.
 */
export function broadcastLocks(channel: ChannelLike, timings: Partial<ElectionTimings> = {}): WithLock {
  const { claimWindow = 60, maxWait = 10_000 } = timings
  // Claims of other tabs not yet followed by their `done`, per lock.
  const pending = new Map<string, Map<string, 'claim' | 'running'>>()
  const waiters = new Set<() => void>()
  channel.addEventListener('message', (event) => {
    const m = event.data
    if (!isClaimMessage(m)) return
    let claims = pending.get(m.lock)
    if (claims === undefined) {
      claims = new Map<string, 'claim' | 'running'>()
      pending.set(m.lock, claims)
    }
    if (m.type === 'done') claims.delete(m.id)
    else claims.set(m.id, m.type)
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
  const post = (lock: string, type: ClaimMessage['type'], id: string): void => {
    channel.postMessage({ kind: 'tessera-lock', lock, type, id } satisfies ClaimMessage)
  }

  const acquire = async (lock: string): Promise<string> => {
    const id = claimId()
    post(lock, 'claim', id)
    await sleep(claimWindow)
    const deadline = Date.now() + maxWait
    let listenedAgain = false
    for (;;) {
      await sleep(0)
      const claims = pending.get(lock)
      const others = claims === undefined ? [] : [...claims]
      const blocked = others.some(([other, state]) => state === 'running' || other < id)
      if (blocked && Date.now() < deadline) {
        await changed(Math.max(1, deadline - Date.now()))
      } else if (!blocked && others.length > 0 && !listenedAgain) {
        listenedAgain = true
        await sleep(claimWindow)
      } else {
        post(lock, 'running', id)
        return id
      }
    }
  }

  return <T>(lock: string, task: () => Promise<T>): Promise<T> => {
    const run = chain.then(async () => {
      const id = await acquire(lock)
      try {
        return await task()
      } finally {
        post(lock, 'done', id)
      }
    })
    chain = run.catch(() => undefined)
    return run
  }
}

/** No coordination: the task runs at once. */
export const noLocks: WithLock = (_name, task) => task()
