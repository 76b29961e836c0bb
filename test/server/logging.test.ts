// The server's logger (logging.ts) in process: the access lines are gathered and handed over in order
// with the other lines, and `request.log` (made lazily) writes lines bound to the request id.
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { createServerLogger, requestRecorder } from '../../packages/server/src/server/logging.js'
import { createMetrics } from '../../packages/server/src/server/metrics.js'

/** A destination that keeps every line written to it, parsed. */
function captured(): { write(chunk: string): void; lines: () => Record<string, unknown>[] } {
  let text = ''
  return {
    write(chunk: string) {
      text += chunk
    },
    lines: () =>
      text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  }
}

async function app(level: 'info' | 'warn') {
  const out = captured()
  const logging = createServerLogger(level, out)
  const fastify = Fastify({
    loggerInstance: logging.logger,
    logController: logging.logController,
    childLoggerFactory: logging.childLoggerFactory,
  })
  const record = requestRecorder(createMetrics(), logging.access)
  fastify.addHook('onResponse', (request, reply, done) => {
    record(request, reply)
    done()
  })
  fastify.get('/quiet', () => ({ ok: true }))
  fastify.get('/noisy', (request) => {
    request.log.warn({ detail: 1 }, 'something to say')
    return { level: request.log.level }
  })
  await fastify.ready()
  return { fastify, out, logging }
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
