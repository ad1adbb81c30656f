import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'

/** Per user when the request is authenticated (auth hooks run first), per client IP otherwise. */
function clientKey (request: FastifyRequest): string {
  return request.actor !== null ? `user:${request.actor.id}` : `ip:${request.ip}`
}

/**
 * Rate limits, counted in Redis when REDIS_URL is set so every API process shares one count.
 * Routes override the global rule with `config.rateLimit`. Without Redis the limits fail open
 * (or closed, with RATE_LIMIT_FAIL_OPEN=false: the error handler turns the store's error into 503).
 */
export default fp(async (fastify) => {
  const { config } = fastify
  await fastify.register(rateLimit, {
    global: true,
    max: config.rateLimit.global.max,
    timeWindow: config.rateLimit.global.windowMs,
    keyGenerator: clientKey,
    nameSpace: 'rate-limit:',
    skipOnError: config.rateLimit.failOpen,
    ...(config.redis.url !== undefined && { redis: fastify.redis })
  })
}, { name: 'limiter', dependencies: ['config', 'redis', 'auth'] })
