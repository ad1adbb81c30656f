import fp from 'fastify-plugin'
import { createMemoryTaskListCache, createRedisTaskListCache, type TaskListCache } from '../src/cache/task-list-cache.js'

declare module 'fastify' {
  interface FastifyInstance { taskListCache: TaskListCache }
}

/**
 * The cache of task lists by date: shared in Redis when REDIS_URL is set (with up to CACHE_LOCAL_MAX_BYTES
 * of them also held in this process, checked against Redis on every read), in this process otherwise.
 */
export default fp(async (fastify) => {
  const { config } = fastify
  const cache = config.redis.url !== undefined
    ? createRedisTaskListCache(fastify.redis, config.cacheTtlS, { localMaxBytes: config.cacheLocalMaxBytes })
    : createMemoryTaskListCache(config.cacheTtlS)
  fastify.decorate('taskListCache', cache)
}, { name: 'cache', dependencies: ['config', 'redis'] })
