import fp from 'fastify-plugin'
import type { FastifyReply } from 'fastify'
import type { ErrorResponse } from '../src/schemas/common.js'

declare module 'fastify' {
  interface FastifyReply {
    /** When this request is answered 503 if it is still unanswered (ms since the epoch); 0 when not in flight. */
    deadlineAt: number
    /** Neighbours in the list of requests in flight, oldest first. */
    deadlinePrevious: FastifyReply | null
    deadlineNext: FastifyReply | null
  }
}

const TIMED_OUT: ErrorResponse = { statusCode: 503, error: 'Service Unavailable', message: 'Service temporarily unavailable, try again shortly' }

/**
 * A deadline for every request: one not answered within HANDLER_TIMEOUT_MS gets 503.
 * Connect and statement timeouts bound most waits, but a connection that stays open while its peer goes
 * silent (a stalled network, a frozen host) would hold a request forever: postgres.js has no client-side
 * query timeout. The stuck work goes on in the background (a write stays atomic: its transaction commits
 * or not as a whole) and the client gets an answer.
 *
 * Every request has the same allowance, so the requests in flight, kept in arrival order, are in deadline
 * order too: a sweep a few times per allowance answers the overdue ones from the head of the list. A list
 * threaded through the replies costs a request two links, where a timer each (set, then cleared) cost ~5%
 * of a cached read's CPU in the profile (bench/README.md). A request may run up to one sweep interval late.
 */
export default fp(async (fastify) => {
  const { handlerTimeoutMs } = fastify.config
  if (handlerTimeoutMs === 0) return
  fastify.decorateReply('deadlineAt', 0)
  fastify.decorateReply('deadlinePrevious', null)
  fastify.decorateReply('deadlineNext', null)
  let oldest: FastifyReply | null = null
  let newest: FastifyReply | null = null

  function unlink (reply: FastifyReply): void {
    if (reply.deadlineAt === 0) return
    reply.deadlineAt = 0
    const { deadlinePrevious: previous, deadlineNext: next } = reply
    if (previous === null) oldest = next
    else previous.deadlineNext = next
    if (next === null) newest = previous
    else next.deadlinePrevious = previous
    reply.deadlinePrevious = null
    reply.deadlineNext = null
  }

  fastify.addHook('onRequest', (_request, reply, done) => {
    reply.deadlineAt = Date.now() + handlerTimeoutMs
    reply.deadlinePrevious = newest
    if (newest === null) oldest = reply
    else newest.deadlineNext = reply
    newest = reply
    done()
  })
  // Answered once its answer starts: onSend, which every response already passes through (src/shutdown.ts), so
  // no request runs the onResponse hook chain for this. One that never reaches it (hijacked, or its client gone)
  // leaves the list at its deadline, unanswered.
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    unlink(reply)
    done(null, payload)
  })

  const sweep = setInterval(() => {
    const now = Date.now()
    while (oldest !== null && oldest.deadlineAt <= now) {
      const overdue = oldest
      unlink(overdue)
      // A request answered without onSend, or whose client gave up, leaves the list here, unanswered.
      const socket = overdue.raw.socket
      if (overdue.sent || socket === null || socket.destroyed) continue
      overdue.request.log.warn({ timeoutMs: handlerTimeoutMs }, 'request not answered in time: 503')
      overdue.code(503).header('retry-after', 5).send(TIMED_OUT)
    }
  }, Math.min(1000, Math.max(10, Math.floor(handlerTimeoutMs / 10))))
  sweep.unref()
  fastify.addHook('onClose', async () => { clearInterval(sweep) })
}, { name: 'deadline', dependencies: ['config'] })
