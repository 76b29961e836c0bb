/**
 * The clock the maintenance job deletes by. Purges remove what is older than "now" minus a retention,
 * and a revocation is dropped once its token has expired: a wall clock set forward (a mistyped `date`,
 * a bad NTP source, a restored VM whose clock runs ahead) would delete sessions, audit events and
 * revocations that are still young, for good — and once the clock is put right, a revoked token whose
 * revocation was purged is accepted again.
 *
 * So the job counts time from a trusted point by the process's monotonic clock, and takes the wall
 * clock only while it agrees (within {@link CLOCK_TOLERANCE_SECONDS}) or runs behind (deleting later is
 * always safe). A wall clock that runs ahead is believed once it has stayed ahead for
 * {@link CLOCK_ACCEPT_AFTER_SECONDS} of the process's own time; until then purges, key pruning and
 * automatic rotation use the trusted time, and the server says so in its log (a warning for a jump while
 * it runs; information at start, where a clock past the time last counted by most often means a stopped server).
 *
 * Each maintenance pass saves the time it counted by (`server_state`, migration 0007); a server started
 * more than a day past it distrusts its clock from the start (on a database without one: the newest
 * audit event or signing key), and a hold begun before a restart goes on counting after it. After a
 * long stop (or a machine that slept: the monotonic clock stops with it) the only cost is that purges
 * and automatic rotation run up to a day late.
 *
 * Tokens are still verified against the wall clock: this guards what is deleted, not what is accepted.
 *
 * @example
 * const clock = createTrustedClock(await trustedStart(db))
 * const maintenance = createMaintenance({ intervalMs: 60_000, clock: clock.now })
 */
import { nowSeconds } from '../time.js'

/** Seconds the wall clock may run ahead of the monotonic count before it is distrusted. */
const CLOCK_TOLERANCE_SECONDS = 60

/**
 * Seconds the wall clock may be past the saved trusted time at start (a server stopped overnight
 * starts with its clock trusted; one that has recorded nothing for a day counts from its last record).
 */
const CLOCK_START_TOLERANCE_SECONDS = 24 * 60 * 60

/** Seconds of the process's own (monotonic) time a clock that ran ahead must hold before it is believed. */
export const CLOCK_ACCEPT_AFTER_SECONDS = 24 * 60 * 60

/** A wall clock found ahead of the trusted time. */
export interface ClockAhead {
  /** The wall clock, Unix seconds. */
  wall: number
  /** The time the job uses meanwhile, Unix seconds. */
  trusted: number
  /** When the wall clock is believed if it stays ahead (Unix seconds, by the trusted time). */
  acceptAt: number
  /**
   * True when the clock was ahead of the saved trusted time at start (most often: the server was
   * stopped that long), false when it jumped while the server ran.
   */
  atStart: boolean
  /** The trusted time at which the wall clock began to be distrusted (kept across restarts). */
  since: number
}

/** The clock returned by {@link createTrustedClock}. */
export interface TrustedClock {
  /** Unix seconds to delete by: the wall clock, or the trusted time while the wall clock runs ahead. */
  now: () => number
  /** How far ahead the wall clock is, as of the last {@link now}; undefined while it is believed. */
  ahead: () => ClockAhead | undefined
}

/** Options of {@link createTrustedClock}. */
export interface TrustedClockOptions {
  /**
   * Unix seconds known to have been reached (the trusted time the last pass saved); a wall clock more
   * than {@link CLOCK_START_TOLERANCE_SECONDS} past it at start is distrusted. @default the wall clock
   */
  start?: number
  /**
   * With `start`: the trusted time a previous run began distrusting the clock at ({@link
   * ClockAhead.since}, saved by its passes). A start that distrusts the clock again counts the time
   * held since then, so that restarts more often than {@link CLOCK_ACCEPT_AFTER_SECONDS} do not hold
   * it for ever.
   */
  heldSince?: number
  /** Told when the wall clock starts or stops being distrusted. */
  onChange?: (ahead: ClockAhead | undefined, previous: ClockAhead | undefined) => void
  /** The wall clock in Unix seconds. @default {@link nowSeconds} */
  wall?: () => number
  /** A monotonic clock in seconds. @default `performance.now() / 1000` */
  monotonic?: () => number
}

