// The command-line parser shared by the `tessera` commands (packages/server/src/cli/args.ts).
import { describe, expect, it } from 'vitest'
import { parseCommand } from '../../packages/server/src/cli/args.js'

describe('parseCommand', () => {
  it('reads a key id that starts with "-" as a value, not as short options', () => {
    // RFC 7638 thumbprints are base64url: one in 64 starts with "-".
    const kid = '-zQ3kX9_aB-cdEfGhIjKlMnOpQrStUvWxYz0123456'
    expect(parseCommand(['revoke', kid]).positionals).toEqual(['revoke', kid])
    expect(parseCommand(['--secret', '-not-a-flag-value']).settings.secret).toBe('-not-a-flag-value')
    expect(parseCommand(['--secret=-inline']).settings.secret).toBe('-inline')
  })

  it('reads -y as --yes beside a key id that starts with "-"', () => {
    const kid = '-zQ3kX9_aB-cdEfGhIjKlMnOpQrStUvWxYz0123456'
    const parsed = parseCommand(['revoke', kid, '-y'], { yes: { type: 'boolean', short: 'y' } })
    expect(parsed.positionals).toEqual(['revoke', kid])
    expect(parsed.flags.yes).toBe(true)
    expect(parsed.given).toEqual(['yes'])
  })

  it('still knows -h, refuses unknown flags and suggests the closest one', () => {
    expect(parseCommand(['-h']).help).toBe(true)
    expect(() => parseCommand(['-x'])).toThrow(/unknown option -x/)
    expect(() => parseCommand(['--databse-url', 'x'])).toThrow(/did you mean --database-url\?/)
  })
})
