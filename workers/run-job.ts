import { loadConfig } from '../src/config.js'
import { openDatabase } from '../src/db/client.js'
import { processors, runJob, type JobName } from '../src/jobs/queue.js'
import { utcDay } from '../src/jobs/schedule.js'

/** `npm run job -- daily-task-log [YYYY-MM-DD]`: runs a job now, in this process, and prints its result. */
async function main (): Promise<void> {
  const [name, day = utcDay(new Date())] = process.argv.slice(2)
  if (name === undefined || !(name in processors)) {
    throw new Error(`usage: npm run job -- <${Object.keys(processors).join('|')}> [YYYY-MM-DD]`)
  }
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new Error(`not a day: ${day}`)
  const database = await openDatabase(loadConfig().db)
  try {
    await database.migrate()
    const result = await runJob({ name: name as JobName, data: { logDate: day } }, { db: database.db })
    console.log(JSON.stringify({ job: name, logDate: day, result }))
  } finally {
    await database.close()
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
