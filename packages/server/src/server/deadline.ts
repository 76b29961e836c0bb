/**
 * The request deadline: whatever the database (or anything else) does, a request answers within the
 * configured bound (`TESSERA_DATABASE_TIMEOUT`). A request still running then answers
 * `503 service_unavailable` with `Retry-After`, and whatever its handler does later is dropped.
 *
 * The statement, connection and lock timeouts of the database (database.ts) end the waits themselves;
 * this is the bound on the sum of them. A change whose handler is cut off may still commit: every
 * change is one transaction, so it commits entirely or not at all, and retrying is safe (a second
 * logout, a second login session).
 */
import type { FastifyInstance, FastifyReply } from 'fastify'

const BODY = JSON.stringify({
  error: 'service_unavailable',
  message: 'The request did not complete in time; retry shortly',
})

/** Installs the deadline of `ms` milliseconds on every route of `app`. */
export function requestDeadline(
  app: FastifyInstance,
  ms: number,
  onTimeout: (reply: FastifyReply) => void = () => undefined,
): void {
  const timers = new WeakMap<object, NodeJS.Timeout>()
  app.addHook('onRequest', (request, reply, done) => {
    const timer = setTimeout(() => {
      if (reply.sent || reply.raw.headersSent) return
      onTimeout(reply)
      // Take the reply over: Fastify then ignores the handler's late result or error.
      reply.hijack()
      reply.raw.writeHead(503, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(BODY),
        'retry-after': '5',
        'cache-control': 'no-store',
      })
      reply.raw.end(BODY)
    }, ms)
    timer.unref()
    timers.set(request.raw, timer)
    done()
  })
  const clear = (request: { raw: object }): void => {
    clearTimeout(timers.get(request.raw))
  }
  app.addHook('onResponse', (request, _reply, done) => {
    clear(request)
    done()
  })
  app.addHook('onRequestAbort', (request, done) => {
    clear(request)
    done()
  })
}
