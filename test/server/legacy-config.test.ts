// The legacy window's settings: TESSERA_LEGACY_UNTIL's formats, and the doctor (a secret needs an end
// date; a short secret is accepted with a warning; a closed window is a warning).
import { describe, expect, it } from 'vitest'
import { ConfigurationError } from '../../packages/tessera/src/index.js'
import { checkServerConfig, loadServerConfig } from '../../packages/server/src/server/config.js'
import { resolveServerConfig } from '../../packages/server/src/server/app.js'

const FUTURE = '2099-01-01'

describe('TESSERA_LEGACY_UNTIL', () => {
  it.each([
    ['2027-03-31', Date.UTC(2027, 2, 31) / 1000],
    ['2027-03-31T12:00:00Z', Date.UTC(2027, 2, 31, 12) / 1000],
    ['2027-03-31T12:00:00+02:00', Date.UTC(2027, 2, 31, 10) / 1000],
    ['1806451200', 1_806_451_200],
  ])('reads %s', (value, seconds) => {
    expect(loadServerConfig({}, { TESSERA_LEGACY_UNTIL: value }).legacyUntil).toBe(seconds)
  })

  it.each(['next month', '31/03/2027', '2027-13-45', '2027-03-31 12:00'])(
    'refuses %s, naming the variable',
    (value) => {
      expect(() => loadServerConfig({}, { TESSERA_LEGACY_UNTIL: value })).toThrow(/TESSERA_LEGACY_UNTIL/)
    },
  )
})

describe('the doctor and the legacy window', () => {
  it('refuses a legacy secret without an end date', () => {
    expect(() => resolveServerConfig({}, { TESSERA_LEGACY_HS_SECRET: 'jwt-secret-string' })).toThrow(
      ConfigurationError,
    )
  })

  it('accepts the tutorial’s 17-byte secret, with a warning', () => {
    const config = resolveServerConfig(
      {},
      { TESSERA_LEGACY_HS_SECRET: 'jwt-secret-string', TESSERA_LEGACY_UNTIL: FUTURE },
    )
    expect(checkServerConfig(config)).toEqual([
      expect.objectContaining({ level: 'warning', setting: 'TESSERA_LEGACY_HS_SECRET' }),
    ])
  })

  it('warns while a closed window is still configured', () => {
    const config = loadServerConfig(
      {},
      { TESSERA_LEGACY_HS_SECRET: 'x'.repeat(40) + 'abcdefghij', TESSERA_LEGACY_UNTIL: '2001-01-01' },
    )
    expect(checkServerConfig(config)).toEqual([
      expect.objectContaining({ level: 'warning', setting: 'TESSERA_LEGACY_UNTIL' }),
    ])
  })

  it('the end date alone (for the import) is no finding', () => {
    expect(checkServerConfig(loadServerConfig({}, { TESSERA_LEGACY_UNTIL: FUTURE }))).toEqual([])
  })
})
