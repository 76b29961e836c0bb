/**
 * The server's clock: Unix seconds, as tokens and the database count time. One helper for the stores,
 * the server and the CLI (the library keeps its own internally rather than widening its public API).
 */

/** The current time in whole Unix seconds. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}

/** A duration as settings spell it: `900` → `15m`, `2592000` → `30d` (the largest unit that divides it). */
export function durationText(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds % size === 0) return `${seconds / size}${unit}`
  }
  return `${seconds}s`
}
