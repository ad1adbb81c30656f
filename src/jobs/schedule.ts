/** The next moment at or after `now` that falls on hour:minute UTC. */
export function nextDailyRun (now: Date, at: { hour: number, minute: number }): Date {
  const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), at.hour, at.minute))
  if (next.getTime() < now.getTime()) next.setUTCDate(next.getUTCDate() + 1)
  return next
}

export function utcDay (moment: Date): string {
  return moment.toISOString().slice(0, 10)
}

export interface DailySchedule { stop: () => void }

/**
 * Keeps the next daily-task-log run enqueued: enqueues it now (delayed to its time, jobId = its day, so
 * several schedulers enqueue it once) and again after each run time passes.
 */
export function scheduleDailyTaskLog (
  enqueue: (logDate: string, runAt: Date) => Promise<void>,
  at: { hour: number, minute: number },
  onError: (error: unknown) => void
): DailySchedule {
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const planNext = (): void => {
    if (stopped) return
    const runAt = nextDailyRun(new Date(), at)
    enqueue(utcDay(runAt), runAt).catch(onError)
    // Wake a minute after this run's time to enqueue the next one.
    timer = setTimeout(planNext, runAt.getTime() - Date.now() + 60_000)
    timer.unref()
  }
  planNext()
  return { stop: () => { stopped = true; clearTimeout(timer) } }
}
