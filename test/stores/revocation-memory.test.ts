// The revocation-store contract over the core's in-memory store (its sweeping and sizes are tested with
// the core, in test/core/verify.test.ts).
import { memoryRevocationStore } from '../../packages/tessera/src/core/revocation.js'
import { describeRevocationStore } from './revocation-contract.js'

describeRevocationStore('memoryRevocationStore', () => {
  const store = memoryRevocationStore({ sweepIntervalSeconds: 0 })
  return Promise.resolve({
    store,
    close: () => {
      store.close()
    },
  })
})
