// The server's logger (logging.ts) in process: the access lines are gathered and handed over in order
// with the other lines, `request.log` and other children (made lazily) write lines with their
// bindings, and the log controller reports every request's start and end.
import Fastify from 'fastify'
import pino from 'pino'
import { describe, expect, it, vi } from 'vitest'
import { createServerLogger, requestRecorder } from '../../packages/server/src/server/logging.js'
import { createMetrics } from '../../packages/server/src/server/metrics.js'

/** A destination that keeps every line written to it, parsed. */
function captured(): {
  write(chunk: string): void
  text: () => string
  lines: () => Record<string, unknown>[]
} {
  let text = ''
  return {
    write(chunk: string) {
      text += chunk
    },
    text: () => text,
    lines: () =>
      text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  }
}

async function app(level: 'info' | 'warn' | 'debug') {
  const out = captured()
  const logging = createServerLogger(level, out)
  const record = requestRecorder(createMetrics(), logging.access)
  // What the log controller reported, in order: `start <id>` and `end <id> <status>`.
  const events: string[] = []
  const fastify = Fastify({
    loggerInstance: logging.logger,
    logController: logging.logController({
      started(request) {
        events.push(`start ${request.id}`)
      },
      ended(request, reply) {
        events.push(`end ${request.id} ${reply.statusCode}`)
        record(request, reply)
      },
    }),
  })
  fastify.get('/quiet', () => ({ ok: true }))
  fastify.get('/noisy', (request) => {
    request.log.warn({ detail: 1 }, 'something to say')
    return { level: request.log.level }
  })
  fastify.get('/fails', () => {
    throw new Error('boom')
  })
  fastify.get(
    '/hooked',
    {
      onRequest(request, _reply, done) {
        events.push(`onRequest ${request.id}`)
        done()
      },
      onResponse(request, reply, done) {
        events.push(`onResponse ${request.id} ${reply.statusCode}`)
        done()
      },
    },
    () => ({ ok: true }),
  )
  await fastify.ready()
  return { fastify, out, logging, events }
}

