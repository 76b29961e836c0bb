// The refresh rotation state machine, including races between connections.
import { describe, expect, it } from 'vitest'
import { sessionStore } from '../../../packages/server/src/stores/sql/sessions.js'
import type { SuiteContext } from './context.js'
import { NOW } from './context.js'
import { makeUser } from './sessions.js'

const GRACE = 10
const TTL = 3600

export function rotationTests(ctx: () => SuiteContext): void {
  describe('refresh rotation', () => {
    const start = async (): Promise<number> => {
      const { stores } = ctx()
      const userId = await makeUser(stores)
      await stores.sessions.create({ id: 's1', userId, jti: 'j0', expiresAt: NOW + TTL }, NOW)
      return userId
    }
    const rotate = (presentedJti: string, newJti: string, now: number) =>
      ctx().stores.sessions.rotate({
        sid: 's1',
        presentedJti,
        newJti,
        newExpiresAt: now + TTL,
        now,
        graceSeconds: GRACE,
      })

    it('rotates the current token: new current jti, previous kept, generation and expiry advanced', async () => {
      const userId = await start()
      expect(await rotate('j0', 'j1', NOW + 5)).toEqual({ status: 'rotated', userId, generation: 1 })
      expect(await ctx().stores.sessions.get('s1')).toMatchObject({
        currentJti: 'j1',
        previousJti: 'j0',
        generation: 1,
        rotatedAt: NOW + 5,
        lastUsedAt: NOW + 5,
        expiresAt: NOW + 5 + TTL,
        revokedAt: null,
      })
    })

    it('gives the same successor to the spent token within the grace window, without a new family', async () => {
      const userId = await start()
      await rotate('j0', 'j1', NOW)
      const grace = await rotate('j0', 'other', NOW + GRACE)
      expect(grace).toEqual({
        status: 'grace',
        userId,
        generation: 1,
        successorJti: 'j1',
        expiresAt: NOW + TTL,
      })
      expect(await ctx().stores.sessions.get('s1')).toMatchObject({
        currentJti: 'j1',
        generation: 1,
        revokedAt: null,
      })
      expect(await rotate('j1', 'j2', NOW + GRACE)).toMatchObject({ status: 'rotated', generation: 2 })
    })

    it('treats the spent token after the grace window as reuse and revokes the session', async () => {
      const userId = await start()
      await rotate('j0', 'j1', NOW)
      expect(await rotate('j0', 'x', NOW + GRACE + 1)).toEqual({
        status: 'reuse',
        userId,
        expiresAt: NOW + TTL,
      })
      expect(await ctx().stores.sessions.get('s1')).toMatchObject({
        revokedAt: NOW + GRACE + 1,
        revokedReason: 'refresh_reuse',
      })
      expect(await rotate('j1', 'j2', NOW + GRACE + 2)).toEqual({ status: 'revoked' })
    })

    it('treats any replay as reuse when the grace window is zero, even in the same second', async () => {
      const userId = await start()
      const rotateNoGrace = (presentedJti: string, newJti: string, now: number) =>
        ctx().stores.sessions.rotate({
          sid: 's1',
          presentedJti,
          newJti,
          newExpiresAt: now + TTL,
          now,
          graceSeconds: 0,
        })
      expect(await rotateNoGrace('j0', 'j1', NOW)).toEqual({ status: 'rotated', userId, generation: 1 })
      expect(await rotateNoGrace('j0', 'other', NOW)).toMatchObject({ status: 'reuse', userId })
      expect(await ctx().stores.sessions.get('s1')).toMatchObject({ revokedReason: 'refresh_reuse' })
    })

    it('treats a token of an older generation as reuse even inside the grace window', async () => {
      await start()
      await rotate('j0', 'j1', NOW)
      await rotate('j1', 'j2', NOW + 1)
      expect(await rotate('j0', 'x', NOW + 2)).toMatchObject({ status: 'reuse' })
      expect((await ctx().stores.sessions.get('s1'))?.revokedReason).toBe('refresh_reuse')
    })

    it('treats a jti the session never issued as reuse', async () => {
      await start()
      expect(await rotate('forged', 'x', NOW)).toMatchObject({ status: 'reuse' })
    })

    it('reports revoked, expired and unknown sessions without changing them', async () => {
      const { stores } = ctx()
      await start()
      expect(await rotate('j0', 'j1', NOW + TTL)).toEqual({ status: 'expired' })
      expect(await stores.sessions.get('s1')).toMatchObject({ currentJti: 'j0', revokedAt: null })
      await stores.sessions.revoke('s1', { reason: 'logout', now: NOW })
      expect(await rotate('j0', 'j1', NOW + 1)).toEqual({ status: 'revoked' })
      expect((await stores.sessions.get('s1'))?.revokedReason).toBe('logout')
      const unknown = await stores.sessions.rotate({
        sid: 'nope',
        presentedJti: 'j0',
        newJti: 'j1',
        newExpiresAt: NOW + TTL,
        now: NOW,
        graceSeconds: GRACE,
      })
      expect(unknown).toEqual({ status: 'not_found' })
    })

    it('refuses a rotation to the same jti', async () => {
      await start()
      await expect(rotate('j0', 'j0', NOW)).rejects.toThrow(TypeError)
    })

    it('rotates once when five refreshes of one token race over five connections; the others get grace', async () => {
      await start()
      const peers = await Promise.all([1, 2, 3, 4].map(() => ctx().connect({ peer: true })))
      const dbs = [ctx().db, ...peers]
      const results = await Promise.all(
        dbs.map((db, i) =>
          sessionStore(db).rotate({
            sid: 's1',
            presentedJti: 'j0',
            newJti: `new-${i}`,
            newExpiresAt: NOW + TTL,
            now: NOW,
            graceSeconds: GRACE,
          }),
        ),
      )
      const rotated = results.flatMap((r, i) => (r.status === 'rotated' ? [`new-${i}`] : []))
      expect(rotated).toHaveLength(1)
      const graces = results.filter((r) => r.status === 'grace')
      expect(graces).toHaveLength(4)
      for (const g of graces) expect(g).toMatchObject({ successorJti: rotated[0], generation: 1 })
      expect(await ctx().stores.sessions.get('s1')).toMatchObject({ currentJti: rotated[0], generation: 1 })
    })

    it('rotates once when refreshes of one token race on one connection', async () => {
      await start()
      const results = await Promise.all([0, 1, 2, 3, 4].map((i) => rotate('j0', `new-${i}`, NOW)))
      expect(results.filter((r) => r.status === 'rotated')).toHaveLength(1)
      expect(results.filter((r) => r.status === 'grace')).toHaveLength(4)
    })
  })
}
