import { readdirSync, readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createPasswordPool,
  DEFAULT_PASSWORD_THREAD_NICE,
  PasswordPoolBusyError,
  PasswordPoolError,
  type PasswordPool,
} from '../../packages/server/src/server/password-pool.js'

// Small parameters: these tests are about the pool, not argon2's cost.
const FAST = { memoryCost: 1024, timeCost: 1, parallelism: 1, outputLen: 32 }

let pools: PasswordPool[] = []
const pool = (options?: Parameters<typeof createPasswordPool>[0]): PasswordPool => {
  const created = createPasswordPool(options)
  pools.push(created)
  return created
}
afterEach(async () => {
  await Promise.all(pools.map((p) => p.close()))
  pools = []
})

/** Nice value of every thread of this process, by thread id. */
function threadNices(): Map<string, number> {
  const nices = new Map<string, number>()
  for (const tid of readdirSync(`/proc/${String(process.pid)}/task`)) {
    let stat: string
    try {
      stat = readFileSync(`/proc/${String(process.pid)}/task/${tid}/stat`, 'utf8')
    } catch (error) {
      // A thread that ended between the listing and the read (a V8 or libuv helper): not one to judge.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw error
    }
    // Fields after "(comm) ": state is field 3, nice is field 19.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    nices.set(tid, Number(fields[16]))
  }
  return nices
}

describe('password pool', () => {
  it('hashes and verifies argon2id in its threads', async () => {
    const p = pool({ size: 1 })
    const phc = await p.hash('correct horse battery staple', FAST)
    expect(phc).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/)
    await expect(p.verify(phc, 'correct horse battery staple')).resolves.toBe(true)
    await expect(p.verify(phc, 'correct horse battery stapler')).resolves.toBe(false)
  })

  it('runs at most `size` jobs at once and answers in submission order', async () => {
    const p = pool({ size: 1 })
    const order: number[] = []
    await Promise.all(
      [0, 1, 2, 3].map((i) =>
        p.hash(`password-${String(i)}`, FAST).then(() => {
          order.push(i)
        }),
      ),
    )
    expect(order).toEqual([0, 1, 2, 3])
    expect(p.size).toBe(1)
  })

  it('rejects a job that argon2 refuses and keeps serving the next ones', async () => {
    const p = pool({ size: 1 })
    await expect(p.verify('$argon2id$not-a-hash', 'password')).rejects.toThrow(Error)
    await expect(p.hash('password', FAST)).resolves.toMatch(/^\$argon2id\$/)
  })

  it('fails every job with a PasswordPoolError, never a verdict, when its threads cannot load argon2', async () => {
    const p = pool({ size: 1, argon2: '/nonexistent/argon2/index.js' })
    const results = await Promise.allSettled([
      p.verify('$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA', 'password'),
      p.hash('password', FAST),
    ])
    for (const result of results) {
      expect(result.status).toBe('rejected')
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(PasswordPoolError)
    }
  })

  // The server's warm-up (`/readyz` says `starting` until it settles): `size` pings at once start
  // every thread, each answering once argon2 is loaded there.
  it.runIf(process.platform === 'linux')('starts one thread per ping until all `size` run', async () => {
    const before = threadNices()
    const p = pool({ size: 3, nice: 13 })
    await Promise.all([p.ping(), p.ping(), p.ping()])
    const started = () => [...threadNices()].filter(([tid, n]) => !before.has(tid) && n === 13).length
    expect(started()).toBe(3)
    // Idle threads are reused: more pings start none.
    await Promise.all([p.ping(), p.ping(), p.ping(), p.ping()])
    expect(started()).toBe(3)
  })

  it('fails a ping with a PasswordPoolError when its threads cannot load argon2, and once closed', async () => {
    const broken = pool({ size: 1, argon2: '/nonexistent/argon2/index.js' })
    await expect(broken.ping()).rejects.toBeInstanceOf(PasswordPoolError)
    const p = pool({ size: 1 })
    await p.close()
    await expect(p.ping()).rejects.toThrow(/closed/)
  })

  it('refuses a job at once when maxQueue jobs are waiting, and runs the others', async () => {
    const p = pool({ size: 1, maxQueue: 2 })
    const results = await Promise.allSettled(['a', 'b', 'c', 'd'].map((password) => p.hash(password, FAST)))
    // `a` runs at once, `b` and `c` wait, `d` finds the queue full.
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected'])
    const refused = (results[3] as PromiseRejectedResult).reason as Error
    expect(refused).toBeInstanceOf(PasswordPoolBusyError)
    expect(refused.message).toMatch(/busy \(2 jobs waiting\)/)
    await expect(p.hash('e', FAST)).resolves.toMatch(/^\$argon2id\$/)
  })

  it('refuses, without computing it, a job that waited longer than maxWaitMs', async () => {
    const p = pool({ size: 1, maxWaitMs: 5 })
    // About 30–100 ms of argon2 on one thread: the next job waits longer than 5 ms behind it.
    const slow = p.hash('slow', { memoryCost: 32_768, timeCost: 3, parallelism: 1, outputLen: 32 })
    const late = p.verify('$argon2id$not-even-a-hash', 'late')
    await expect(slow).resolves.toMatch(/^\$argon2id\$/)
    // Computed, it would have been refused by argon2 with another message.
    await expect(late).rejects.toThrow(PasswordPoolBusyError)
    await expect(late).rejects.toThrow(/waited more than 5 ms for a password thread/)
    // A job that finds a thread free runs.
    await expect(p.hash('on time', FAST)).resolves.toMatch(/^\$argon2id\$/)
  })

  it('rejects queued jobs and new ones once closed', async () => {
    const p = pool({ size: 1 })
    const settled = Promise.allSettled([p.hash('first', FAST), p.hash('second', FAST)])
    await p.close()
    const [, queued] = await settled
    expect(queued.status).toBe('rejected')
    expect((queued as PromiseRejectedResult).reason).toBeInstanceOf(PasswordPoolError)
    expect(String((queued as PromiseRejectedResult).reason)).toMatch(/closed/)
    await expect(p.hash('third', FAST)).rejects.toThrow(/closed/)
  })

  // The priority is a Linux feature (per-thread nice); CI and the servers this targets run Linux.
  it.runIf(process.platform === 'linux')(
    'runs its threads at nice 10 (or the nice given) and leaves the event loop thread at its own priority',
    async () => {
      expect(DEFAULT_PASSWORD_THREAD_NICE).toBe(10)
      for (const [options, nice] of [
        [{}, 10],
        [{ nice: 19 }, 19],
      ] as const) {
        const before = threadNices()
        const p = pool({ size: 2, ...options })
        await Promise.all([p.hash('a', FAST), p.hash('b', FAST)])
        const after = threadNices()
        const added = [...after].filter(([tid]) => !before.has(tid))
        expect(added.filter(([, n]) => n === nice).length).toBeGreaterThanOrEqual(2)
        expect(after.get(String(process.pid))).toBe(before.get(String(process.pid)))
      }
    },
  )
})
