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

  it('keeps at most maxKeys windows per kind of key: a flood of one kind never touches another', () => {
    const limiter = memoryRateLimiter({ maxKeys: 100 })
    expect(hit(limiter.hit('login:account:victim', 1, 60)).allowed).toBe(true)
    expect(hit(limiter.hit('login:ip:198.51.100.7', 1, 60)).allowed).toBe(true)
    // 100,000 cheap registrations from as many networks used to fill one shared table and refuse
    // every login after them (one overflow window for every new key).
    for (let i = 0; i < 1_000; i++) hit(limiter.hit(`register:ip:2001:db8:${i.toString(16)}:0::/64`, 1, 60))
    expect(hit(limiter.hit('login:account:victim', 1, 60)).allowed).toBe(false)
    expect(hit(limiter.hit('login:ip:198.51.100.7', 1, 60)).allowed).toBe(false)
    expect(hit(limiter.hit('login:account:newcomer', 1, 60)).allowed).toBe(true)
    expect(hit(limiter.hit('login:ip:203.0.113.9', 1, 60)).allowed).toBe(true)
    expect(hit(limiter.hit('register:ip:192.0.2.1', 1, 60)).allowed).toBe(true)
    // IPv6 networks are one kind, whatever their colons: the flood displaced its own first windows.
    expect(hit(limiter.hit('register:ip:2001:db8:3e7:0::/64', 1, 60)).allowed).toBe(false)
    expect(hit(limiter.hit('register:ip:2001:db8:0:0::/64', 1, 60)).allowed).toBe(true)
    expect(MEMORY_LIMITER_MAX_KEYS).toBe(100_000)
  })

  it('drops the oldest window of a full kind for a new key: a live window only after maxKeys newer ones', () => {
    const limiter = memoryRateLimiter({ maxKeys: 100 })
    expect(hit(limiter.hit('login:account:victim', 1, 60)).allowed).toBe(true)
    for (let i = 0; i < 99; i++) hit(limiter.hit(`login:account:other-${String(i)}`, 1, 60))
    // Full, the victim's window is the oldest and still counts.
    expect(hit(limiter.hit('login:account:victim', 1, 60)).allowed).toBe(false)
    // The next new key of the kind takes its place.
    expect(hit(limiter.hit('login:account:one-more', 1, 60)).allowed).toBe(true)
    expect(hit(limiter.hit('login:account:victim', 1, 60)).allowed).toBe(true)
    // Windows the new ones did not displace keep counting.
    expect(hit(limiter.hit('login:account:other-98', 1, 60)).allowed).toBe(false)
  })

  it('answers a flood of distinct keys in bounded time and memory', () => {
    const limiter = memoryRateLimiter({ maxKeys: 1_000 })
    for (let i = 0; i < 50_000; i++) hit(limiter.hit(`flood:${String(i)}`, 1, 60))
    // The last thousand keys hold windows; the earlier ones were displaced and count afresh.
    expect(hit(limiter.hit('flood:49999', 1, 60)).allowed).toBe(false)
    expect(hit(limiter.hit('flood:0', 1, 60)).allowed).toBe(true)
    // Expired windows leave as time passes: keys count afresh.
    vi.advanceTimersByTime(61_000)
    expect(hit(limiter.hit('flood:49999', 1, 60)).allowed).toBe(true)
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

  it('counts text that is no IP address by a short digest of it (a forwarded header can say anything)', () => {
    const long = 'x'.repeat(8_000)
    expect(clientNetwork(long)).toMatch(/^text:[\w-]{22}$/)
    expect(clientNetwork(long)).toBe(clientNetwork('x'.repeat(8_000)))
    expect(clientNetwork(long)).not.toBe(clientNetwork('y'.repeat(8_000)))
    expect(clientNetwork('unknown')).toMatch(/^text:[\w-]{22}$/)
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
