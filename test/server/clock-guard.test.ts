// The maintenance job's trusted clock (clock-guard.ts): the wall clock is taken while it agrees with
// the process's monotonic count or runs behind; set forward, it is distrusted until corrected or until
// it has held for a day of the process's own time; a start far past the newest record counts from it.
import { describe, expect, it } from 'vitest'
import {
  CLOCK_ACCEPT_AFTER_SECONDS,
  clockNotice,
  createTrustedClock,
  type ClockAhead,
} from '../../packages/server/src/server/clock-guard.js'

const NOW = 2_000_000_000
const DAY = 86_400

/** A wall clock and a monotonic clock the test moves by hand. */
function clocks(start = NOW) {
  const state = { wall: start, mono: 1000 }
  const changes: (ClockAhead | undefined)[] = []
  return {
    state,
    changes,
    /** Both clocks move by `seconds` (time passes). */
    pass(seconds: number) {
      state.wall += seconds
      state.mono += seconds
    },
    options: {
      wall: () => state.wall,
      monotonic: () => state.mono,
      onChange: (ahead: ClockAhead | undefined) => changes.push(ahead),
    },
  }
}

describe('the trusted clock', () => {
  it('is the wall clock while the two agree, small steps within a minute included', () => {
    const c = clocks()
    const clock = createTrustedClock(c.options)
    expect(clock.now()).toBe(NOW)
    c.pass(3600)
    expect(clock.now()).toBe(NOW + 3600)
    c.state.wall += 45 // an NTP step within the tolerance
    expect(clock.now()).toBe(NOW + 3645)
    expect(clock.ahead()).toBeUndefined()
    expect(c.changes).toEqual([])
  })

  it('adds up small steps forward: 55 s at every reading is distrusted from the second one', () => {
    const c = clocks()
    const clock = createTrustedClock(c.options)
    clock.now()
    c.state.wall += 55
    expect(clock.now()).toBe(NOW + 55) // within the tolerance: believed, the anchor a second closer
    c.state.wall += 55
    expect(clock.now()).toBe(NOW + 1)
    expect(clock.ahead()).toMatchObject({ wall: NOW + 110, trusted: NOW + 1, atStart: false })
  })

  it('absorbs a step of a few seconds, and a fast clock’s drift, a second per reading', () => {
    const c = clocks()
    const clock = createTrustedClock(c.options)
    clock.now()
    c.state.wall += 3 // one NTP step
    // The readings that were not the wall clock, gathered: 86,400 expect() calls ran past 30 s on a
    // loaded machine.
    const differing: { reading: number; wall: number; trusted: number }[] = []
    for (let i = 0; i < 60 * 24 * 60; i++) {
      c.pass(5) // a reading every 5 s for 5 days, the wall clock 20 ppm fast
      if (i % 10_000 === 0) c.state.wall += 1
      const trusted = clock.now()
      if (trusted !== c.state.wall) differing.push({ reading: i, wall: c.state.wall, trusted })
    }
    expect(differing).toEqual([])
    expect(c.changes).toEqual([])
  })

  it('counts by the monotonic clock when the wall clock jumps forward, until the jump is corrected', () => {
    const c = clocks()
    const clock = createTrustedClock(c.options)
    expect(clock.now()).toBe(NOW)
    c.state.wall += 400 * DAY
    expect(clock.now()).toBe(NOW)
    c.pass(600)
    expect(clock.now()).toBe(NOW + 600)
    expect(clock.ahead()).toEqual({
      wall: NOW + 400 * DAY + 600,
      trusted: NOW + 600,
      acceptAt: NOW + CLOCK_ACCEPT_AFTER_SECONDS,
      atStart: false,
      since: NOW,
    })
    expect(c.changes).toHaveLength(1) // told once, not at every call
    c.state.wall -= 400 * DAY // put right
    expect(clock.now()).toBe(NOW + 600)
    expect(clock.ahead()).toBeUndefined()
    expect(c.changes).toEqual([expect.objectContaining({ trusted: NOW }), undefined])
  })

  it('believes a wall clock that stayed ahead for a day of the process’s own time', () => {
    const c = clocks()
    const clock = createTrustedClock(c.options)
    clock.now()
    c.state.wall += 30 * DAY
    expect(clock.now()).toBe(NOW)
    c.pass(CLOCK_ACCEPT_AFTER_SECONDS - 1)
    expect(clock.now()).toBe(NOW + CLOCK_ACCEPT_AFTER_SECONDS - 1)
    c.pass(1)
    expect(clock.now()).toBe(NOW + 31 * DAY)
    expect(clock.ahead()).toBeUndefined()
    c.pass(60)
    expect(clock.now()).toBe(NOW + 31 * DAY + 60)
  })

  it('follows a wall clock that goes back (deleting later is safe), and distrusts it going forward again', () => {
    const c = clocks()
    const clock = createTrustedClock(c.options)
    clock.now()
    c.state.wall -= 2 * DAY
    expect(clock.now()).toBe(NOW - 2 * DAY)
    expect(clock.ahead()).toBeUndefined()
    c.state.wall += 2 * DAY
    expect(clock.now()).toBe(NOW - 2 * DAY)
    expect(clock.ahead()?.wall).toBe(NOW)
  })

  it('goes on counting a distrust begun before a restart, so that restarts every 12 h do not hold it for ever', () => {
    const c = clocks(NOW + 3 * DAY)
    // The previous run began distrusting at NOW and counted 12 h by its own time before it stopped.
    const clock = createTrustedClock({ ...c.options, start: NOW + 12 * 3600, heldSince: NOW })
    expect(clock.now()).toBe(NOW + 12 * 3600)
    expect(clock.ahead()).toMatchObject({ since: NOW, acceptAt: NOW + DAY, atStart: true })
    c.pass(12 * 3600)
    expect(clock.now()).toBe(NOW + 3 * DAY + 12 * 3600)
    expect(clock.ahead()).toBeUndefined()
  })

  it('starts from the saved time when the wall clock is more than a day past it, and from the wall clock otherwise', () => {
    const far = clocks(NOW + 400 * DAY)
    const jumped = createTrustedClock({ ...far.options, start: NOW })
    expect(jumped.now()).toBe(NOW)
    expect(jumped.ahead()).toMatchObject({ trusted: NOW, atStart: true })
    expect(far.changes).toHaveLength(1)
    far.pass(CLOCK_ACCEPT_AFTER_SECONDS)
    expect(jumped.now()).toBe(NOW + 401 * DAY)
    far.state.wall += 400 * DAY // later, a jump while running
    expect(jumped.now()).toBe(NOW + 401 * DAY)
    expect(jumped.ahead()?.atStart).toBe(false)

    const overnight = clocks(NOW + 20 * 3600)
    const restarted = createTrustedClock({ ...overnight.options, start: NOW })
    expect(restarted.now()).toBe(NOW + 20 * 3600)
    expect(overnight.changes).toEqual([])

    const behind = clocks(NOW)
    const early = createTrustedClock({ ...behind.options, start: NOW + DAY })
    expect(early.now()).toBe(NOW)
  })

  it('says in the log what it does, when it ends, and that a stopped server or a sleeping machine is not a fault', () => {
    const ahead = { wall: NOW + 400 * DAY, trusted: NOW, acceptAt: NOW + DAY, atStart: false, since: NOW }
    expect(clockNotice(ahead, undefined)).toBe(
      'clock: the system clock jumped 400 days ahead of this server’s own running time (it reads 2034-06-22T03:33:20Z; ' +
        'the server counts 2033-05-18T03:33:20Z). Purges, key pruning and automatic rotation count by the server’s ' +
        'time until the clock is put right or has read so for a day (2033-05-19T03:33:20Z), so nothing young is ' +
        'deleted. A machine that slept looks the same; then nothing is wrong. Tokens are checked against the system ' +
        'clock meanwhile.',
    )
    expect(clockNotice({ ...ahead, atStart: true }, undefined)).toBe(
      'clock: the system clock reads 2034-06-22T03:33:20Z, 400 days past the time this server last counted by. ' +
        'Purges, key pruning and automatic rotation count from that time on by this server’s running time ' +
        '(2033-05-18T03:33:20Z now) until the clock is put right or has read so for a day (2033-05-19T03:33:20Z). ' +
        'If the server was simply stopped that long, nothing is wrong and this ends by itself; if the clock is ' +
        'wrong, nothing young is deleted meanwhile.',
    )
    expect(clockNotice(undefined, ahead)).toBe(
      'clock: purges, key pruning and automatic rotation follow the system clock again (it was 400 days ahead)',
    )
    expect(clockNotice(undefined, { ...ahead, wall: NOW + 7500 })).toMatch(/it was 2 hours ahead/)
  })
})
