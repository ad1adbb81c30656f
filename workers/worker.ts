import BeeQueue from 'bee-queue'
import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { ConfigError, loadConfig } from '../src/config.js'
import { openDatabase } from '../src/db/client.js'
import { beeQueueSettings, createBeeJobQueue, runJob, type Job } from '../src/jobs/queue.js'
import { scheduleDailyTaskLog } from '../src/jobs/schedule.js'

/** The Bee-Queue worker: runs the jobs the API enqueues and keeps the daily task log scheduled. */
async function main (): Promise<void> {
  const config = loadConfig()
  const log = pino({ level: config.logLevel, name: 'worker' })
  if (config.redis.url === undefined) {
    throw new ConfigError('The worker needs REDIS_URL; without it the API runs jobs in its own process.')
  }
  const database = await openDatabase(config.db)
  await database.migrate()

  const queue = new BeeQueue<Job>(config.queueName, beeQueueSettings(config, true))
  queue.on('error', (err) => { log.error({ err }, 'queue error') })
  queue.on('failed', (job, err) => { log.warn({ err, job: job.data.name, id: job.id }, 'job failed') })
  queue.process(2, async (job: BeeQueue.Job<Job>) => {
    const result = await runJob(job.data, { db: database.db })
    log.info({ job: job.data.name, id: job.id, result }, 'job done')
    return result
  })

  const producer = createBeeJobQueue(config)
  const schedule = scheduleDailyTaskLog(
    async (logDate, runAt) => {
      await producer.enqueue('daily-task-log', { logDate }, { jobId: `daily-task-log:${logDate}`, runAt })
    },
    config.dailyTaskLogAt,
    (err) => { log.error({ err }, 'could not schedule the daily task log') }
  )
  log.info({ queue: config.queueName, dailyTaskLogAt: config.dailyTaskLogAt }, 'worker ready')

  closeWithGrace({ delay: 30_000 }, async ({ signal, err }) => {
    if (err !== undefined) log.error({ err }, 'closing after an error')
    else log.info({ signal }, 'shutting down: finishing the jobs in hand')
    schedule.stop()
    await producer.close()
    await queue.close(25_000)
    await database.close()
  })
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error)
  process.exit(1)
})
