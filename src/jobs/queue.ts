import { createRequire } from 'node:module'
import BeeQueue from 'bee-queue'
import type { Config } from '../config.js'
import type { Database } from '../db/client.js'
import type { TaskListCache } from '../cache/task-list-cache.js'
import { ImportTakenOver, markImportFailed, processImport } from '../imports/service.js'
import { markDailyRunDone, snapshotActiveTasks } from './daily-task-log.js'

/** Every job the worker knows, by name, with its payload. */
export interface JobPayloads {
  'daily-task-log': { logDate: string }
  'csv-import': { importId: string }
}
export type JobName = keyof JobPayloads
export interface Job<N extends JobName = JobName> { name: N, data: JobPayloads[N] }

export interface JobDeps {
  db: Database
  cache: TaskListCache
  importBatchSize: number
}

/** Where a run stands among its attempts: the last one records a failure for good. */
export interface JobAttempt { lastAttempt: boolean }

export const processors: { [N in JobName]: (data: JobPayloads[N], deps: JobDeps, attempt: JobAttempt) => Promise<unknown> } = {
  'daily-task-log': async ({ logDate }, { db }) => {
    const inserted = await snapshotActiveTasks(db, logDate)
    await markDailyRunDone(db, logDate, inserted)
    return { inserted }
  },
  'csv-import': async ({ importId }, deps, { lastAttempt }) => {
    try {
      return await processImport({ db: deps.db, cache: deps.cache, batchSize: deps.importBatchSize }, importId)
    } catch (error) {
      // The run that took over carries on: this one neither retries nor fails the import.
      if (error instanceof ImportTakenOver) return { outcome: 'skipped', reason: error.message }
      if (lastAttempt) await markImportFailed(deps.db, importId, failureReason(error))
      throw error
    }
  }
}

/**
 * What an admin reads in a failed import's status: the root cause's message (drizzle wraps a database
 * error in one quoting the SQL and its parameters, which stay in the log), never a stack.
 */
function failureReason (error: unknown): string {
  let root = error
  while (root instanceof Error && root.cause instanceof Error) root = root.cause
  const message = root instanceof Error ? root.message : String(root)
  return `Gave up after repeated failures; last error: ${message}`
}

export async function runJob (job: Job, deps: JobDeps, attempt: JobAttempt = { lastAttempt: true }): Promise<unknown> {
  return await processors[job.name](job.data as never, deps, attempt)
}

export interface EnqueueOptions {
  /** Jobs with the same id are enqueued once (one import, one daily run per day, however many enqueue it). */
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
    redis: {
      url: config.redis.url,
      // node_redis 3 gives up reconnecting after an hour by default; a worker must outlive any outage.
      retry_strategy: ({ attempt }: { attempt: number }) => Math.min(attempt * 200, 2000)
    } as BeeQueue.QueueSettings['redis'],
    isWorker,
    getEvents: false,
    sendEvents: isWorker,
    activateDelayedJobs: isWorker,
    // Kept so that an id once enqueued is refused again (the relay re-enqueues freely); see README for cleanup.
    removeOnSuccess: false,
    removeOnFailure: false,
    stallInterval: config.jobs.stallIntervalMs,
    // Workers look for due delayed jobs (retries after backoff, the daily run) at least this often, even if
    // the notice that one was added got lost (say, in a Redis restart).
    nearTermWindow: 60_000
  }
}

const require = createRequire(import.meta.url)
const beeLua = require('bee-queue/lib/lua/index.js') as { buildCache: (client: unknown) => Promise<unknown> }

/**
 * Bee-Queue loads its Lua scripts once, when it connects. A restarted Redis has forgotten them and every
 * call then fails with NOSCRIPT: load them again each time the connection becomes ready.
 */
export function keepScriptsLoaded (queue: BeeQueue, onError: (error: unknown) => void): void {
  queue.ready().then(() => {
    const client = (queue as unknown as { client: NodeJS.EventEmitter }).client
    client.on('ready', () => { beeLua.buildCache(client).catch(onError) })
  }).catch(onError)
}

