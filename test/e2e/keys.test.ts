// `tessera keys` against a running server: rotation is scheduled (the next key is published before it
// signs), `--now` rotates at once, `revoke` drops a key everywhere and refuses its tokens, `prune` and
// every instance delete the keys whose tokens have all expired; `list` shows each key's state.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKey } from 'tessera'
import { describe, expect, it } from 'vitest'
import { resolveServerConfig } from '../../packages/server/src/server/app.js'
import { openContext } from '../../packages/server/src/server/context.js'
import { openDatabase } from '../../packages/server/src/stores/sql/database.js'
import { keyStore } from '../../packages/server/src/stores/sql/signing-keys.js'
import { eventually } from '../scale/cluster.js'
import {
  baseConfig,
  decode,
  expectUnauthorized,
  runCli,
  uniqueName,
  useServer,
  type E2EServer,
} from '../helpers/server-harness.js'

const server = useServer({ keyRefreshInterval: 1, jwksMaxAge: 60 })

const kids = async (target: E2EServer): Promise<string[]> =>
  ((await target.api('GET', '/.well-known/jwks.json')).body.keys ?? []).map((k) => String(k.kid))
const signingKid = async (target: E2EServer): Promise<string> =>
  String(decode((await target.register(uniqueName('kid'))).access).header.kid)
const lineOf = (output: string, kid: string): string =>
  output.split('\n').find((l) => l.startsWith(kid)) ?? ''

