/**
 * `--json` output: one JSON document on stdout, an array of objects, nothing else on stdout (errors and
 * warnings stay on stderr). Times are ISO 8601 in UTC with milliseconds, as the HTTP API writes them
 * (`2026-11-23T10:00:00.000Z`), or null when unset. docs/cli.md lists each command's fields.
 */

/** Writes one JSON array to stdout, an element per line, as the rows come (a long list is never held). */
export interface JsonArrayWriter {
  write(row: object): void
  /** Closes the array; an array with no element is `[]`. */
  end(): void
}

/** A {@link JsonArrayWriter} on `out`. */
export function jsonArray(out: NodeJS.WritableStream = process.stdout): JsonArrayWriter {
  let first = true
  return {
    write(row) {
      out.write(`${first ? '[\n' : ',\n'}${JSON.stringify(row)}`)
      first = false
    },
    end() {
      out.write(first ? '[]\n' : '\n]\n')
    },
  }
}

/** Unix seconds as the JSON output writes a time: ISO 8601, or null. */
export const jsonTime = (seconds: number | null): string | null =>
  seconds === null ? null : new Date(seconds * 1000).toISOString()
