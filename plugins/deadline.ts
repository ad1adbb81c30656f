import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import type { ErrorResponse } from '../src/schemas/common.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The timer that answers 503 if the request is still unanswered at HANDLER_TIMEOUT_MS. */
    deadline: NodeJS.Timeout | null
  }
}

const TIMED_OUT: ErrorResponse = { statusCode: 503, error: 'Service Unavailable', message: 'Service temporarily unavailable, try again shortly' }

/**
 * A deadline for every request: one not answered within HANDLER_TIMEOUT_MS gets 503.
 * Connect and statement timeouts bound most waits, but a connection that stays open while its peer goes
 * silent (a stalled network, a frozen host) would hold a request forever: postgres.js has no client-side
 * query timeout. The stuck work goes on in the background (a write stays atomic: its transaction commits
 * or not as a whole) and the client gets an answer.
 */
export default fp(async (fastify) => {
  const { handlerTimeoutMs } = fastify.config
  if (handlerTimeoutMs === 0) return
  fastify.decorateRequest('deadline', null)
  // Callback hooks and a request property, not async hooks and a side map: this runs on every request.
  fastify.addHook('onRequest', (request, reply, done) => {
    request.deadline = setTimeout(() => {
      if (reply.sent) return
      request.log.warn({ timeoutMs: handlerTimeoutMs }, 'request not answered in time: 503')
      reply.code(503).header('retry-after', 5).send(TIMED_OUT)
    }, handlerTimeoutMs)
    done()
  })
  const stop = (request: FastifyRequest): void => { if (request.deadline !== null) clearTimeout(request.deadline) }
  fastify.addHook('onResponse', (request, _reply, done) => { stop(request); done() })
  fastify.addHook('onRequestAbort', (request, done) => { stop(request); done() })
}, { name: 'deadline', dependencies: ['config'] })
