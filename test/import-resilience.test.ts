import t from 'tap'
import { eq, sql } from 'drizzle-orm'
import { Redis } from 'ioredis'
import { dailyTaskLogRuns, taskAudit, taskImports, tasks } from '../src/db/schema.js'
import { nextDailyRun, utcDay } from '../src/jobs/schedule.js'
import { buildFromConfig, signUp, testConfig } from './helper.js'
import { bigCsv, upload, waitForImport } from './import-helper.js'
import { privateRedis } from './fault-helpers.js'
import { spawnWorker, type WorkerProcess } from './worker-helper.js'

// A Redis of this file's own, so that it can be stopped and restarted without touching anyone else's.
const redisServer = await privateRedis(t)
await redisServer.start()

const config = await testConfig(t, {
  REDIS_URL: redisServer.url,
  RATE_LIMIT_MAX: '100000',
  QUEUE_STALL_INTERVAL_MS: '1000',
  JOB_RETRIES: '2',
  JOB_BACKOFF_MS: '200',
  RELAY_INTERVAL_MS: '500',
  IMPORT_BATCH_SIZE: '100',
  REDIS_COMMAND_TIMEOUT_MS: '1000'
})
const app = await buildFromConfig(t, config)
const admin = await signUp(app, 'admin', { role: 'admin' })
await signUp(app, 'carol')

const tasksOn = async (date: string): Promise<number> =>
  (await app.db.select({ n: sql<number>`count(*)::int` }).from(tasks).where(eq(tasks.date, date)))[0]?.n ?? 0
const auditsOn = async (date: string): Promise<number> =>
  (await app.db.select({ n: sql<number>`count(*)::int` }).from(taskAudit).innerJoin(tasks, eq(tasks.id, taskAudit.taskId)).where(eq(tasks.date, date)))[0]?.n ?? 0
const ready = (w: WorkerProcess): Promise<unknown> => w.waitFor((l) => l.msg === 'worker ready', 'worker ready')

const workers = [spawnWorker(t, config), spawnWorker(t, config)]
await Promise.all(workers.map(ready))

await t.test('two workers schedule the daily task log once', async (t) => {
  const day = utcDay(nextDailyRun(new Date(), config.dailyTaskLogAt))
  const runs = await app.db.select().from(dailyTaskLogRuns)
  t.same(runs.map((r) => [r.logDate, r.status]), [[day, 'pending']], 'one recorded run for the next day')
  const redis = new Redis(redisServer.url)
  t.teardown(() => { redis.disconnect() })
  const delayed = await redis.zrange(`${config.redis.keyPrefix}bq:${config.queueName}:delayed`, '0', '-1')
  t.same(delayed, [`daily-task-log:${day}`], 'one delayed job, whose id is the day')
})

await t.test('a worker killed mid-import: another finishes it, and no row is imported twice', async (t) => {
  const rows = 15_000
  const response = await upload(app, admin.auth, bigCsv(rows, 'carol', '2025-08-01'))
  t.equal(response.statusCode, 202)
  const id = response.json().import_id as string
  const started = await Promise.race(workers.map(async (w, i) => {
    await w.waitFor((l) => l.msg === 'job started' && l.id === id, 'the import to start')
    return i
  }))
  const victim = workers[started] as WorkerProcess
  // Kill it once it has committed some batches, in the middle of the file.
  await waitForImport(app, admin.auth, id, { deadlineMs: 60_000, each: (s) => { if (s.processed_rows > 1000) throw new Error('midway') } }).catch((e: Error) => {
    if (e.message !== 'midway') throw e
  })
  victim.child.kill('SIGKILL')
  await victim.exited
  const killedAt = (await app.db.select().from(taskImports).where(eq(taskImports.id, id)))[0]
  t.equal(killedAt?.status, 'running')
  t.ok((killedAt?.processedRows ?? 0) < rows, `killed at ${killedAt?.processedRows} of ${rows}`)

  workers.splice(started, 1)
  const status = await waitForImport(app, admin.auth, id)
  t.equal(status.status, 'done')
  t.equal(status.imported, rows)
  t.equal(status.processed_rows, rows)
  t.equal(await tasksOn('2025-08-01'), rows, 'each row once')
  t.equal(await auditsOn('2025-08-01'), rows, 'each task one created audit row')
  const after = (await app.db.select().from(taskImports).where(eq(taskImports.id, id)))[0]
  t.ok((after?.attempts ?? 0) >= 2, 'the job was handed on (stall detection)')
})

