import BeeQueue from 'bee-queue'
import type { Config } from '../config.js'
import type { Database } from '../db/client.js'
import { snapshotActiveTasks } from './daily-task-log.js'

/** Every job the worker knows, by name, with its payload. */
export interface JobPayloads {
  'daily-task-log': { logDate: string }
}
export type JobName = keyof JobPayloads
export interface Job<N extends JobName = JobName> { name: N, data: JobPayloads[N] }

export interface JobDeps { db: Database }

export const processors: { [N in JobName]: (data: JobPayloads[N], deps: JobDeps) => Promise<unknown> } = {
  'daily-task-log': async ({ logDate }, { db }) => ({ inserted: await snapshotActiveTasks(db, logDate) })
}

export async function runJob (job: Job, deps: JobDeps): Promise<unknown> {
  return await processors[job.name](job.data as never, deps)
}

export interface EnqueueOptions {
  /** Jobs with the same id are enqueued once (e.g. one daily run per day, however many schedulers). */
  jobId?: string
  runAt?: Date
}

export interface JobQueue {
  enqueue: <N extends JobName>(name: N, data: JobPayloads[N], options?: EnqueueOptions) => Promise<void>
  close: () => Promise<void>
}

export function beeQueueSettings (config: Config, isWorker: boolean): BeeQueue.QueueSettings {
  return {
    prefix: `${config.redis.keyPrefix}bq`,
    redis: { url: config.redis.url } as BeeQueue.QueueSettings['redis'],
    isWorker,
    getEvents: false,
    sendEvents: isWorker,
    activateDelayedJobs: isWorker,
    removeOnSuccess: false,
    removeOnFailure: false,
    stallInterval: 5000
  }
}

/**
 * Producer side of the shared Redis queue: the worker process runs the jobs.
 * Bee-Queue gives up for good when its first connection fails (and its ready promise then rejects with
 * nobody listening, which would crash the process), and after a Redis restart its Lua scripts are gone.
 * So the queue is opened on the first enqueue and thrown away after any failure: the next enqueue opens
 * a fresh one. An API started while Redis is down thus starts, and enqueues again once Redis is back.
 */
export function createBeeJobQueue (config: Config): JobQueue {
  let queue: BeeQueue<Job> | undefined
  const open = (): BeeQueue<Job> => {
    const opened = new BeeQueue<Job>(config.queueName, { ...beeQueueSettings(config, false), autoConnect: false })
    // Connection errors also reach the caller of enqueue; without a listener they would crash the process.
    opened.on('error', () => {})
    return opened
  }
  return {
    async enqueue (name, data, { jobId, runAt } = {}) {
      const current = queue ??= open()
      try {
        await current.connect()
        const job = current.createJob({ name, data }).retries(5).backoff('exponential', 1000)
        if (jobId !== undefined) job.setId(jobId)
        if (runAt !== undefined) job.delayUntil(runAt)
        await job.save()
      } catch (error) {
        if (queue === current) queue = undefined
        current.close(1000).catch(() => {})
        throw error
      }
    },
    async close () { await queue?.close(5000) }
  }
}

/** The embedded default: no Redis, so jobs run in this process, after the current request. */
export function createInProcessJobQueue (deps: JobDeps, onError: (error: unknown, job: Job) => void): JobQueue {
  const seen = new Set<string>()
  const timers = new Set<NodeJS.Timeout>()
  return {
    async enqueue (name, data, { jobId, runAt } = {}) {
      if (jobId !== undefined) {
        if (seen.has(jobId)) return
        seen.add(jobId)
      }
      const delay = Math.max(0, (runAt?.getTime() ?? 0) - Date.now())
      const timer = setTimeout(() => {
        timers.delete(timer)
        runJob({ name, data }, deps).catch((error: unknown) => { onError(error, { name, data }) })
      }, delay)
      timer.unref()
      timers.add(timer)
    },
    async close () {
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
    }
  }
}