export const isNoScript = (error: unknown): boolean => error instanceof Error && error.message.startsWith('NOSCRIPT')

function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`${what} timed out after ${ms} ms`)) }, ms)
  })
  return Promise.race([promise, timeout]).finally(() => { clearTimeout(timer) })
}

/**
 * Producer side of the shared Redis queue: the worker process runs the jobs.
 * Bee-Queue gives up for good when its first connection fails, and after a Redis restart its Lua scripts
 * are gone (NOSCRIPT). So the queue is opened on the first enqueue and thrown away after any failure: the
 * next enqueue opens a fresh one, which loads the scripts again. An API started while Redis is down thus
 * starts, and enqueues again once Redis is back. An enqueue that Redis cannot take in time fails fast: the
 * caller has recorded the work in PostgreSQL, and the relay enqueues it later.
 */
export function createBeeJobQueue (config: Config, onError: (error: unknown) => void): JobQueue {
  // One connection attempt per queue: Bee-Queue's connect() opens new clients each time it is called.
  let queue: { bee: BeeQueue<Job>, connected: Promise<unknown> } | undefined
  const open = (): { bee: BeeQueue<Job>, connected: Promise<unknown> } => {
    const bee = new BeeQueue<Job>(config.queueName, { ...beeQueueSettings(config, false), autoConnect: false })
    // Without a listener a connection error would be thrown and end the process.
    bee.on('error', onError)
    return { bee, connected: bee.connect() }
  }
  const save = async (job: Job, { jobId, runAt }: EnqueueOptions): Promise<void> => {
    const current = queue ??= open()
    try {
      await current.connected
      const created = current.bee.createJob(job).retries(config.jobs.retries).backoff('exponential', config.jobs.backoffMs)
      if (jobId !== undefined) created.setId(jobId)
      if (runAt !== undefined) created.delayUntil(runAt)
      await created.save()
    } catch (error) {
      if (queue === current) queue = undefined
      current.bee.close(1000).catch(() => {})
      throw error
    }
  }
  return {
    async enqueue (name, data, options = {}) {
      const attempt = async (): Promise<void> => {
        try {
          await save({ name, data }, options)
        } catch (error) {
          // A restarted Redis: the fresh queue opened by this second try loads the scripts again.
          if (!isNoScript(error)) throw error
          await save({ name, data }, options)
        }
      }
      await withTimeout(attempt(), config.redis.commandTimeoutMs, `enqueueing ${name}`)
    },
    async close () { await queue?.bee.close(5000).catch(onError) }
  }
}

/**
 * The embedded default: no Redis, so jobs run in this process, after the current request, with the same
 * retries and backoff as on the worker. A job id is held while its job is pending or running, so the
 * relay and the schedule cannot start it twice.
 */
export function createInProcessJobQueue (
  deps: JobDeps,
  settings: { retries: number, backoffMs: number },
  onError: (error: unknown, job: Job) => void
): JobQueue {
  const pending = new Set<string>()
  const timers = new Set<NodeJS.Timeout>()
  let closed = false
  const later = (ms: number, fn: () => void): void => {
    if (closed) return
    const timer = setTimeout(() => { timers.delete(timer); fn() }, ms)
    timer.unref()
    timers.add(timer)
  }
  const run = (job: Job, jobId: string | undefined, attempt: number): void => {
    const lastAttempt = attempt >= settings.retries
    runJob(job, deps, { lastAttempt }).then(() => {
      if (jobId !== undefined) pending.delete(jobId)
    }, (error: unknown) => {
      onError(error, job)
      if (lastAttempt || closed) {
        if (jobId !== undefined) pending.delete(jobId)
        return
      }
      later(settings.backoffMs * 2 ** attempt, () => { run(job, jobId, attempt + 1) })
    })
  }
  return {
    async enqueue (name, data, { jobId, runAt } = {}) {
      if (jobId !== undefined) {
        if (pending.has(jobId)) return
        pending.add(jobId)
      }
      later(Math.max(0, (runAt?.getTime() ?? 0) - Date.now()), () => { run({ name, data }, jobId, 0) })
    },
    async close () {
      closed = true
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
    }
  }
}
