import { ConfigurationError } from './errors.js'

/** A lifetime: whole seconds (`900`), or a string with a unit (`'90s'`, `'15m'`, `'12h'`, `'30d'`, `'2w'`). */
export type Duration = number | string

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const
const DURATION = /^\s*(\d+)\s*(s|m|h|d|w)?\s*$/

/**
 * Parses a {@link Duration} into whole seconds, or throws a {@link ConfigurationError} naming `option`.
 *
 * @example parseDuration('15m', 'accessTokenTtl') // 900
 */
export function parseDuration(value: unknown, option: string, { allowZero = false } = {}): number {
  let seconds: number
  if (typeof value === 'number') {
    seconds = value
  } else if (typeof value === 'string') {
    const match = DURATION.exec(value)
    if (match === null) {
      throw new ConfigurationError(
        option,
        `cannot parse ${JSON.stringify(value)} as a duration; use seconds (900) or a number with a unit: '90s', '15m', '12h', '30d', '2w'`,
      )
    }
    seconds = Number(match[1]) * UNIT_SECONDS[(match[2] ?? 's') as keyof typeof UNIT_SECONDS]
  } else {
    throw new ConfigurationError(
      option,
      `expected a duration (seconds or a string like '15m'), got ${typeof value}`,
    )
  }
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new ConfigurationError(
      option,
      `must be a non-negative whole number of seconds, got ${String(value)}`,
    )
  }
  if (seconds === 0 && !allowZero) throw new ConfigurationError(option, 'must be longer than zero')
  return seconds
}

/**
 * Seconds written back in the largest unit that divides them, for messages: `900` → `'15m'`,
 * `90` → `'90s'`.
 */
export function formatDuration(seconds: number): string {
  for (const [unit, size] of [
    ['w', 604_800],
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds > 0 && seconds % size === 0) return `${seconds / size}${unit}`
  }
  return `${seconds}s`
}