describe('the server logger', () => {
  it('writes access lines in batches, after the lines written before them, and all of them on flush', async () => {
    const { fastify, out, logging } = await app('info')
    for (let i = 0; i < 3; i++) expect((await fastify.inject('/quiet')).statusCode).toBe(200)
    // Gathered, not written yet.
    expect(out.lines().filter((l) => l.msg === 'request')).toHaveLength(0)
    const noisy = await fastify.inject('/noisy')
    expect(noisy.json()).toEqual({ level: 'info' })
    logging.flush()
    const lines = out.lines()
    expect(lines.map((l) => `${String(l.msg)} ${typeof l.route === 'string' ? l.route : ''}`)).toEqual([
      'request /quiet',
      'request /quiet',
      'request /quiet',
      'something to say ',
      'request /noisy',
    ])
    const warn = lines[3] ?? {}
    const noisyAccess = lines[4] ?? {}
    // request.log binds the request id, as the access line does.
    expect(warn).toMatchObject({ level: 40, detail: 1, reqId: noisyAccess.reqId })
    expect(new Set(lines.filter((l) => l.msg === 'request').map((l) => l.reqId)).size).toBe(4)
    await fastify.close()
  })

  it('makes a request’s pino logger only when a line is written through it', async () => {
    const { fastify } = await app('info')
    // Every pino logger's `child` comes from pino's one prototype (behind each root logger's own).
    const prototype = Object.getPrototypeOf(Object.getPrototypeOf(pino())) as { child: () => unknown }
    const child = vi.spyOn(prototype, 'child')
    try {
      for (let i = 0; i < 3; i++) await fastify.inject('/quiet')
      expect(child).not.toHaveBeenCalled()
      await fastify.inject('/noisy')
      expect(child).toHaveBeenCalled()
    } finally {
      child.mockRestore()
      await fastify.close()
    }
  })

  it('hands the gathered lines over within 100 ms without a flush', async () => {
    const { fastify, out } = await app('info')
    await fastify.inject('/quiet')
    await new Promise((resolve) => setTimeout(resolve, 250))
    expect(out.lines().filter((l) => l.msg === 'request')).toHaveLength(1)
    await fastify.close()
  })

  it('writes no access line above info, and request.log still honours the level', async () => {
    const { fastify, out, logging } = await app('warn')
    expect(logging.access).toBeUndefined()
    await fastify.inject('/quiet')
    expect((await fastify.inject('/noisy')).json()).toEqual({ level: 'warn' })
    logging.flush()
    expect(out.lines().map((l) => l.msg)).toEqual(['something to say'])
    await fastify.close()
  })

  it('reports the start of every request before its hooks and its end after the answer, whatever the answer', async () => {
    const { fastify, out, logging, events } = await app('info')
    const statuses: number[] = []
    for (const url of ['/quiet', '/nowhere', '/fails', '/hooked'])
      statuses.push((await fastify.inject(url)).statusCode)
    expect(statuses).toEqual([200, 404, 500, 200])
    logging.flush()
    const access = out.lines().filter((l) => l.msg === 'request')
    expect(access.map((l) => [l.route, l.status])).toEqual([
      ['/quiet', 200],
      ['unmatched', 404],
      ['/fails', 500],
      ['/hooked', 200],
    ])
    const ids = access.map((l) => String(l.reqId))
    expect(events).toEqual([
      ...ids.slice(0, 3).flatMap((id, i) => [`start ${id}`, `end ${id} ${String(statuses[i])}`]),
      `start ${ids[3]}`,
      `onRequest ${ids[3]}`,
      `onResponse ${ids[3]} 200`,
      `end ${ids[3]} 200`,
    ])
    await fastify.close()
  })

  it('still refuses a route whose log level does not exist, when the route is declared', async () => {
    const logging = createServerLogger('info', captured())
    const strict = Fastify({ loggerInstance: logging.logger, logController: logging.logController() })
    // Not a level (the typings refuse it; a configuration file would not).
    const logLevel = 'verbose' as unknown as 'info'
    expect(() => strict.get('/typo', { logLevel }, () => ({}))).toThrow(
      expect.objectContaining({ code: 'FST_ERR_ROUTE_LOG_LEVEL_INVALID' }) as Error,
    )
    await strict.close()
  })

  it('logs a failure of what is recorded at a request’s start or end, and still answers it', async () => {
    const out = captured()
    const logging = createServerLogger('info', out)
    const fastify = Fastify({
      loggerInstance: logging.logger,
      logController: logging.logController({
        started() {
          throw new Error('start failed')
        },
        ended() {
          throw new Error('end failed')
        },
      }),
    })
    fastify.get('/ok', () => ({ ok: true }))
    const res = await fastify.inject('/ok')
    expect(res.statusCode).toBe(200)
    logging.flush()
    expect(
      out.lines().map((l) => [l.level, l.msg, (l.err as { message?: string } | undefined)?.message]),
    ).toEqual([
      [50, 'recording the start of the request failed', 'start failed'],
      [50, 'recording the end of the request failed', 'end failed'],
    ])
    await fastify.close()
  })

  it('makes child loggers that write with their bindings and level, and keeps the server serializers in Fastify’s lines', async () => {
    const { fastify, out, logging } = await app('debug')
    const child = fastify.log.child({ component: 'test' })
    const quiet = child.child({ part: 2 }, { level: 'warn' })
    expect([child.level, quiet.level]).toEqual(['debug', 'warn'])
    quiet.info('not written')
    quiet.warn('written')
    child.debug('also written')
    await fastify.inject('/quiet?access_token=eyJhbGciOi.eyJzdWIi.sig&page=2')
    logging.flush()
    const lines = out.lines()
    expect(lines.filter((l) => l.msg === 'written')).toEqual([
      expect.objectContaining({ level: 40, component: 'test', part: 2 }),
    ])
    expect(lines.filter((l) => l.msg === 'also written')).toEqual([
      expect.objectContaining({ level: 20, component: 'test' }),
    ])
    expect(lines.some((l) => l.msg === 'not written')).toBe(false)
    // Fastify's debug line serialises the request with the server's serializer: URL redacted, no headers.
    const incoming = lines.find((l) => l.msg === 'incoming request')
    expect(incoming?.req).toEqual({
      method: 'GET',
      url: '/quiet?access_token=[redacted]&page=2',
      host: 'localhost:80',
      remoteAddress: '127.0.0.1',
    })
    await fastify.close()
  })

  it('writes access lines in ASCII only, with durations rounded to hundredths of a millisecond', async () => {
    const { fastify, out, logging } = await app('info')
    const access = logging.access
    if (access === undefined) throw new Error('no access line at info')
    const users = ['zoë', 'μαρία', '🙂', 'del\u007f', 'plain']
    users.forEach((user, i) => {
      access(`req-ü-${i}`, 'GET', '/ünïcode/:id', 200, 1, user)
    })
    const durations: [number, number][] = [
      [0, 0],
      [0.004, 0],
      [0.005, 0.01],
      [0.05, 0.05],
      [0.5, 0.5],
      [2.5, 2.5],
      [1.25, 1.25],
      [12, 12],
      [10.1, 10.1],
      [99.999, 100],
      [123456.789, 123456.79],
      [2e10, 2e10],
    ]
    for (const [ms] of durations) access('req-ms', 'GET', '/ms', 200, ms, null)
    logging.flush()
    const text = out.text()
    // Every byte of the log is ASCII: non-ASCII text is written as JSON \u escapes.
    expect(Buffer.byteLength(text, 'utf8')).toBe(text.length)
    expect(text).not.toMatch(/[\u007f-\uffff]/)
    expect(text).toContain('"user":"zo\\u00eb"')
    const lines = out.lines()
    expect(lines.slice(0, users.length).map((l) => [l.user, l.reqId, l.route])).toEqual(
      users.map((user, i) => [user, `req-ü-${i}`, '/ünïcode/:id']),
    )
    expect(lines.slice(users.length).map((l) => l.ms)).toEqual(durations.map(([, expected]) => expected))
    await fastify.close()
  })

  it('writes any text exactly: quotes, control characters, non-ASCII, a line longer than a batch', async () => {
    const { fastify, out, logging } = await app('info')
    const access = logging.access
    if (access === undefined) throw new Error('no access line at info')
    const users = [
      'zoë',
      'μαρία',
      '"quoted" \\ back\nslash\u0001',
      '🙂'.repeat(3000),
      'x'.repeat(20_000),
      // Plain text until the last character.
      `${'p'.repeat(100)}"`,
      `${'q'.repeat(100)}é`,
      // Longer than a whole batch (64 KiB).
      'y'.repeat(200_000),
      'plain',
    ]
    users.forEach((user, i) => {
      access(`req-${i}`, 'GET', '/r/:id', 200, 1.25, user)
    })
    // Enough ordinary lines to fill several batches, in order.
    for (let i = 0; i < 500; i++) access(`bulk-${i}`, 'POST', '/bulk', 201, 0.5, null)
    logging.flush()
    const lines = out.lines()
    expect(lines.slice(0, users.length).map((l) => l.user)).toEqual(users)
    expect(lines.slice(users.length).map((l) => l.reqId)).toEqual(
      Array.from({ length: 500 }, (_, i) => `bulk-${i}`),
    )
    expect(lines[0]).toMatchObject({
      level: 30,
      reqId: 'req-0',
      method: 'GET',
      route: '/r/:id',
      status: 200,
      ms: 1.25,
      msg: 'request',
    })
    await fastify.close()
  })
})

describe('the access line', () => {
  it('has the shape of pino’s lines: its fields in pino’s order, each once, and nothing else', () => {
    const out = captured()
    const logging = createServerLogger('info', out)
    logging.access?.('req-1', 'DELETE', '/users/:id', 204, 0.5, '42')
    logging.access?.('req-2', 'GET', '/protected', 401, 12, null)
    logging.flush()
    const [first, second] = out.text().split('\n')
    expect(first).toMatch(
      /^\{"level":30,"time":\d{13},"pid":\d+,"hostname":"[^"]*","reqId":"req-1","method":"DELETE","route":"\/users\/:id","status":204,"ms":0\.5,"user":"42","msg":"request"\}$/,
    )
    expect(JSON.parse(second ?? '')).toMatchObject({ reqId: 'req-2', status: 401, ms: 12, user: null })
    // The time is the time the line was written.
    expect(Math.abs((JSON.parse(first ?? '') as { time: number }).time - Date.now())).toBeLessThan(5_000)
  })
})
