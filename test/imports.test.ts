import t from 'tap'
import pino from 'pino'
import { eq, sql } from 'drizzle-orm'
import { taskAudit, taskImportChunks, taskImports, tasks } from '../src/db/schema.js'
import { startWorker } from '../src/jobs/worker.js'
import { buildFromConfig, isCleanError, signUp, testConfig } from './helper.js'
import { bigCsv, upload, waitForImport, type ImportStatusBody } from './import-helper.js'

const config = await testConfig(t, {
  RATE_LIMIT_MAX: '100000',
  IMPORT_MAX_BYTES: String(2 * 1024 * 1024),
  IMPORT_BATCH_SIZE: '200',
  QUEUE_STALL_INTERVAL_MS: '1000',
  RELAY_INTERVAL_MS: '500'
})
const app = await buildFromConfig(t, config)
// A real Bee-Queue worker on the same Redis and database, in this process.
const worker = await startWorker(config, pino({ level: 'silent' }))
t.teardown(async () => { await worker.close(5000) })

const admin = await signUp(app, 'admin', { role: 'admin' })
const alice = await signUp(app, 'alice')
const bob = await signUp(app, 'bob')

const importCount = async (): Promise<number> => (await app.db.select({ n: sql<number>`count(*)::int` }).from(taskImports))[0]?.n ?? 0

await t.test('good rows are imported and bad rows reported, each by its spreadsheet row', async (t) => {
  const csv = [
    'Task_Name,Description,STATUS,priority,created_at,assigned_user', // row 1: header, any case
    'iso date,first,TRUE,LOW,2025-04-06,alice', // 2
    'us date,,YES,MEDIUM,04/13/2025,alice', // 3: MM/DD/YYYY (13 cannot be a month)
    'dashed date,,Y,med,13-04-2025,bob', // 4: DD-MM-YYYY, MED alias
    'eu date,,1,High,13/04/2025,bob', // 5: DD/MM/YYYY
    'same both ways,,active,crit,05/05/2025,alice', // 6: 05/05 reads the same either way
    'urgent one,,true,URGENT,2025-04-06,alice', // 7
    'critical one,,TRUE,CRITICAL,2025-04-06,alice', // 8
    'inactive,,FALSE,LOW,2025-04-06,alice', // 9: imported as an inactive task
    '', // 10: blank line, skipped
    'no such user,,TRUE,LOW,2025-04-06,mallory', // 11
    'bad date,,TRUE,LOW,2025-02-30,alice', // 12
    'ambiguous,,TRUE,LOW,04/06/2025,alice', // 13
    'no priority,,TRUE,,2025-04-06,alice', // 14
    'bad priority,,TRUE,SOMEDAY,2025-04-06,alice', // 15
    'bad status,,MAYBE,LOW,2025-04-06,alice', // 16
    ',,TRUE,LOW,2025-04-06,alice', // 17: empty task_name
    'short row,TRUE', // 18
    '"multi\nline name",x,no,LOW,2025-04-06,alice', // 19 (one spreadsheet row over two lines)
    'after multiline,,TRUE,LOW,nope,alice' // 20
  ].join('\n')
  const response = await upload(app, admin.auth, csv)
  t.equal(response.statusCode, 202, response.body)
  const accepted = response.json()
  t.match(accepted, { status: 'queued', total_rows: 18 })
  t.equal(response.headers.location, `/tasks/imports/${accepted.import_id}`)

  const status = await waitForImport(app, admin.auth, accepted.import_id)
  t.equal(status.status, 'done')
  t.equal(status.processed_rows, 18)
  t.equal(status.imported, 9)
  t.equal(status.error_count, 9)
  t.same(status.errors.map((e) => e.row), [11, 12, 13, 14, 15, 16, 17, 18, 20])
  const message = (row: number): string => status.errors.find((e) => e.row === row)?.message ?? ''
  t.match(message(11), /assigned_user "mallory" does not exist/)
  t.match(message(12), /not a real day/)
  t.match(message(13), /ambiguous/)
  t.match(message(14), /priority is empty/)
  t.match(message(15), /priority "SOMEDAY"/)
  t.match(message(16), /status "MAYBE"/)
  t.match(message(17), /task_name is empty/)
  t.match(message(18), /has 2 fields, the header has 6/)
  t.match(message(20), /is not a date/)

  const imported = await app.db.select().from(tasks).orderBy(tasks.id)
  const byName = new Map(imported.map((r) => [r.taskName, r]))
  t.same([...byName.keys()].sort(), ['critical one', 'dashed date', 'eu date', 'inactive', 'iso date', 'multi\nline name', 'same both ways', 'urgent one', 'us date'].sort())
  t.match(byName.get('us date'), { date: '2025-04-13', priority: 'MEDIUM', assignedUser: alice.id, createdBy: admin.id, isActive: true, description: null })
  t.match(byName.get('dashed date'), { date: '2025-04-13', priority: 'MEDIUM', assignedUser: bob.id })
  t.match(byName.get('eu date'), { date: '2025-04-13', priority: 'HIGH' })
  t.match(byName.get('same both ways'), { date: '2025-05-05', priority: 'CRITICAL' })
  t.match(byName.get('urgent one'), { priority: 'CRITICAL' })
  t.match(byName.get('iso date'), { description: 'first', priority: 'LOW' })
  t.match(byName.get('inactive'), { isActive: false })
  t.match(byName.get('multi\nline name'), { isActive: false })

  // Each imported task has its "created" audit row, readable through the API.
  const audits = await app.db.select().from(taskAudit)
  t.equal(audits.length, 9)
  t.ok(audits.every((a) => a.action === 'created' && a.actionBy === admin.id))
  const usDate = byName.get('us date')?.id
  const log = await app.inject({ method: 'GET', url: `/tasks/task-log/${usDate}`, headers: alice.auth })
  t.match(log.json().logs, [{ action: 'created', current_state: { task_name: 'us date', date: '2025-04-13' } }])

  // Alice finds her active tasks of the day; the inactive one is not listed.
  const day = await app.inject({ method: 'GET', url: '/tasks/task/2025-04-06', headers: alice.auth })
  t.same(day.json().task_list.map((x: { task_name: string }) => x.task_name).sort(), ['critical one', 'iso date', 'urgent one'])
  t.equal((await app.db.select().from(taskImportChunks).where(eq(taskImportChunks.importId, accepted.import_id))).length, 0, 'the stored file is removed once done')
})