describe('tessera keys', () => {
  it('lists --data-dir and --database-url in its help', async () => {
    const help = await runCli(['keys', '--help'])
    expect(help.code).toBe(0)
    expect(help.output).toContain('--data-dir')
    expect(help.output).toContain('--database-url')
    for (const action of ['generate', 'rotate', 'rotate --now', 'list', 'revoke <kid>', 'prune']) {
      expect(help.output).toContain(`  ${action}`)
    }
  })

  it('refuses an unknown action, a stray argument and --now outside rotate, changing nothing', async () => {
    const before = await server.cli(['keys', 'list'])
    for (const argv of [
      ['keys', 'drop'],
      ['keys', 'list', 'extra'],
      ['keys', 'prune', '--now'],
      ['keys', 'revoke'],
    ]) {
      const result = await server.cli(argv)
      expect(result.code, argv.join(' ')).toBe(2)
    }
    expect((await server.cli(['keys', 'list'])).output).toBe(before.output)
  })

  it('refuses to make keys when the server signs with TESSERA_SECRET, storing nothing', async () => {
    const before = await server.cli(['keys', 'list'])
    const secret = {
      TESSERA_ALGORITHM: 'HS256',
      TESSERA_SECRET: 'an-hmac-secret-that-is-long-enough-for-hs256!',
    }
    for (const argv of [
      ['keys', 'rotate'],
      ['keys', 'rotate', '--now'],
      ['keys', 'generate'],
    ]) {
      const result = await server.cli(argv, secret)
      expect(result.code, argv.join(' ')).toBe(2)
      expect(result.output).toMatch(
        /signs with TESSERA_SECRET \(TESSERA_ALGORITHM=HS256\): a stored key would never sign/,
      )
    }
    expect((await server.cli(['keys', 'list'])).output).toBe(before.output)
    // Listing still works: the database may hold keys from before the secret.
    expect((await server.cli(['keys', 'list'], secret)).code).toBe(0)
  })

  it('schedules a rotation: the next key is published at once and signs only after the JWKS max-age', async () => {
    const current = await signingKid(server)
    const rotate = await server.cli(['keys', 'rotate', '--jwks-max-age', '60', '--key-refresh-interval', '1'])
    expect(rotate.code, rotate.output).toBe(0)
    const next = /Scheduled (\S+): published now, signing from \S+ \(in (\d+) s\)/.exec(rotate.output)
    expect(next, rotate.output).not.toBeNull()
    const [, pending, wait] = next!
    expect(Number(wait)).toBeGreaterThanOrEqual(61)
    const list = await server.cli(['keys', 'list'])
    expect(lineOf(list.output, pending!)).toMatch(/\bpending\b/)
    expect(lineOf(list.output, current)).toMatch(/\bactive\b/)
    // Every instance publishes it within one refresh interval; the current key keeps signing.
    expect(await eventually(async () => (await kids(server)).includes(pending!), 5_000, 100)).toBe(true)
    expect(await signingKid(server)).toBe(current)

    // A second rotate does not stack another key.
    const again = await server.cli(['keys', 'rotate'])
    expect(again.output).toContain(`already scheduled: ${pending!}`)

    // --now signs with the pending key at once (it has been published longest).
    const now = await server.cli(['keys', 'rotate', '--now'])
    expect(now.code, now.output).toBe(0)
    expect(now.output).toContain(`Signing with ${pending!} now`)
    expect(await eventually(async () => (await signingKid(server)) === pending, 5_000, 100)).toBe(true)
    const after = await server.cli(['keys', 'list'])
    expect(lineOf(after.output, current)).toMatch(/\bretired\b/)
    expect(await kids(server)).toEqual(expect.arrayContaining([current, pending!]))
  })

  it('has every instance log a key change when it takes effect there, a rotation by the CLI included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-keys-log-'))
    const notices: string[] = []
    const context = await openContext(resolveServerConfig({ ...baseConfig(dir), keyRefreshInterval: 1 }), {
      onNotice: (level, message) => notices.push(`${level} ${message}`),
    })
    try {
      const before = context.auth.config.keyRing.active.kid
      const rotate = await runCli([
        'keys',
        'rotate',
        '--now',
        '--data-dir',
        dir,
        '--key-refresh-interval',
        '1',
      ])
      expect(rotate.code, rotate.output).toBe(0)
      const after = /Signing with (\S+)/.exec(rotate.output)?.[1]
      expect(after, rotate.output).toBeDefined()
      const switched = `info keys: now signing with ${after!} (was ${before})`
      expect(
        await eventually(() => notices.some((n) => n.startsWith(switched)), 10_000, 100),
        notices.join('\n'),
      ).toBe(true)
      // Published first (still signing with the old key), both verifying throughout.
      expect(notices.find((n) => n.startsWith('info keys:'))).toBe(
        `info keys: signing with ${before}; verifying ${before}, ${after!}`,
      )
    } finally {
      await context.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('revokes a key: gone from the JWKS, every token it signed refused with token_unknown_key', async () => {
    const victim = await server.register(uniqueName('victim'))
    const oldKid = String(decode(victim.access).header.kid)
    // The signing key cannot be revoked.
    const refused = await server.cli(['keys', 'revoke', oldKid, '--yes'])
    expect(refused.code).toBe(1)
    expect(refused.output).toContain('rotate --now')
    expect((await server.me(victim.access)).status).toBe(200)
    expect((await server.cli(['keys', 'revoke', 'no-such-kid', '--yes'])).code).toBe(1)

    expect((await server.cli(['keys', 'rotate', '--now'])).code).toBe(0)
    const revoke = await server.cli(['keys', 'revoke', oldKid, '--yes'])
    expect(revoke.code, revoke.output).toBe(0)
    expect(await eventually(async () => !(await kids(server)).includes(oldKid), 5_000, 100)).toBe(true)
    expectUnauthorized(await server.me(victim.access), 'token_unknown_key')
    expectUnauthorized(await server.refresh(victim.refresh), 'token_unknown_key')
    expect(lineOf((await server.cli(['keys', 'list'])).output, oldKid)).toMatch(/\brevoked\b/)
    expect((await server.cli(['keys', 'revoke', oldKid, '--yes'])).output).toContain('already revoked')
  })

  it('prunes keys retired longer than the refresh token lifetime, by the CLI and by every instance', async () => {
    // A key retired just now, which pruning must keep.
    const rotated = await server.cli(['keys', 'rotate', '--now'])
    expect(rotated.code, rotated.output).toBe(0)
    const db = await openDatabase({ url: server.config.databaseUrl })
    try {
      const keys = keyStore(db)
      const longAgo = Math.floor(Date.now() / 1000) - 2 * server.config.refreshTokenTtl
      // Two keys whose turn ended long ago (an instance's ring holds them until it prunes).
      for (const kid of ['ancient-1', 'ancient-2']) {
        await keys.save(await generateKey('EdDSA', { kid }), { now: longAgo })
        await db
          .updateTable('signing_keys')
          .set({ activated_at: longAgo, retired_at: longAgo + 60 })
          .where('kid', '=', kid)
          .execute()
      }
      const pruned = await server.cli(['keys', 'prune'])
      expect(pruned.code, pruned.output).toBe(0)
      expect(pruned.output).toContain('ancient-1')
      expect((await server.cli(['keys', 'prune'])).output).toContain('Nothing to prune')

      // The running instance prunes on its own (the CLI is not needed).
      await keys.save(await generateKey('EdDSA', { kid: 'ancient-3' }), { now: longAgo })
      await db
        .updateTable('signing_keys')
        .set({ activated_at: longAgo, retired_at: longAgo + 60 })
        .where('kid', '=', 'ancient-3')
        .execute()
      expect(
        await eventually(async () => (await keys.list()).every((k) => k.kid !== 'ancient-3'), 5_000, 100),
      ).toBe(true)
      expect(await kids(server)).not.toContain('ancient-3')
      // Recent retired keys stay: they still verify tokens that have not expired.
      expect((await keys.list()).some((k) => k.state === 'retired')).toBe(true)
    } finally {
      await db.destroy()
    }
  })

  it('rotates by itself once the signing key has signed TESSERA_KEY_ROTATION_INTERVAL (90 days)', async () => {
    const { context } = server.running
    const before = (await context.stores.keys.list()).find((k) => k.active)!
    const day = 86_400
    const activated = before.activatedAt ?? before.createdAt
    // The maintenance pass that finds the key old enough (its successor signs 61 s after it is stored).
    // Last in the file: a pass at a later time also purges what will have expired by then.
    const report = await context.maintenance.runOnce(activated + 90 * day - 62)
    expect(report.failed).toEqual({})
    const pending = (await context.stores.keys.list()).filter((k) => k.state === 'pending')
    expect(pending).toHaveLength(1)
    expect(pending[0]!.activatedAt).toBe(activated + 90 * day)
    // Published by the next refresh, before it signs; a second pass does not stack another key.
    await context.keyLifecycle.refresh()
    expect(await kids(server)).toContain(pending[0]!.kid)
    await context.maintenance.runOnce(activated + 90 * day - 30)
    expect((await context.stores.keys.list()).filter((k) => k.state === 'pending')).toHaveLength(1)
    const events = await context.stores.audit.list()
    expect(events.filter((e) => e.event === 'key_rotation_scheduled').at(0)?.detail).toEqual({
      kid: pending[0]!.kid,
      activates_at: activated + 90 * day,
      by: 'automatic',
    })
    // Cancelled again, so the file's other tests see one signing key and no rotation pending.
    expect((await server.cli(['keys', 'revoke', pending[0]!.kid, '--yes'])).code).toBe(0)
    await context.keyLifecycle.refresh()
  })
})
