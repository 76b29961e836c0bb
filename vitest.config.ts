import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const lib = (path: string): string =>
  fileURLToPath(new URL(`./packages/tessera/src/${path}`, import.meta.url))

/**
 * Files whose assertions measure time (the login timing side channel, revocation propagation p99, the
 * password threads' latency) or that drive Chromium or several server processes: they run after the
 * others, one file at a time, so no other test file shares the machine with them.
 */
const ALONE = [
  'test/scale/**/*.test.ts',
  'test/browser/**/*.test.ts',
  'test/server/passwords.test.ts',
  'test/attacks/login.attacks.test.ts',
  'test/e2e/login.test.ts',
]

/**
 * Test files run at the same time in the first group. Most files spend their time waiting (a server
 * starting, argon2 in its threads, PostgreSQL, Redis), so one file more than there are cores keeps the
 * cores busy; vitest's default (cores − 1) would run them one at a time on a 2-core machine.
 * `TESSERA_TEST_WORKERS` overrides it.
 */
const WORKERS = Number(process.env.TESSERA_TEST_WORKERS ?? availableParallelism() + 1)

export default defineConfig({
  resolve: {
    // The tests run both packages from their sources: `tessera` (imported by the server and by tests)
    // resolves to packages/tessera/src, as tsconfig.json's `paths` say for the type checker.
    alias: [
      { find: /^tessera$/, replacement: lib('index.ts') },
      { find: /^tessera\/fastify$/, replacement: lib('adapters/fastify.ts') },
      { find: /^tessera\/express$/, replacement: lib('adapters/express.ts') },
      { find: /^tessera\/client$/, replacement: lib('client/index.ts') },
      { find: /^tessera\/redis$/, replacement: lib('redis.ts') },
      { find: /^tessera\/sql$/, replacement: lib('sql.ts') },
      {
        find: /^tessera-server$/,
        replacement: fileURLToPath(new URL('./packages/server/src/server/index.ts', import.meta.url)),
      },
    ],
  },
  test: {
    // Real servers, argon2 and RSA key generation on a shared 2-core machine: generous, not tight.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Type tests (tsc). CI's Node-version legs set TESSERA_TYPES_CHECKED=1: the machine's Node ran the
    // same tsc over the same files in the same run, and its verdict does not depend on the Node.
    typecheck: { enabled: process.env.TESSERA_TYPES_CHECKED !== '1', include: ['test/**/*.test-d.ts'] },
    // The servers under test (in process and spawned, which inherit it) give their password threads the
    // ordinary priority: at the default nice (10) they would wait behind the other test files' work,
    // and a registration could run into the request deadline. Tests of the priority itself set their own.
    env: { TESSERA_PASSWORD_THREAD_NICE: '0' },
    projects: [
      {
        extends: true,
        test: {
          name: 'together',
          include: ['test/**/*.test.ts'],
          exclude: ALONE,
          maxWorkers: WORKERS,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'alone',
          include: ALONE,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
          typecheck: { enabled: false },
        },
      },
    ],
    coverage: {
      provider: 'v8',
      include: ['packages/*/src/**/*.ts'],
      reporter: ['text-summary', 'text'],
      // The library's core and adapters may not drop below what their own tests cover today
      // (`npm run test:coverage`, which CI runs: test/core, test/adapters, test/client).
      thresholds: {
        'packages/tessera/src/core/**': { lines: 98 },
        'packages/tessera/src/adapters/**': { lines: 98 },
      },
    },
  },
})
