import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import { createFallbackStore } from '../src/rate-limit/store.js'

/** Per user when the request is authenticated (auth hooks run first), per client IP otherwise. */
function clientKey (request: FastifyRequest): string {
  return request.actor !== null ? `user:${request.actor.id}` : `ip:${request.ip}`
}

/**
 * Rate limits, counted in Redis when REDIS_URL is set so every API process shares one count.
 * Routes override the global rule with `config.rateLimit`. When Redis fails, the limits fail open
 * (or closed, with RATE_LIMIT_FAIL_OPEN=false: the error handler turns the store's error into 503),
 * except login's brute-force limits, which go on counting in this process (src/rate-limit/store.ts).
 */
export default fp(async (fastify) => {
  const { config } = fastify
  await fastify.register(rateLimit, {
    global: true,
    max: config.rateLimit.global.max,
    timeWindow: config.rateLimit.global.windowMs,
    keyGenerator: clientKey,
    skipOnError: config.rateLimit.failOpen,
    ...(config.redis.url !== undefined && {
      store: createFallbackStore(fastify.redis, fastify.log) as never
    })
  })
}, { name: 'limiter', dependencies: ['config', 'redis', 'auth'] })