/** Creates the clock: see the module's description. */
export function createTrustedClock(options: TrustedClockOptions = {}): TrustedClock {
  const wall = options.wall ?? nowSeconds
  const monotonic = options.monotonic ?? (() => performance.now() / 1000)
  // The trusted time is `anchorWall` plus the monotonic time elapsed since `anchorMono`.
  const first = wall()
  const start = options.start ?? first
  let atStart = first - start > CLOCK_START_TOLERANCE_SECONDS
  let anchorWall = atStart ? start : first
  let anchorMono = monotonic()
  // The monotonic time the clock began to be distrusted at (before this process for a previous run's).
  let aheadSince =
    atStart && options.heldSince !== undefined && options.heldSince <= start
      ? anchorMono - (start - options.heldSince)
      : undefined
  let state: ClockAhead | undefined

  const believe = (at: number, mono: number): number => {
    anchorWall = at
    anchorMono = mono
    aheadSince = undefined
    atStart = false
    return at
  }
  const settle = (next: ClockAhead | undefined): void => {
    const previous = state
    state = next
    if ((previous === undefined) !== (next === undefined)) options.onChange?.(next, previous)
  }

  const now = (): number => {
    const mono = monotonic()
    const at = wall()
    const trusted = Math.floor(anchorWall + (mono - anchorMono))
    if (at - trusted <= CLOCK_TOLERANCE_SECONDS) {
      settle(undefined)
      aheadSince = undefined
      // In agreement (whole seconds apart), or behind: from then on the trusted time follows the wall
      // clock. A little ahead, within the tolerance, it is believed, and the anchor catches up by at most
      // a second per reading: a step of a few seconds or a fast clock's drift is absorbed, while steps
      // forward at every reading (55 s each) add up and are distrusted.
      if (at - trusted <= 1) return believe(at, mono)
      anchorWall += 1
      return at
    }
    aheadSince ??= mono
    const heldFor = mono - aheadSince
    if (heldFor >= CLOCK_ACCEPT_AFTER_SECONDS) {
      settle(undefined)
      return believe(at, mono)
    }
    const acceptAt = Math.ceil(trusted + CLOCK_ACCEPT_AFTER_SECONDS - heldFor)
    settle({ wall: at, trusted, acceptAt, atStart, since: Math.floor(trusted - heldFor) })
    return trusted
  }
  return { now, ahead: () => state }
}

/** What the log says when the wall clock starts or stops running ahead of the trusted time. */
export function clockNotice(ahead: ClockAhead | undefined, previous: ClockAhead | undefined): string {
  const iso = (at: number): string => new Date(at * 1000).toISOString().replace('.000Z', 'Z')
  if (ahead === undefined) {
    const was = previous === undefined ? '' : ` (it was ${roughly(previous.wall - previous.trusted)} ahead)`
    return `clock: purges, key pruning and automatic rotation follow the system clock again${was}`
  }
  const gap = roughly(ahead.wall - ahead.trusted)
  const until = `until the clock is put right or has read so for a day (${iso(ahead.acceptAt)})`
  return ahead.atStart
    ? `clock: the system clock reads ${iso(ahead.wall)}, ${gap} past the time this server last counted by. ` +
        `Purges, key pruning and automatic rotation count from that time on by this server’s running time ` +
        `(${iso(ahead.trusted)} now) ${until}. If the server was simply stopped that long, nothing is wrong ` +
        `and this ends by itself; if the clock is wrong, nothing young is deleted meanwhile.`
    : `clock: the system clock jumped ${gap} ahead of this server’s own running time (it reads ` +
        `${iso(ahead.wall)}; the server counts ${iso(ahead.trusted)}). Purges, key pruning and automatic ` +
        `rotation count by the server’s time ${until}, so nothing young is deleted. A machine that slept ` +
        `looks the same; then nothing is wrong. Tokens are checked against the system clock meanwhile.`
}

/** `34_560_000` → `'400 days'`, `7500` → `'2 hours'`: a duration for a log line. */
function roughly(seconds: number): string {
  for (const [unit, size] of [
    ['days', 86_400],
    ['hours', 3600],
    ['minutes', 60],
  ] as const) {
    if (seconds >= 2 * size) return `${Math.round(seconds / size)} ${unit}`
  }
  return `${seconds} seconds`
}
