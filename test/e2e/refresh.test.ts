// POST /auth/refresh: rotation, the grace window (two tabs get one successor), reuse detection after the
// window (the whole session is revoked), and token types.
import { describe, expect, it } from 'vitest'
import {
  claimsOf,
  decode,
  expectError,
  expectUnauthorized,
  sleep,
  tokensOf,
  uniqueName,
  useServer,
} from '../helpers/server-harness.js'

describe('POST /auth/refresh (default 10 s grace)', () => {
  const server = useServer()

  it('rotates: returns a new access token and a new refresh token in the same session', async () => {
    const login = await server.register(uniqueName('rot'))
    const res = await server.refresh(login.refresh)
    expect(res.status, res.text).toBe(200)
    const next = tokensOf(res)

    expect(next.access).not.toBe(login.access)
    expect(next.refresh).not.toBe(login.refresh)
    const [oldRefresh, newRefresh] = [claimsOf(login.refresh), claimsOf(next.refresh)]
    expect(newRefresh.jti).not.toBe(oldRefresh.jti)
    expect(newRefresh.sid).toBe(oldRefresh.sid)
    expect(newRefresh.sub).toBe(oldRefresh.sub)

    const access = decode(next.access)
    expect(access.header.typ).toBe('at+jwt')
    expect(access.claims).toMatchObject({ sid: login.sessionId, sub: String(login.userId), type: 'access' })
    expect(access.claims.fresh).not.toBe(true)
    expect(res.body.token_type).toBe('Bearer')
    expect(res.body.expires_in).toBe(server.config.accessTokenTtl)

    // The new access token works.
    const me = await server.me(next.access)
    expect(me.status).toBe(200)
    expect(me.body.session_id).toBe(login.sessionId)
  })

  it('accepts the new refresh token for the next rotation', async () => {
    const login = await server.register(uniqueName('chain'))
    const second = tokensOf(await server.refresh(login.refresh))
    const third = await server.refresh(second.refresh)
    expect(third.status, third.text).toBe(200)
    expect(claimsOf(tokensOf(third).refresh).jti).not.toBe(claimsOf(second.refresh).jti)
  })

  it('accepts the refresh token in the JSON body as { refresh_token }', async () => {
    const login = await server.register(uniqueName('body'))
    const res = await server.api('POST', '/auth/refresh', { body: { refresh_token: login.refresh } })
    expect(res.status, res.text).toBe(200)
    expect(claimsOf(tokensOf(res).refresh).sid).toBe(login.sessionId)
  })

  it('returns the same successor (same refresh jti) for the spent token within the grace window', async () => {
    const login = await server.register(uniqueName('tab'))
    const first = tokensOf(await server.refresh(login.refresh))
    const again = await server.refresh(login.refresh)
    expect(again.status, again.text).toBe(200)
    const second = tokensOf(again)
    expect(claimsOf(second.refresh).jti).toBe(claimsOf(first.refresh).jti)
    expect(claimsOf(second.refresh).sid).toBe(login.sessionId)

    // Still one family: the successor rotates normally and the session list shows one session.
    expect((await server.refresh(first.refresh)).status).toBe(200)
    const sessions = await server.api('GET', '/auth/sessions', { token: first.access })
    expect(sessions.status).toBe(200)
    expect(sessions.body.sessions).toHaveLength(1)
    // Each answer is recorded, the grace answer as such (a thief within the window leaves a trace).
    const events = await server.running.context.stores.audit.list({ userId: login.userId })
    expect(events.filter((e) => e.event === 'refresh').map((e) => e.detail?.outcome)).toEqual([
      'rotated',
      'grace',
      'rotated',
    ])
  })

  it('gives two concurrent refreshes of one token (two tabs) both 200 and the same successor', async () => {
    const login = await server.register(uniqueName('race'))
    const [a, b] = await Promise.all([server.refresh(login.refresh), server.refresh(login.refresh)])
    expect([a.status, b.status], `${a.text}\n${b.text}`).toEqual([200, 200])
    const [ra, rb] = [claimsOf(tokensOf(a).refresh), claimsOf(tokensOf(b).refresh)]
    expect(ra.jti).toBe(rb.jti)
    expect(ra.sid).toBe(login.sessionId)
    expect(rb.sid).toBe(login.sessionId)
    // Both tabs keep working.
    expect((await server.me(tokensOf(a).access)).status).toBe(200)
    expect((await server.me(tokensOf(b).access)).status).toBe(200)
  })

  it('refuses an access token with 401 token_wrong_type', async () => {
    const login = await server.register(uniqueName('wrongtype'))
    expectUnauthorized(await server.refresh(login.access), 'token_wrong_type')
    // And the session was not harmed.
    expect((await server.refresh(login.refresh)).status).toBe(200)
  })

  it('refuses a refresh token on a protected resource with 401', async () => {
    const login = await server.register(uniqueName('refresh-as-access'))
    expectUnauthorized(await server.api('GET', '/protected', { token: login.refresh }), 'token_wrong_type')
    expectUnauthorized(await server.me(login.refresh), 'token_wrong_type')
    expectUnauthorized(await server.api('POST', '/auth/logout', { token: login.refresh }))
  })

  it('answers a refresh without a token with 401 token_missing and a bare challenge', async () => {
    const res = await server.api('POST', '/auth/refresh')
    expectUnauthorized(res, 'token_missing')
    expect(res.headers.get('www-authenticate')).not.toContain('error=')
  })

  it('refuses a garbage refresh token with 401 and an invalid_token challenge', async () => {
    const res = await server.refresh('not.a.token')
    expectUnauthorized(res)
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"')
  })

  it('refuses a refresh token with a flipped signature with 401 token_invalid_signature', async () => {
    const login = await server.register(uniqueName('tamper'))
    const [header, payload, signature] = login.refresh.split('.') as [string, string, string]
    const flipped = (signature.startsWith('A') ? 'B' : 'A') + signature.slice(1)
    expectUnauthorized(await server.refresh(`${header}.${payload}.${flipped}`), 'token_invalid_signature')
  })
})

