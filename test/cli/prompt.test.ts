// `tessera users create`'s password prompt (packages/server/src/cli/prompt.ts): the prompts are shown,
// what is typed is never echoed, and an input that ends early gives no password.
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { readHidden } from '../../packages/server/src/cli/prompt.js'

function terminal(): { input: PassThrough; output: PassThrough; shown: () => string } {
  const input = new PassThrough()
  const output = new PassThrough()
  let text = ''
  output.on('data', (chunk: Buffer) => (text += chunk.toString()))
  return { input, output, shown: () => text }
}

describe('readHidden', () => {
  it('reads one line per prompt and echoes none of them', async () => {
    const { input, output, shown } = terminal()
    const answers = readHidden(['Password: ', 'Password (again): '], input, output)
    input.write('velvet otter gravel lamp\r')
    input.write('velvet otter gravel lamp2\r')
    expect(await answers).toEqual(['velvet otter gravel lamp', 'velvet otter gravel lamp2'])
    expect(shown()).toContain('Password: ')
    expect(shown()).toContain('Password (again): ')
    expect(shown()).not.toContain('velvet')
  })

  it('gives undefined when the input ends before every answer', async () => {
    const { input, output, shown } = terminal()
    const answers = readHidden(['Password: ', 'Password (again): '], input, output)
    input.write('velvet otter gravel lamp\r')
    input.end()
    expect(await answers).toBeUndefined()
    expect(shown()).not.toContain('velvet')
  })
})
