/**
 * `node --import tsx scripts/import-memory.ts [rows]`: imports a generated CSV of `rows` rows (default
 * 100,000) through the same code as the API and the worker, on a scratch PostgreSQL database, and prints
 * the time taken and the peak memory, to show a large file is streamed rather than held.
 */
import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { createMemoryTaskListCache } from '../src/cache/task-list-cache.js'
import { openDatabase } from '../src/db/client.js'
import { users } from '../src/db/schema.js'
import { acceptImport, processImport } from '../src/imports/service.js'

const rows = Number(process.argv[2] ?? 100_000)
const base = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const name = `import_memory_${randomBytes(4).toString('hex')}`
const admin = postgres(base, { max: 1, onnotice: () => {} })
await admin.unsafe(`create database "${name}"`)
const url = new URL(base)
url.pathname = `/${name}`
const database = await openDatabase({ url: url.toString(), pgliteDataDir: '', poolMax: 4, connectTimeoutS: 5, statementTimeoutMs: 60_000 })
try {
  await database.migrate()
  const [user] = await database.db.insert(users).values({ username: 'importer', passwordHash: 'x', role: 'admin' }).returning()
  const lines = ['task_name,description,status,priority,created_at,assigned_user']
  for (let i = 1; i <= rows; i++) lines.push(`Task ${i},generated row ${i},TRUE,MEDIUM,2025-01-${String(1 + (i % 28)).padStart(2, '0')},importer`)
  let file: Buffer | undefined = Buffer.from(lines.join('\n'))
  lines.length = 0
  const bytes = file.length
  const accepted = await acceptImport(database.db, { actorId: user?.id ?? 1, fileName: 'generated.csv', file })
  file = undefined
  global.gc?.()

  const before = process.memoryUsage()
  let peakRss = before.rss
  let peakHeap = before.heapUsed
  const sampler = setInterval(() => {
    const m = process.memoryUsage()
    peakRss = Math.max(peakRss, m.rss)
    peakHeap = Math.max(peakHeap, m.heapUsed)
  }, 20)
  const started = performance.now()
  const outcome = await processImport({ db: database.db, cache: createMemoryTaskListCache(60), batchSize: 500 }, accepted.id)
  const seconds = (performance.now() - started) / 1000
  clearInterval(sampler)
  const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MB`
  console.log(JSON.stringify({
    rows,
    file: mb(bytes),
    outcome,
    seconds: Number(seconds.toFixed(1)),
    rows_per_second: Math.round(rows / seconds),
    heap_before: mb(before.heapUsed),
    peak_heap: mb(peakHeap),
    peak_rss: mb(peakRss)
  }))
} finally {
  await database.close()
  await admin.unsafe(`drop database if exists "${name}" with (force)`)
  await admin.end()
}
