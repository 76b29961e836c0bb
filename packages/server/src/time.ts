/**
 * The server's clock: Unix seconds, as tokens and the database count time. One helper for the stores,
 * the server and the CLI (the library keeps its own internally rather than widening its public API).
 */

/** The current time in whole Unix seconds. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}
