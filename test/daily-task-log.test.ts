import t from 'tap'
import { eq } from 'drizzle-orm'
import BeeQueue from 'bee-queue'
import { taskLogger } from '../src/db/schema.js'
import { snapshotActiveTasks } from '../src/jobs/daily-task-log.js'
import { beeQueueSettings, createBeeJobQueue, runJob, type Job } from '../src/jobs/queue.js'
import { nextDailyRun } from '../src/jobs/schedule.js'
import { buildFromConfig, signUp, testConfig } from './helper.js'

const config = await testConfig(t, { RATE_LIMIT_MAX: '10000' })
const app = await buildFromConfig(t, config)
const alice = await signUp(app, 'alice')
for (const name of ['one', 'two', 'three']) {
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: name, date: '2025-04-06' } })
}
const gone = (await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'gone' } })).json().task
await app.inject({ method: 'DELETE', url: `/tasks/delete/${gone.id}`, headers: alice.auth })

const deps = { db: app.db, cache: app.taskListCache, importBatchSize: 500 }
const rowsFor = async (day: string) => await app.db.select().from(taskLogger).where(eq(taskLogger.logDate, day))

await t.test('the snapshot records one row per active task, and running it again adds nothing', async (t) => {
  t.equal(await snapshotActiveTasks(app.db, '2025-09-01'), 3)
  t.equal(await snapshotActiveTasks(app.db, '2025-09-01'), 0)
  const rows = await rowsFor('2025-09-01')
  t.same(rows.map((r) => r.taskName).sort(), ['one', 'three', 'two'])
  t.ok(rows.every((r) => r.taskDate === '2025-04-06' && r.assignedUser === alice.id))
})

await t.test('two workers running the same day at once still record each task once', async (t) => {
  const results = await Promise.all([
    runJob({ name: 'daily-task-log', data: { logDate: '2025-09-02' } }, deps),
    runJob({ name: 'daily-task-log', data: { logDate: '2025-09-02' } }, deps)
  ])
  t.equal(results.reduce((sum: number, r) => sum + (r as { inserted: number }).inserted, 0), 3)
  t.equal((await rowsFor('2025-09-02')).length, 3)
})

await t.test('through Bee-Queue: the same day enqueued twice runs once on the worker', async (t) => {
  const producer = createBeeJobQueue(config, (err) => { t.error(err) })
  await producer.enqueue('daily-task-log', { logDate: '2025-09-03' }, { jobId: 'daily-task-log:2025-09-03' })
  await producer.enqueue('daily-task-log', { logDate: '2025-09-03' }, { jobId: 'daily-task-log:2025-09-03' })
  await producer.close()

  const worker = new BeeQueue<Job>(config.queueName, beeQueueSettings(config, true))
  t.teardown(async () => { await worker.close(2000) })
  let runs = 0
  const done = new Promise<void>((resolve) => {
    worker.process(async (job: BeeQueue.Job<Job>) => {
      runs++
      try {
        return await runJob(job.data, deps)
      } finally {
        resolve()
      }
    })
  })
  await done
  const counts = await worker.checkHealth()
  t.equal(runs, 1)
  t.equal(counts.waiting, 0, 'no duplicate waiting')
  t.equal((await rowsFor('2025-09-03')).length, 3)
})

t.test('the next daily run is today at the configured UTC time, or tomorrow once it has passed', async (t) => {
  const at = { hour: 0, minute: 5 }
  t.equal(nextDailyRun(new Date('2025-04-06T00:00:00Z'), at).toISOString(), '2025-04-06T00:05:00.000Z')
  t.equal(nextDailyRun(new Date('2025-04-06T00:05:00Z'), at).toISOString(), '2025-04-06T00:05:00.000Z')
  t.equal(nextDailyRun(new Date('2025-04-06T13:00:00Z'), at).toISOString(), '2025-04-07T00:05:00.000Z')
  t.equal(nextDailyRun(new Date('2025-12-31T23:59:00Z'), at).toISOString(), '2026-01-01T00:05:00.000Z')
  t.end()
})