describe('refresh token reuse after the grace window', () => {
  const server = useServer({ refreshGraceSeconds: 1 })

  it('answers 401 refresh_token_reused and revokes the whole session', async () => {
    const username = uniqueName('theft')
    const login = await server.register(username)
    const other = await server.login(username)
    const rotated = tokensOf(await server.refresh(login.refresh))

    // Times may be stored in whole seconds: wait past grace + 1 s so the boundary cannot round our way.
    await sleep(2_200)
    const reuse = await server.refresh(login.refresh)
    expectError(reuse, 401, 'refresh_token_reused')
    expect(reuse.body.access_token).toBeUndefined()
    expect(reuse.body.refresh_token).toBeUndefined()

    // Every token of that session is refused from now on: the latest refresh token and both access tokens.
    expectUnauthorized(await server.refresh(rotated.refresh))
    expectUnauthorized(await server.me(rotated.access))
    expectUnauthorized(await server.me(login.access))
    expectUnauthorized(await server.api('GET', '/protected', { token: rotated.access }))
    // The spent token stays refused.
    expectUnauthorized(await server.refresh(login.refresh))

    // Another session of the same user is not the stolen family: it keeps working.
    expect((await server.me(other.access)).status).toBe(200)
    expect((await server.refresh(other.refresh)).status).toBe(200)
  })
})

describe('refresh rate per session (TESSERA_REFRESH_RATE_PER_SESSION)', () => {
  const server = useServer({ refreshRatePerSession: 3 })

  it('answers 429 with Retry-After past the limit, writing nothing, and leaves other sessions alone', async () => {
    const username = uniqueName('loop')
    const login = await server.register(username)
    const other = await server.login(username)
    let token = login.refresh
    for (let i = 0; i < 3; i++) {
      const res = await server.refresh(token)
      expect(res.status, res.text).toBe(200)
      token = tokensOf(res).refresh
    }
    const { audit } = server.running.context.stores
    const before = (await audit.list({ userId: login.userId })).length
    const refused = await server.refresh(token)
    expectError(refused, 429, 'rate_limited')
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    expect((await audit.list({ userId: login.userId })).length).toBe(before)
    const metrics = await server.api('GET', '/metrics')
    expect(metrics.text).toMatch(/^tessera_refreshes_total\{outcome="rate_limited"\} 1$/m)
    // The session's current token was not spent: it refreshes once the minute is over. Another
    // session of the same user has its own budget.
    expect((await server.refresh(other.refresh)).status).toBe(200)
  })
})
