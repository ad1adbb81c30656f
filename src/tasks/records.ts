import { and, asc, count, desc, eq, inArray, lte, or, sql } from 'drizzle-orm'
import type { Database } from '../db/client.js'
import { taskLogger, tasks } from '../db/schema.js'
import type { Actor } from './service.js'
import { toTask } from './service.js'
import type { TaskRecordsResponse } from './schemas.js'

/** Daily snapshots shown with each task: enough for a week and a bit, newest first. */
export const RECENT_LOG_ENTRIES = 10

/**
 * One page of the actor's active tasks (all for an admin; created or assigned for a user), ordered by id,
 * each with its most recent task_logger snapshots, newest first.
 */
export async function listTaskRecords (db: Database, actor: Actor, page: number, perPage: number): Promise<TaskRecordsResponse> {
  const visible = and(
    eq(tasks.isActive, true),
    actor.role === 'admin' ? undefined : or(eq(tasks.createdBy, actor.id), eq(tasks.assignedUser, actor.id))
  )
  const [[total], rows] = await Promise.all([
    db.select({ n: count() }).from(tasks).where(visible),
    db.select().from(tasks).where(visible).orderBy(asc(tasks.id)).limit(perPage).offset((page - 1) * perPage)
  ])
  const ids = rows.map((r) => r.id)
  const ranked = db.select({
    taskId: taskLogger.taskId,
    logDate: taskLogger.logDate,
    taskName: taskLogger.taskName,
    priority: taskLogger.priority,
    taskDate: taskLogger.taskDate,
    assignedUser: taskLogger.assignedUser,
    createdAt: taskLogger.createdAt,
    rank: sql<number>`row_number() over (partition by ${taskLogger.taskId} order by ${taskLogger.logDate} desc)`.as('rank')
  }).from(taskLogger).where(inArray(taskLogger.taskId, ids.length > 0 ? ids : [0])).as('ranked')
  const logs = ids.length === 0
    ? []
    : await db.select().from(ranked).where(lte(ranked.rank, RECENT_LOG_ENTRIES)).orderBy(asc(ranked.taskId), desc(ranked.logDate))

  const logsByTask = new Map<number, TaskRecordsResponse['records'][number]['logs']>()
  for (const log of logs) {
    const list = logsByTask.get(log.taskId) ?? []
    list.push({
      log_date: log.logDate,
      task_name: log.taskName,
      priority: log.priority,
      task_date: log.taskDate,
      assigned_user: log.assignedUser,
      logged_at: new Date(log.createdAt).toISOString()
    })
    logsByTask.set(log.taskId, list)
  }
  return {
    page,
    per_page: perPage,
    total: total?.n ?? 0,
    records: rows.map((row) => ({ ...toTask(row), logs: logsByTask.get(row.id) ?? [] }))
  }
}
