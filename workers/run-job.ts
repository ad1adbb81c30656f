import { Redis } from 'ioredis'
import { createMemoryTaskListCache, createRedisTaskListCache } from '../src/cache/task-list-cache.js'
import { loadConfig } from '../src/config.js'
import { openDatabase } from '../src/db/client.js'
import { runJob, type Job } from '../src/jobs/queue.js'
import { utcDay } from '../src/jobs/schedule.js'
import { redisOptions } from '../src/redis.js'

const USAGE = 'usage: npm run job -- daily-task-log [YYYY-MM-DD] | csv-import <import_id>'

function jobFrom (args: string[]): Job {
  const [name, arg] = args
  if (name === 'daily-task-log') {
    const day = arg ?? utcDay(new Date())
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new Error(`not a day: ${day}`)
    return { name, data: { logDate: day } }
  }
  if (name === 'csv-import' && arg !== undefined && /^[0-9a-f-]{36}$/i.test(arg)) return { name, data: { importId: arg } }
  throw new Error(USAGE)
}

/** `npm run job -- <job> [arg]`: runs a job now, in this process, and prints its result. */
async function main (): Promise<void> {
  const job = jobFrom(process.argv.slice(2))
  const config = loadConfig()
  const database = await openDatabase(config.db)
  // Imported tasks must leave no stale cached list behind: use the shared cache when there is one.
  const redis = config.redis.url !== undefined ? new Redis(config.redis.url, redisOptions(config.redis)) : undefined
  try {
    await database.migrate()
    const cache = redis !== undefined ? createRedisTaskListCache(redis, config.cacheTtlS) : createMemoryTaskListCache(config.cacheTtlS)
    const result = await runJob(job, { db: database.db, cache, importBatchSize: config.imports.batchSize })
    console.log(JSON.stringify({ job: job.name, ...job.data, result }))
  } finally {
    redis?.disconnect()
    await database.close()
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