await t.test('an import invalidates the cached lists of the days it adds tasks to', async (t) => {
  const before = await app.inject({ method: 'GET', url: '/tasks/task/2025-06-01', headers: admin.auth })
  t.equal(before.statusCode, 404)
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: admin.auth, payload: { task_name: 'by hand', date: '2025-06-01' } })
  t.equal((await app.inject({ method: 'GET', url: '/tasks/task/2025-06-01', headers: admin.auth })).json().task_list.length, 1, 'now cached')
  const response = await upload(app, admin.auth, 'task_name,priority,created_at,assigned_user\nfrom csv,LOW,2025-06-01,alice\n')
  t.equal((await waitForImport(app, admin.auth, response.json().import_id)).status, 'done')
  const after = await app.inject({ method: 'GET', url: '/tasks/task/2025-06-01', headers: admin.auth })
  t.same(after.json().task_list.map((x: { task_name: string }) => x.task_name), ['by hand', 'from csv'])
})

await t.test('progress is visible while a large file is imported', async (t) => {
  const rows = 20_000
  const response = await upload(app, admin.auth, bigCsv(rows, 'bob', '2025-07-01'))
  t.equal(response.statusCode, 202, response.body)
  t.equal(response.json().total_rows, rows)
  const seen: ImportStatusBody[] = []
  const status = await waitForImport(app, admin.auth, response.json().import_id, { each: (s) => seen.push(s) })
  t.equal(status.status, 'done')
  t.equal(status.imported, rows)
  const midway = seen.filter((s) => s.status === 'running' && s.processed_rows > 0 && s.processed_rows < rows)
  t.ok(midway.length > 0, `saw partial progress (${midway.map((s) => s.processed_rows).slice(0, 5).join(', ')}...)`)
  t.ok(seen.every((s) => s.total_rows === rows), 'total_rows known from the start')
  const counts = seen.map((s) => s.processed_rows)
  t.same(counts, [...counts].sort((a, b) => a - b), 'progress never goes back')
  const [{ n } = { n: 0 }] = await app.db.select({ n: sql<number>`count(*)::int` }).from(tasks).where(eq(tasks.date, '2025-07-01'))
  t.equal(n, rows)
})

