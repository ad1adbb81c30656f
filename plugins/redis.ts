import fp from 'fastify-plugin'
import fastifyRedis from '@fastify/redis'
import { Redis } from 'ioredis'
import { redisOptions } from '../src/redis.js'

/**
 * Connects to Redis at REDIS_URL (decorating `fastify.redis`). Without REDIS_URL nothing is registered:
 * the cache, limiter and queue plugins then use their in-process stand-ins.
 */
export default fp(async (fastify) => {
  const { redis } = fastify.config
  if (redis.url === undefined) return
  // Auto-pipelining: the commands of every request handled in one event-loop turn (the limiter's count, the
  // cache's generation check) leave in one socket write. A write per command was the largest cost of a
  // cached read in the profile (bench/README.md).
  const client = new Redis(redis.url, { ...redisOptions(redis), lazyConnect: true, enableAutoPipelining: true })
  client.on('error', (err) => { fastify.log.warn({ err }, 'redis connection error') })
  await client.connect()
  await fastify.register(fastifyRedis, { client, closeClient: false })
  // QUIT needs a live connection; when Redis is gone, shutting down must still succeed.
  fastify.addHook('onClose', async () => {
    await client.quit().catch(() => { client.disconnect() })
  })
}, { name: 'redis', dependencies: ['config'] })
