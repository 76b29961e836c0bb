// The environment of a `tessera` process a test starts: no TESSERA_* setting of the developer's shell
// leaks in, except the test run's own password-thread priority (vitest.config.ts sets
// TESSERA_PASSWORD_THREAD_NICE=0): at the shipped nice 10 the server's hashing would wait behind the other
// test files' work, and a registration could run into the request deadline (a 503).

/** `process.env` without TESSERA_* settings but the test run's password-thread priority. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TESSERA_')))
  const nice = process.env.TESSERA_PASSWORD_THREAD_NICE
  return nice === undefined ? env : { ...env, TESSERA_PASSWORD_THREAD_NICE: nice }
}
