import BeeQueue from 'bee-queue'
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { createRedisTaskListCache } from '../cache/task-list-cache.js'
import { createCoherence } from '../coherence.js'
import { ConfigError, type Config } from '../config.js'
import { openDatabase } from '../db/client.js'
import { redisOptions } from '../redis.js'
import { beeQueueSettings, createBeeJobQueue, keepScriptsLoaded, runJob, type Job } from './queue.js'
import { scheduleDailyRun, startRelay } from './relay.js'
import { scheduleDailyTaskLog } from './schedule.js'

export interface RunningWorker {
  /** Stops taking jobs, waits up to `graceMs` for the jobs in hand, then closes every connection. */
  close: (graceMs?: number) => Promise<void>
}

/**
 * The Bee-Queue worker: runs the jobs the API enqueues, hands on the jobs of workers that died (stall
 * detection), keeps the daily task log scheduled and relays work PostgreSQL holds but Redis lost.
 */
export async function startWorker (config: Config, log: Logger): Promise<RunningWorker> {
  if (config.redis.url === undefined) {
    throw new ConfigError('The worker needs REDIS_URL; without it the API runs jobs in its own process.')
  }
  const database = await openDatabase(config.db)
  await database.migrate()
  const redis = new Redis(config.redis.url, redisOptions(config.redis))
  redis.on('error', (err) => { log.warn({ err }, 'redis connection error') })
  // An import's tasks are in every API process's lists once its batch is committed: its invalidations wait for
  // every API process to apply them. The worker serves nothing, so it is no member: no write waits for it.
  const coherence = createCoherence({
    url: config.redis.url,
    redisOptions: redisOptions(config.redis),
    keyPrefix: config.redis.keyPrefix,
    timeoutMs: config.redis.coherenceTimeoutMs,
    log,
    member: false
  })
  const cache = createRedisTaskListCache(redis, config.cacheTtlS, { coherence })
  const deps = { db: database.db, cache, importBatchSize: config.imports.batchSize }
  const onQueueError = (err: unknown): void => { log.warn({ err }, 'queue error') }

  const queue = new BeeQueue<Job>(config.queueName, beeQueueSettings(config, true))
  queue.on('error', onQueueError)
  keepScriptsLoaded(queue, onQueueError)
  queue.on('retrying', (job, err) => { log.warn({ err, job: job.data.name, id: job.id, retriesLeft: job.options.retries }, 'job failed, will retry') })
  queue.on('failed', (job, err) => { if (job.status === 'failed') log.error({ err, job: job.data.name, id: job.id }, 'job failed for good') })
  queue.on('stalled', (id) => { log.warn({ id }, 'job stalled (its worker stopped): retrying it') })
  queue.process(config.jobs.concurrency, async (job: BeeQueue.Job<Job>) => {
    // Bee-Queue counts retries down; at 0 this attempt is the last.
    const lastAttempt = Number(job.options.retries ?? 0) <= 0
    log.info({ job: job.data.name, id: job.id, lastAttempt }, 'job started')
    const result = await runJob(job.data, deps, { lastAttempt })
    log.info({ job: job.data.name, id: job.id, result }, 'job done')
    return result
  })
  // Jobs of a killed worker stay "active" until some worker notices they stopped renewing their lock.
  // No callback: with one, Bee-Queue leaves a failed check (NOSCRIPT after a Redis restart) as an unhandled
  // rejection, which would end the process. Without, later failures arrive as 'error' events.
  queue.checkStalledJobs(config.jobs.stallIntervalMs).catch(onQueueError)

  const producer = createBeeJobQueue(config, onQueueError)
  const schedule = scheduleDailyTaskLog(
    async (logDate, runAt) => { await scheduleDailyRun(database.db, producer, logDate, runAt) },
    config.dailyTaskLogAt,
    (err) => { log.error({ err }, 'could not schedule the daily task log (the relay will enqueue it)') }
  )
  const relay = startRelay(database.db, producer, config.jobs.relayIntervalMs, (err) => { log.warn({ err }, 'relay pass failed') })
  log.info({ queue: config.queueName, dailyTaskLogAt: config.dailyTaskLogAt, concurrency: config.jobs.concurrency }, 'worker ready')

  return {
    async close (graceMs = 25_000) {
      schedule.stop()
      await relay.stop()
      // A job still running after graceMs is left active: stall detection hands it to another worker,
      // and its checkpoint makes the retry resume where it stopped.
      await queue.close(graceMs).catch((err: unknown) => { log.warn({ err }, 'jobs still running at shutdown: left to stall detection') })
      await producer.close()
      await coherence.close()
      await redis.quit().catch(() => { redis.disconnect() })
      await database.close()
    }
  }
}
