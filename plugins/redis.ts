import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { redisOptions } from '../src/redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The shared Redis client; only decorated when REDIS_URL is set. Commands fail fast while it is disconnected. */
    redis: Redis
  }
}

const WATCHDOG_INTERVAL_MS = 1000

/**
 * Connects to Redis at REDIS_URL (decorating `fastify.redis`). Without REDIS_URL nothing is registered:
 * the cache, limiter and queue plugins then use their in-process stand-ins.
 *
 * Start-up does not wait for Redis: an API whose cache is down still serves from PostgreSQL, so a Redis
 * outage at boot must not keep it from starting. ioredis reconnects by itself (retryStrategy never gives
 * up) and, with the offline queue off, every command issued meanwhile fails at once instead of piling up.
 */
export default fp(async (fastify) => {
  const { redis } = fastify.config
  if (redis.url === undefined) return
  // Auto-pipelining: the commands of every request handled in one event-loop turn (the limiter's count, the
  // token check, the cache's generation check) leave in one socket write. A write per command was the largest
  // cost of a cached read in the profile (bench/README.md).
  const client = new Redis(redis.url, { ...redisOptions(redis), enableAutoPipelining: true })
  // One line per outage, not one per reconnection attempt.
  let down = false
  client.on('error', (err) => {
    if (!down) fastify.log.warn({ err }, 'redis unavailable; serving without it until it is back')
    down = true
  })
  client.on('ready', () => {
    if (down) fastify.log.info('redis is back')
    down = false
  })
  // A connection that stays open but goes silent (a stalled host, dropped packets) is never closed by
  // ioredis: every command would wait its full timeout. A ping each second finds it, and dropping the
  // connection makes every command fail fast while ioredis reconnects by itself.
  let pinging = false
  const watchdog = setInterval(() => {
    if (pinging || client.status !== 'ready') return
    pinging = true
    client.ping().catch((err: Error) => {
      if (/timed out/i.test(err.message)) {
        fastify.log.warn({ err }, 'redis stopped answering; reconnecting')
        client.disconnect(true)
      }
    }).finally(() => { pinging = false })
  }, WATCHDOG_INTERVAL_MS)
  watchdog.unref()
  fastify.decorate('redis', client)
  // QUIT needs a live connection; when Redis is gone, shutting down must still succeed.
  fastify.addHook('onClose', async () => {
    clearInterval(watchdog)
    if (client.status === 'ready') await client.quit().catch(() => { client.disconnect() })
    else client.disconnect()
  })
}, { name: 'redis', dependencies: ['config'] })
