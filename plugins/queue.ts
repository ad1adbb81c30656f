import fp from 'fastify-plugin'
import { createBeeJobQueue, createInProcessJobQueue, type JobQueue } from '../src/jobs/queue.js'
import { scheduleDailyTaskLog } from '../src/jobs/schedule.js'

declare module 'fastify' {
  interface FastifyInstance { jobs: JobQueue }
}

/**
 * The job queue. With REDIS_URL it only enqueues into Bee-Queue and the worker process (npm run worker)
 * runs the jobs and the daily schedule. Without it (embedded default) jobs and the schedule run here.
 */
export default fp(async (fastify) => {
  const { config } = fastify
  if (config.redis.url !== undefined) {
    const jobs = createBeeJobQueue(config)
    fastify.decorate('jobs', jobs)
    fastify.addHook('onClose', async () => { await jobs.close() })
    return
  }

  const jobs = createInProcessJobQueue({ db: fastify.db }, (err, job) => { fastify.log.error({ err, job: job.name }, 'job failed') })
  const schedule = scheduleDailyTaskLog(
    async (logDate, runAt) => { await jobs.enqueue('daily-task-log', { logDate }, { jobId: `daily-task-log:${logDate}`, runAt }) },
    config.dailyTaskLogAt,
    (err) => { fastify.log.error({ err }, 'could not schedule the daily task log') }
  )
  fastify.decorate('jobs', jobs)
  fastify.addHook('onClose', async () => {
    schedule.stop()
    await jobs.close()
  })
}, { name: 'queue', dependencies: ['config', 'db'] })
