/**
 * The request deadline: whatever the database (or anything else) does, a request answers within the
 * configured bound (`TESSERA_DATABASE_TIMEOUT`). A request still running then answers
 * `503 service_unavailable` with `Retry-After`, and whatever its handler does later is dropped.
 *
 * The statement, connection and lock timeouts of the database (database.ts) end the waits themselves;
 * this is the bound on the sum of them. A change whose handler is cut off may still commit: every
 * change is one transaction, so it commits entirely or not at all, and retrying is safe (a second
 * logout, a second login session).
 *
 * One timer for all requests, not one per request: requests start in order and share one bound, so a
 * list of the requests in flight, appended at the end, is also ordered by deadline, and a sweep every
 * `ms / 10` (10–250 ms) stops at the first request still in time. The list runs through the replies
 * themselves (two links and the deadline, under symbols): a request costs an append and an unlink —
 * no timer to allocate, arm and cancel, no map to hash the reply into. It answers 503 between `ms` and
 * `ms + tick` after it began.
 */
import { performance } from 'node:perf_hooks'
import type { FastifyReply } from 'fastify'
import type { ErrorResponse } from 'tessera/fastify'
import { ServiceError } from './errors.js'

/** The deadlines of one server's requests. */
export interface Deadlines {
  /** The request `reply` answers has begun: its deadline runs from now. */
  start(reply: FastifyReply): void
  /** The request answered: its deadline no longer applies. */
  finish(reply: FastifyReply): void
  /** Stops the sweep (the server closes). */
  stop(): void
}

/** How a request that ran out of time is answered. */
export interface DeadlineOptions {
  /** The server's error mapper (error-response.ts): the 503 is its answer to `service_unavailable`. */
  answer(error: ServiceError): ErrorResponse
  /** Told about each request answered by the deadline (log, metrics), before the answer is written. */
  onExpired?(reply: FastifyReply): void
  /** Whether the answer asks the client to close its connection (the instance is draining). */
  closeConnection?(): boolean
}

const PREVIOUS = Symbol('tessera.deadline.previous')
const NEXT = Symbol('tessera.deadline.next')
const DEADLINE = Symbol('tessera.deadline.at')

/** A reply while its request is in flight: a link of the deadline list. */
type InFlight = FastifyReply & {
  [PREVIOUS]: InFlight | undefined
  [NEXT]: InFlight | undefined
  /** `performance.now()` at which the request runs out of time; 0 once it left the list. */
  [DEADLINE]: number
}

/** Seconds a client is asked to wait before retrying a request the deadline cut off. */
const RETRY_AFTER = 5

/**
 * Deadlines of `ms` milliseconds. A request that runs out of time while nothing was sent and its
 * connection is open is taken over (Fastify then ignores the handler's late result or error) and
 * answered `503 service_unavailable` through the server's error mapper.
 */
export function createDeadlines(ms: number, options: DeadlineOptions): Deadlines {
  const expire = (reply: FastifyReply): void => {
    options.onExpired?.(reply)
    const answer = options.answer(
      new ServiceError('service_unavailable', 'The request did not complete in time; retry shortly', {
        retryAfter: RETRY_AFTER,
      }),
    )
    const body = JSON.stringify(answer.body)
    reply.raw.writeHead(answer.status, {
      ...answer.headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      ...(options.closeConnection?.() === true ? { connection: 'close' } : {}),
    })
    reply.raw.end(body)
  }
  // The requests in flight, oldest first.
  let head: InFlight | undefined
  let tail: InFlight | undefined
  const unlink = (reply: InFlight): void => {
    const before = reply[PREVIOUS]
    const after = reply[NEXT]
    if (before === undefined) head = after
    else before[NEXT] = after
    if (after === undefined) tail = before
    else after[PREVIOUS] = before
    reply[PREVIOUS] = undefined
    reply[NEXT] = undefined
    reply[DEADLINE] = 0
  }
  const tick = Math.min(250, Math.max(10, Math.round(ms / 10)))
  const sweep = (): void => {
    const now = performance.now()
    while (head !== undefined && head[DEADLINE] <= now) {
      const reply = head
      unlink(reply)
      // Answered meanwhile (a hijacked reply never reaches `finish`), or the client went away.
      if (reply.sent || reply.raw.headersSent || reply.raw.destroyed) continue
      reply.hijack()
      expire(reply)
    }
  }
  // Armed by the first request: deadlines made for a server that never serves (its build failed) hold
  // no timer.
  let timer: NodeJS.Timeout | undefined
  return {
    start(reply) {
      if (timer === undefined) {
        timer = setInterval(sweep, tick)
        timer.unref()
      }
      const entry = reply as InFlight
      entry[DEADLINE] = performance.now() + ms
      entry[PREVIOUS] = tail
      entry[NEXT] = undefined
      if (tail === undefined) head = entry
      else tail[NEXT] = entry
      tail = entry
    },
    finish(reply) {
      const entry = reply as InFlight
      if (entry[DEADLINE] > 0) unlink(entry)
    },
    stop() {
      clearInterval(timer)
      timer = undefined
      while (head !== undefined) unlink(head)
    },
  }
}
