import type { RedisOptions } from 'ioredis'
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
