import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const lib = (path: string): string =>
  fileURLToPath(new URL(`./packages/tessera/src/${path}`, import.meta.url))

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
    include: ['test/**/*.test.ts'],
    // Real servers, argon2 and RSA key generation on a shared 2-core machine: generous, not tight.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
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
