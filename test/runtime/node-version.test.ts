/**
 * The CI legs on Node 22, 24 and 26 (.ci/node-versions.sh) run vitest with that Node's binary and set
 * TESSERA_EXPECT_NODE to its major version: this proves the test workers (forked with
 * process.execPath) run on it too, and not on the machine's Node.
 */
import { describe, expect, it } from 'vitest'

const expected = process.env.TESSERA_EXPECT_NODE

describe('the Node.js running the tests', () => {
  it.skipIf(expected === undefined)('is the version the CI leg asked for', () => {
    console.log(`test worker on node ${process.version}`)
    expect(process.versions.node.split('.')[0]).toBe(expected)
  })
})
