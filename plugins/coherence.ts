import fp from 'fastify-plugin'
import { createCoherence, type Coherence } from '../src/coherence.js'
import { redisOptions } from '../src/redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The coherence channel (src/coherence.ts); only decorated when REDIS_URL is set. */
    coherence: Coherence
  }
}

/**
 * Lets this process serve what it holds (task lists, good tokens' state) without a Redis command per request,
 * while every write through any process is applied here before that write is answered (src/coherence.ts).
 * Without REDIS_URL there is one process: nothing to keep coherent.
 */
export default fp(async (fastify) => {
  const { redis } = fastify.config
  if (redis.url === undefined) return
  const coherence = createCoherence({
    url: redis.url,
    redisOptions: redisOptions(redis),
    keyPrefix: redis.keyPrefix,
    timeoutMs: redis.coherenceTimeoutMs,
    log: fastify.log
  })
  fastify.decorate('coherence', coherence)
  fastify.addHook('onClose', async () => { await coherence.close() })
}, { name: 'coherence', dependencies: ['config'] })
