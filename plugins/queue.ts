import fp from 'fastify-plugin'
import { createBeeJobQueue, createInProcessJobQueue, type JobQueue } from '../src/jobs/queue.js'
import { scheduleDailyRun, startRelay } from '../src/jobs/relay.js'
import { scheduleDailyTaskLog } from '../src/jobs/schedule.js'

declare module 'fastify' {
  interface FastifyInstance { jobs: JobQueue }
}

/**
 * The job queue. With REDIS_URL it only enqueues into Bee-Queue; the worker process (npm run worker) runs
 * the jobs, the daily schedule and the relay. Without it (embedded default) all three run here, with the
 * same processors.
 */
export default fp(async (fastify) => {
  const { config } = fastify
  if (config.redis.url !== undefined) {
    const jobs = createBeeJobQueue(config, (err) => { fastify.log.warn({ err }, 'job queue error') })
    fastify.decorate('jobs', jobs)
    fastify.addHook('onClose', async () => { await jobs.close() })
    return
  }

  const jobs = createInProcessJobQueue(
    { db: fastify.db, cache: fastify.taskListCache, importBatchSize: config.imports.batchSize },
    config.jobs,
    (err, job) => { fastify.log.error({ err, job: job.name }, 'job failed') }
  )
  const schedule = scheduleDailyTaskLog(
    async (logDate, runAt) => { await scheduleDailyRun(fastify.db, jobs, logDate, runAt) },
    config.dailyTaskLogAt,
    (err) => { fastify.log.error({ err }, 'could not schedule the daily task log') }
  )
  // Picks up imports a previous run of this process accepted but did not finish.
  const relay = startRelay(fastify.db, jobs, config.jobs.relayIntervalMs, (err) => { fastify.log.error({ err }, 'relay failed') })
  fastify.decorate('jobs', jobs)
  fastify.addHook('onClose', async () => {
    schedule.stop()
    await relay.stop()
    await jobs.close()
  })
}, { name: 'queue', dependencies: ['config', 'db', 'cache'] })
