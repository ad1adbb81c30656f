import { asc, eq, inArray } from 'drizzle-orm'
import type { Database } from '../db/client.js'
import { dailyTaskLogRuns, taskImports } from '../db/schema.js'
import { recordDailyRun } from './daily-task-log.js'
import type { JobQueue } from './queue.js'

const RELAY_BATCH = 500

export const dailyRunJobId = (logDate: string): string => `daily-task-log:${logDate}`

/** Records a day's run in PostgreSQL, then enqueues it (jobId = the day, so several schedulers enqueue it once). */
export async function scheduleDailyRun (db: Database, jobs: JobQueue, logDate: string, runAt: Date): Promise<void> {
  await recordDailyRun(db, logDate, runAt)
  await jobs.enqueue('daily-task-log', { logDate }, { jobId: dailyRunJobId(logDate), runAt })
}

/**
 * Enqueues again every piece of accepted work PostgreSQL says is unfinished: imports still queued or
 * running, daily runs still pending. The queue refuses a job id it already holds, so this is harmless when
 * the work is already enqueued, and it brings back whatever Redis lost or never received.
 */
export async function relayPendingWork (db: Database, jobs: JobQueue): Promise<{ imports: number, dailyRuns: number }> {
  const imports = await db.select({ id: taskImports.id }).from(taskImports)
    .where(inArray(taskImports.status, ['queued', 'running'])).orderBy(asc(taskImports.createdAt)).limit(RELAY_BATCH)
  for (const { id } of imports) await jobs.enqueue('csv-import', { importId: id }, { jobId: id })
  const runs = await db.select().from(dailyTaskLogRuns)
    .where(eq(dailyTaskLogRuns.status, 'pending')).orderBy(asc(dailyTaskLogRuns.runAt)).limit(RELAY_BATCH)
  for (const run of runs) await jobs.enqueue('daily-task-log', { logDate: run.logDate }, { jobId: dailyRunJobId(run.logDate), runAt: run.runAt })
  return { imports: imports.length, dailyRuns: runs.length }
}

export interface Relay { stop: () => Promise<void> }

/** Relays now and then every `intervalMs`, one pass at a time, until stopped. */
export function startRelay (db: Database, jobs: JobQueue, intervalMs: number, onError: (error: unknown) => void): Relay {
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  let running: Promise<void> = Promise.resolve()
  const tick = (): void => {
    running = relayPendingWork(db, jobs).then(() => {}, (error: unknown) => { if (!stopped) onError(error) }).finally(() => {
      if (stopped) return
      timer = setTimeout(tick, intervalMs)
      timer.unref()
    })
  }
  tick()
  return {
    async stop () {
      stopped = true
      clearTimeout(timer)
      await running
    }
  }
}
