import type { Redis, Result } from 'ioredis'

type Callback = (error: Error | null, result?: { current: number, ttl: number }) => void

export interface StoreLogger {
  warn: (obj: object, msg: string) => void
  info: (msg: string) => void
}

// INCR, and start the window on the first hit: the same algorithm as @fastify/rate-limit's RedisStore.
const INCREMENT = `
local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if current == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    rateLimitIncrement: (key: string, windowMs: number) => Result<[number, number], Context>
  }
}

/** A fixed-window counter in this process: bounded, oldest keys dropped first. */
export class MemoryCounter {
  private readonly windows = new Map<string, { count: number, resetAt: number }>()
  constructor (private readonly maxKeys = 10_000) {}

  increment (key: string, windowMs: number, now = Date.now()): { current: number, ttl: number } {
    let entry = this.windows.get(key)
    if (entry === undefined || entry.resetAt <= now) {
      this.windows.delete(key)
      if (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value as string)
      entry = { count: 0, resetAt: now + windowMs }
      this.windows.set(key, entry)
    }
    entry.count++
    return { current: entry.count, ttl: entry.resetAt - now }
  }
}

/** Which keys keep being counted in this process while Redis is away (the login brute-force guard). */
export const countsLocallyWithoutRedis = (key: string): boolean => key.startsWith('login:')

interface SharedState { redis: Redis, log: StoreLogger, degraded: boolean, local: MemoryCounter }

/**
 * A @fastify/rate-limit store counting in Redis, shared by every API process. When Redis fails:
 * - login keys (`login:...`) are counted in this process instead, so brute force stays limited;
 * - any other key reports the error, and the plugin's skipOnError (RATE_LIMIT_FAIL_OPEN) decides:
 *   serve the request (fail open) or refuse it (fail closed, 503 through the error handler).
 * The outage is logged once, and its end once.
 */
export function createFallbackStore (redis: Redis, log: StoreLogger): new (options: object) => object {
  if (typeof redis.rateLimitIncrement !== 'function') {
    redis.defineCommand('rateLimitIncrement', { numberOfKeys: 1, lua: INCREMENT })
  }
  const shared: SharedState = { redis, log, degraded: false, local: new MemoryCounter() }

  class FallbackStore {
    constructor (_options: object, private readonly namespace = 'rate-limit:') {}

    incr (key: string, callback: Callback, timeWindow: number): void {
      const fullKey = this.namespace + key
      shared.redis.rateLimitIncrement(fullKey, timeWindow).then(([current, ttl]) => {
        if (shared.degraded) {
          shared.degraded = false
          shared.log.info('rate limits are counted in Redis again')
        }
        callback(null, { current, ttl })
      }, (error: Error) => {
        if (!shared.degraded) {
          shared.degraded = true
          shared.log.warn({ err: error }, 'rate limit store unavailable: login counted in-process, other limits per RATE_LIMIT_FAIL_OPEN')
        }
        if (countsLocallyWithoutRedis(key)) callback(null, shared.local.increment(fullKey, timeWindow))
        else callback(error)
      })
    }

    child (routeOptions: { routeInfo?: { method?: string, url?: string } }): FallbackStore {
      const route = routeOptions.routeInfo?.url !== undefined ? `${routeOptions.routeInfo.method ?? ''}${routeOptions.routeInfo.url}-` : ''
      return new FallbackStore({}, `${this.namespace}${route}`)
    }
  }
  return FallbackStore
}
