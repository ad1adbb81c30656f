import fp from 'fastify-plugin'
import type { ErrorResponse } from '../src/schemas/common.js'

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
  const timers = new WeakMap<object, NodeJS.Timeout>()
  fastify.addHook('onRequest', async (request, reply) => {
    timers.set(request, setTimeout(() => {
      if (reply.sent) return
      request.log.warn({ timeoutMs: handlerTimeoutMs }, 'request not answered in time: 503')
      reply.code(503).header('retry-after', 5).send(TIMED_OUT)
    }, handlerTimeoutMs))
  })
  const clear = async (request: object): Promise<void> => { clearTimeout(timers.get(request)) }
  fastify.addHook('onResponse', clear)
  fastify.addHook('onRequestAbort', clear)
}, { name: 'deadline', dependencies: ['config'] })
