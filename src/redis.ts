import type { Redis, RedisOptions } from 'ioredis'
import type { Config } from './config.js'

/** ioredis settings shared by the API and the worker: bounded waits, no queue of commands piling up offline. */
export function redisOptions (config: Config['redis']): RedisOptions {
  return {
    keyPrefix: config.keyPrefix,
    commandTimeout: config.commandTimeoutMs,
    // Connecting (TCP, then the ready check) may take longer than one command on a busy host.
    connectTimeout: Math.max(config.commandTimeoutMs, 10_000),
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000)
  }
}

/**
 * The keys matching `pattern`, a batch at a time (SCAN, which never blocks Redis as KEYS does). SCAN ignores
 * ioredis' keyPrefix: the pattern and the keys it yields are the raw ones.
 */
export async function * scanKeys (redis: Redis, pattern: string): AsyncGenerator<string[]> {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    if (keys.length > 0) yield keys
    cursor = next
  } while (cursor !== '0')
}
