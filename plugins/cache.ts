import fp from 'fastify-plugin'
import { createMemoryTaskListCache, createRedisTaskListCache, type TaskListCache } from '../src/cache/task-list-cache.js'
import { createResilientTaskListCache } from '../src/cache/resilient-task-list-cache.js'

declare module 'fastify' {
  interface FastifyInstance { taskListCache: TaskListCache }
}

/**
 * The cache of task lists by date: shared in Redis when REDIS_URL is set (with up to CACHE_LOCAL_MAX_BYTES
 * of them also held in this process, served without asking Redis while the coherence channel says no write
 * changed them: src/coherence.ts), in this process otherwise.
 * A Redis outage never fails a request: reads fall back to PostgreSQL and missed invalidations are
 * made good by a purge once Redis is back (src/cache/resilient-task-list-cache.ts).
 */
export default fp(async (fastify) => {
  const { config } = fastify
  if (config.redis.url === undefined) {
    fastify.decorate('taskListCache', createMemoryTaskListCache(config.cacheTtlS))
    return
  }
  const shared = createRedisTaskListCache(fastify.redis, config.cacheTtlS, {
    localMaxBytes: config.cacheLocalMaxBytes,
    coherence: fastify.coherence
  })
  const cache = createResilientTaskListCache(shared, fastify.redis, fastify.log)
  fastify.addHook('onClose', async () => { cache.close() })
  fastify.decorate('taskListCache', cache)
}, { name: 'cache', dependencies: ['config', 'redis', 'coherence'] })