await t.test('uploads accepted while Redis is down complete once it is back (and its scripts are reloaded)', async (t) => {
  await redisServer.stop()
  const response = await upload(app, admin.auth, 'task_name,priority,created_at,assigned_user\nduring outage,HIGH,2025-08-02,carol\n')
  t.equal(response.statusCode, 202, 'accepted: the import is recorded in PostgreSQL')
  const id = response.json().import_id as string
  t.equal((await app.inject({ method: 'GET', url: `/tasks/imports/${id}`, headers: admin.auth })).json().status, 'queued')

  // A Redis restart loses every job and every loaded Lua script (NOSCRIPT): the relay re-enqueues the import.
  await redisServer.start()
  const status = await waitForImport(app, admin.auth, id)
  t.equal(status.status, 'done')
  t.equal(await tasksOn('2025-08-02'), 1)

  // The API's own producer carries on too once its scripts are reloaded.
  const next = await upload(app, admin.auth, 'task_name,priority,created_at,assigned_user\nafter outage,LOW,2025-08-03,carol\n')
  t.equal(next.statusCode, 202)
  t.equal((await waitForImport(app, admin.auth, next.json().import_id)).status, 'done')
  t.equal(await tasksOn('2025-08-03'), 1)
  t.equal((await app.db.select().from(dailyTaskLogRuns)).length, 1, 'the daily run is still recorded once')
})

await t.test('an import that keeps failing ends as failed, with the reason', async (t) => {
  // A real, repeatable database error on every attempt.
  await app.db.execute(sql.raw(`
    create function refuse_poison() returns trigger language plpgsql as $$
    begin
      if new.task_name = 'poison' then raise exception 'tasks table refuses this row (test)'; end if;
      return new;
    end $$;
    create trigger refuse_poison before insert on tasks for each row execute function refuse_poison();`))
  t.teardown(async () => { await app.db.execute(sql.raw('drop trigger if exists refuse_poison on tasks')) })
  const response = await upload(app, admin.auth, 'task_name,priority,created_at,assigned_user\npoison,LOW,2025-08-04,carol\n')
  const status = await waitForImport(app, admin.auth, response.json().import_id)
  t.equal(status.status, 'failed')
  t.match(status.reason, /Gave up after repeated failures; last error: .*tasks table refuses this row/)
  t.notMatch(status.reason, /insert into|params/, 'no SQL in the reason')
  t.equal(status.imported, 0)
  const row = (await app.db.select().from(taskImports).where(eq(taskImports.id, response.json().import_id)))[0]
  t.equal(row?.attempts, 3, 'the first attempt and JOB_RETRIES=2 retries')
})

await t.test('on SIGTERM a worker finishes the job in hand and exits 0', async (t) => {
  const worker = workers[0] as WorkerProcess
  const response = await upload(app, admin.auth, bigCsv(3000, 'carol', '2025-08-05'))
  const id = response.json().import_id as string
  await worker.waitFor((l) => l.msg === 'job started' && l.id === id, 'the import to start')
  worker.child.kill('SIGTERM')
  t.equal(await worker.exited, 0)
  t.ok(worker.lines.some((l) => l.msg === 'worker stopped'))
  const status = (await app.db.select().from(taskImports).where(eq(taskImports.id, id)))[0]
  t.equal(status?.status, 'done', 'finished before exiting')
  t.equal(await tasksOn('2025-08-05'), 3000)
})
