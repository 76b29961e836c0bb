// The in-memory rate limiter (the default without Redis, and the fallback while Redis is down) and
// the keys the server counts by. Windows are timed by the monotonic clock (faked here), so the wall
// clock's steps move nothing; the table is bounded whatever the number of keys.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  accountKey,
  clientNetwork,
  MEMORY_LIMITER_MAX_KEYS,
  memoryRateLimiter,
  type RateDecision,
} from '../../packages/server/src/server/rate-limit.js'

const hit = (decision: RateDecision | Promise<RateDecision>): RateDecision => decision as RateDecision

describe('memoryRateLimiter', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['performance', 'Date'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('allows `limit` hits per window, then refuses with the seconds left, then starts a new window', () => {
    const limiter = memoryRateLimiter()
    expect(hit(limiter.hit('k', 2, 60))).toEqual({ allowed: true, remaining: 1, retryAfter: 60 })
    expect(hit(limiter.hit('k', 2, 60))).toEqual({ allowed: true, remaining: 0, retryAfter: 60 })
    vi.advanceTimersByTime(20_500)
    expect(hit(limiter.hit('k', 2, 60))).toEqual({ allowed: false, remaining: 0, retryAfter: 40 })
    expect(hit(limiter.hit('other', 2, 60)).allowed).toBe(true)
    vi.advanceTimersByTime(39_500)
    expect(hit(limiter.hit('k', 2, 60))).toEqual({ allowed: true, remaining: 1, retryAfter: 60 })
  })

  it('is not reopened by the wall clock jumping forward, nor held shut by it jumping back', () => {
    const limiter = memoryRateLimiter()
    hit(limiter.hit('k', 1, 60))
    vi.setSystemTime(Date.now() + 3_600_000)
    expect(hit(limiter.hit('k', 1, 60)).allowed).toBe(false)
    vi.setSystemTime(Date.now() - 7_200_000)
    vi.advanceTimersByTime(60_000)
    expect(hit(limiter.hit('k', 1, 60)).allowed).toBe(true)
  })

  it('keeps at most maxKeys windows, never drops a live one, and counts new keys past it together', () => {
    const limiter = memoryRateLimiter({ maxKeys: 100 })
    hit(limiter.hit('victim', 1, 60))
    for (let i = 0; i < 99; i++) hit(limiter.hit(`filler-${String(i)}`, 1, 60))
    // Full: the victim's window still counts, however many new keys come.
    for (let i = 0; i < 1_000; i++) hit(limiter.hit(`flood-${String(i)}`, 1, 60))
    expect(hit(limiter.hit('victim', 1, 60)).allowed).toBe(false)
    // The new keys shared one window: past its limit, a new key is refused (fail closed) until it ends.
    const late = hit(limiter.hit('newcomer', 1, 60))
    expect(late.allowed).toBe(false)
    expect(late.retryAfter).toBe(60)
    expect(MEMORY_LIMITER_MAX_KEYS).toBe(100_000)
    // Once the windows end, keys get windows of their own again.
    vi.advanceTimersByTime(60_000)
    expect(hit(limiter.hit('newcomer', 1, 60)).allowed).toBe(true)
    expect(hit(limiter.hit('victim', 1, 60)).allowed).toBe(true)
    expect(hit(limiter.hit('victim', 1, 60)).allowed).toBe(false)
  })

  it('answers a flood of distinct keys in bounded time and memory', () => {
    const limiter = memoryRateLimiter({ maxKeys: 1_000 })
    for (let i = 0; i < 50_000; i++) hit(limiter.hit(`flood-${String(i)}`, 1, 60))
    // The first thousand kept their windows; the rest shared the overflow window.
    expect(hit(limiter.hit('flood-0', 1, 60)).allowed).toBe(false)
    expect(hit(limiter.hit('flood-49999', 1, 60)).allowed).toBe(false)
    // Expired windows leave as time passes: keys count afresh.
    vi.advanceTimersByTime(61_000)
    expect(hit(limiter.hit('flood-0', 1, 60)).allowed).toBe(true)
    expect(hit(limiter.hit('flood-49999', 1, 60)).allowed).toBe(true)
  })
})

describe('clientNetwork', () => {
  it('counts IPv4 by address, IPv4-mapped IPv6 as that IPv4 address', () => {
    expect(clientNetwork('192.0.2.7')).toBe('192.0.2.7')
    expect(clientNetwork('::ffff:192.0.2.7')).toBe('192.0.2.7')
    expect(clientNetwork('::ffff:c000:207')).toBe('192.0.2.7')
  })

  it('counts IPv6 by its /64, however the address is written', () => {
    const network = '2001:db8:7:7::/64'
    for (const ip of ['2001:db8:7:7::1', '2001:db8:7:7:ffff:ffff:ffff:fffe', '2001:0DB8:0007:0007:0:0:0:9'])
      expect(clientNetwork(ip)).toBe(network)
    expect(clientNetwork('2001:db8:7:8::1')).toBe('2001:db8:7:8::/64')
    expect(clientNetwork('2001:db8::1')).toBe('2001:db8:0:0::/64')
    expect(clientNetwork('::1')).toBe('0:0:0:0::/64')
  })

  it('keeps text that is no IP address as it is', () => {
    expect(clientNetwork('unknown')).toBe('unknown')
    expect(clientNetwork('')).toBe('')
  })
})

describe('accountKey', () => {
  it('is a short digest of the normalised name: equal names, equal keys; different names, different keys', () => {
    const long = '\uFDFA'.repeat(256).normalize('NFKC')
    expect(long.length).toBeGreaterThan(4_000)
    for (const name of ['ann', long]) expect(accountKey(name)).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(accountKey('ann')).toBe(accountKey('ann'))
    expect(accountKey('ann')).not.toBe(accountKey('anne'))
    expect(accountKey('ann')).not.toContain('ann')
  })
})