await t.test('a file larger than IMPORT_MAX_BYTES is refused with 413 and nothing is stored', async (t) => {
  const before = await importCount()
  const response = await upload(app, admin.auth, bigCsv(60_000, 'bob'))
  t.equal(response.statusCode, 413)
  t.ok(isCleanError(response))
  t.equal(await importCount(), before)
})

await t.test('what is not a CSV file is refused with 415', async (t) => {
  const before = await importCount()
  const png = await upload(app, admin.auth, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]), { filename: 'cat.png', type: 'image/png' })
  t.equal(png.statusCode, 415)
  t.ok(isCleanError(png))
  const binary = await upload(app, admin.auth, Buffer.from([0x74, 0, 0x61, 0x73, 0x6b]), { filename: 'x.csv', type: 'text/csv' })
  t.equal(binary.statusCode, 415, 'binary content under a .csv name')
  const latin1 = await upload(app, admin.auth, Buffer.from('task_name,priority,created_at,assigned_user\ncaf\xe9,LOW,2025-01-01,alice\n', 'latin1'))
  t.equal(latin1.statusCode, 415, 'not UTF-8')
  const json = await app.inject({ method: 'POST', url: '/tasks/upload-csv', headers: admin.auth, payload: { file: 'x' } })
  t.equal(json.statusCode, 415, 'not multipart')
  t.ok(isCleanError(json))
  const plain = await upload(app, admin.auth, 'task_name,priority,created_at,assigned_user\n', { filename: 'notes.txt', type: 'text/plain' })
  t.equal(plain.statusCode, 415, 'text/plain without a .csv name')
  const curlDefault = await upload(app, admin.auth, 'task_name,priority,created_at,assigned_user\ncurl,LOW,2025-01-02,alice\n', { type: 'application/octet-stream' })
  t.equal(curlDefault.statusCode, 202, 'curl sends a .csv as application/octet-stream: accepted by its name')
  t.equal((await waitForImport(app, admin.auth, curlDefault.json().import_id)).imported, 1)
  t.equal(await importCount(), before + 1)
})

await t.test('a file without a usable header or rows is refused at once with 400', async (t) => {
  const before = await importCount()
  const cases: Array<[string, RegExp]> = [
    ['name,priority\nx,LOW\n', /lacks the column\(s\) task_name, created_at, assigned_user/],
    ['task_name,priority,created_at,assigned_user,colour\nx,LOW,2025-01-01,alice,red\n', /Unknown column\(s\) in the header: colour/],
    ['task_name,task_name,priority,created_at,assigned_user\n', /appears twice/],
    ['task_name,priority,created_at,assigned_user\n', /no data rows/],
    ['', /empty/],
    ['task_name,priority,created_at,assigned_user\n"unclosed,LOW,2025-01-01,alice\n', /Not a valid CSV/]
  ]
  for (const [csv, message] of cases) {
    const response = await upload(app, admin.auth, csv)
    t.equal(response.statusCode, 400, csv)
    t.match(response.json().message, message)
    t.ok(isCleanError(response))
  }
  const noFileField = await upload(app, admin.auth, 'task_name\n', { field: 'data' })
  t.equal(noFileField.statusCode, 400)
  t.equal(await importCount(), before)
})

await t.test('only an admin may upload or read an import', async (t) => {
  const before = await importCount()
  const refused = await upload(app, alice.auth, 'task_name,priority,created_at,assigned_user\nx,LOW,2025-01-01,alice\n')
  t.equal(refused.statusCode, 403)
  t.ok(isCleanError(refused))
  t.equal(await importCount(), before)
  const anonymous = await upload(app, {}, 'task_name\n')
  t.equal(anonymous.statusCode, 401)

  const mine = await upload(app, admin.auth, 'task_name,priority,created_at,assigned_user\nx,LOW,2025-01-01,alice\n')
  const id = mine.json().import_id
  t.equal((await app.inject({ method: 'GET', url: `/tasks/imports/${id}`, headers: alice.auth })).statusCode, 403)
})

await t.test('an unknown import id is 404, a malformed one 400', async (t) => {
  const unknown = await app.inject({ method: 'GET', url: '/tasks/imports/6f1c1d4e-0000-4000-8000-000000000000', headers: admin.auth })
  t.equal(unknown.statusCode, 404)
  t.ok(isCleanError(unknown))
  const malformed = await app.inject({ method: 'GET', url: '/tasks/imports/123', headers: admin.auth })
  t.equal(malformed.statusCode, 400)
  t.ok(isCleanError(malformed))
})
