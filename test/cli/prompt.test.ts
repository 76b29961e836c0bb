// The CLI's questions (packages/server/src/cli/prompt.ts): `tessera users create`'s password prompt
// (the prompts are shown, what is typed is never echoed, an input that ends early gives no password)
// and the y/N question of the commands that destroy or lock out (No unless "y" or "yes").
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { askYesNo, readHidden } from '../../packages/server/src/cli/prompt.js'

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

describe('askYesNo', () => {
  it.each([
    ['y', true],
    ['Y', true],
    ['yes', true],
    ['YES', true],
    ['n', false],
    ['no', false],
    ['', false],
    ['yep', false],
    ['sure', false],
  ])('answers %j with %s', async (typed, expected) => {
    const { input, output, shown } = terminal()
    const answer = askYesNo('Delete user alice and end their 3 sessions?', input, output)
    input.write(`${typed}\r`)
    expect(await answer).toBe(expected)
    expect(shown()).toContain('Delete user alice and end their 3 sessions? [y/N] ')
  })

  it('echoes the answer as it is typed', async () => {
    const { input, output, shown } = terminal()
    const answer = askYesNo('Revoke key k1?', input, output)
    input.write('yes\r')
    expect(await answer).toBe(true)
    expect(shown()).toMatch(/Revoke key k1\? \[y\/N\] .*yes/)
  })

  it('takes an input that ends, or Ctrl-C, as no', async () => {
    const ended = terminal()
    const first = askYesNo('Disable user alice?', ended.input, ended.output)
    ended.input.end()
    expect(await first).toBe(false)
    const interrupted = terminal()
    const second = askYesNo('Disable user alice?', interrupted.input, interrupted.output)
    interrupted.input.write('y\u0003')
    expect(await second).toBe(false)
  })
})
