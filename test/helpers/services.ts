// Suites that need an outside service (PostgreSQL, Redis, Chromium) call `serviceAvailable` once.
// Locally, a missing service skips the suite with a clear message; under CI (CI=true) or with
// TESSERA_REQUIRE_SERVICES=1 a missing service fails the run instead of skipping silently.

/** True when missing services must fail the run rather than skip. */
const servicesRequired = process.env.CI === 'true' || process.env.TESSERA_REQUIRE_SERVICES === '1'

/**
 * Reports whether `name` can be used. When it cannot: throws under CI (so the run fails), otherwise
 * prints why the suite is skipped and returns false (use with `describe.skipIf(!available)`).
 */
export function serviceAvailable(name: string, available: boolean, reason = 'not reachable'): boolean {
  if (available) return true
  if (servicesRequired) {
    throw new Error(`${name} is required (CI or TESSERA_REQUIRE_SERVICES=1) but ${reason}`)
  }
  console.warn(
    `SKIPPED: the ${name} suite (${reason}); set TESSERA_REQUIRE_SERVICES=1 to make this a failure`,
  )
  return false
}
