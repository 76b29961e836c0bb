/** A mistake in the command line: printed as one line, exit 1. */
export class UsageError extends Error {
  override name = 'UsageError'
}
