import { eq, sql } from 'drizzle-orm'
import type { Database } from '../db/client.js'
import { dailyTaskLogRuns, taskLogger, tasks } from '../db/schema.js'

/**
 * Records one task_logger row per active task for `logDate`. Idempotent: the unique (task_id, log_date)
 * makes a second run, or a run on another worker at the same time, add nothing.
 * Resolves to the number of rows this run added.
 */
export async function snapshotActiveTasks (db: Database, logDate: string): Promise<number> {
  const inserted = await db.execute<{ id: number }>(sql`
    insert into ${taskLogger} (task_id, log_date, task_name, priority, task_date, assigned_user)
    select ${tasks.id}, ${logDate}::date, ${tasks.taskName}, ${tasks.priority}, ${tasks.date}, ${tasks.assignedUser}
    from ${tasks} where ${tasks.isActive}
    on conflict (task_id, log_date) do nothing
    returning id`)
  // postgres.js answers an array of rows, PGlite an object holding them.
  const rows = Array.isArray(inserted) ? inserted : (inserted as unknown as { rows: unknown[] }).rows
  return rows.length
}

/** Records a day's run before it is enqueued, so the relay can enqueue it again if Redis loses it. */
export async function recordDailyRun (db: Database, logDate: string, runAt: Date): Promise<void> {
  await db.insert(dailyTaskLogRuns).values({ logDate, runAt }).onConflictDoNothing()
}

export async function markDailyRunDone (db: Database, logDate: string, inserted: number): Promise<void> {
  await db.update(dailyTaskLogRuns)
    .set({ status: 'done', inserted: sql`coalesce(${dailyTaskLogRuns.inserted}, 0) + ${inserted}`, finishedAt: sql`now()` })
    .where(eq(dailyTaskLogRuns.logDate, logDate))
}
