/**
 * Time as JWTs count it: NumericDate, whole seconds since the Unix epoch (RFC 7519 §2). Internal to the
 * library (the engine, the revocation stores); not part of the public API.
 */

/** The current time in whole Unix seconds (rounded down, as `iat` is written). */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}

/**
 * `value` (Unix seconds) as a whole number for an integer column or key, rounded up so that a revocation
 * lasts at least as long and reaches at least as far as asked. Throws a `RangeError` naming `name` when it
 * is not a finite time.
 */
export function wholeSecondsUp(value: number, name: string): number {
  const rounded = Math.ceil(value)
  if (!Number.isSafeInteger(rounded)) throw new RangeError(`${name} must be a time in Unix seconds`)
  return rounded
}
