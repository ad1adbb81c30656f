import { setTimeout as sleep } from 'node:timers/promises'
import type { onRequestAsyncHookHandler } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { pingDatabase } from '../../src/db/client.js'
import { ErrorResponse, errorResponses } from '../../src/schemas/common.js'
import { errorBody } from '../../src/errors.js'

const HealthOk = Type.Object({
  status: Type.Literal('ok'),
  latency_ms: Type.Number(),
  backend: Type.String({ description: 'postgres or pglite; redis or memory' })
})
const HealthDown = Type.Object({ status: Type.Literal('error') })
// While the server drains on shutdown, health checks answer 503 in the error shape, so that load balancers
// stop sending it new connections.
const HealthUnavailable = Type.Union([HealthDown, Type.Ref(ErrorResponse)], {
  description: 'The dependency does not answer ({status: "error"}), or the server is shutting down (the error shape)'
})

const api: FastifyPluginAsyncTypebox = async (fastify) => {
  const { config } = fastify
  const healthSchema = (operationId: string, summary: string) => ({
    operationId,
    tags: ['health'],
    summary,
    response: { 200: HealthOk, 503: HealthUnavailable }
  })
  // Answered here, not thrown: the error handler would log it as a dependency outage.
  const outOfRotationWhileDraining: onRequestAsyncHookHandler = async (_request, reply) => {
    if (fastify.draining) await reply.code(503).send(errorBody(503, 'The server is shutting down'))
  }

  // Load balancers poll health checks: they are not rate limited.
  fastify.get('/health/db', { config: { rateLimit: false }, onRequest: outOfRotationWhileDraining, schema: healthSchema('getDatabaseHealth', 'Database reachability') },
    async (request, reply) => {
      try {
        // A database that takes longer than a connection may take is down, as far as health goes: this
        // also bounds the check when a connection stays open but goes silent.
        const latency = await Promise.race([
          pingDatabase(fastify.db),
          sleep(config.db.connectTimeoutS * 1000, undefined, { ref: false }).then(() => { throw new Error('database ping timed out') })
        ])
        return { status: 'ok' as const, latency_ms: latency, backend: fastify.dbKind }
      } catch (err) {
        request.log.warn({ err }, 'database health check failed')
        return await reply.code(503).send({ status: 'error' as const })
      }
    })

  fastify.get('/health/redis', { config: { rateLimit: false }, onRequest: outOfRotationWhileDraining, schema: healthSchema('getRedisHealth', 'Redis reachability') },
    async (request, reply) => {
      if (config.redis.url === undefined) return { status: 'ok' as const, latency_ms: 0, backend: 'memory' }
      try {
        const started = performance.now()
        await fastify.redis.ping()
        return { status: 'ok' as const, latency_ms: Math.round((performance.now() - started) * 100) / 100, backend: 'redis' }
      } catch (err) {
        // The redis plugin logs the outage once; a failed check every few seconds would only repeat it.
        request.log.debug({ err }, 'redis health check failed')
        return await reply.code(503).send({ status: 'error' as const })
      }
    })

  fastify.get('/check-limiter', {
    config: { rateLimit: config.rateLimit.checkLimiter },
    schema: {
      operationId: 'checkLimiter',
      tags: ['health'],
      summary: 'Shows the rate limit this client is under',
      response: {
        200: Type.Object({ status: Type.Literal('ok'), client_ip: Type.String(), limit: Type.Integer(), remaining: Type.Integer() }),
        ...errorResponses(429, 503)
      }
    }
  }, async (request, reply) => ({
    status: 'ok' as const,
    client_ip: request.ip,
    limit: Number(reply.getHeader('x-ratelimit-limit') ?? config.rateLimit.checkLimiter.max),
    remaining: Number(reply.getHeader('x-ratelimit-remaining') ?? config.rateLimit.checkLimiter.max)
  }))
}

export default api
