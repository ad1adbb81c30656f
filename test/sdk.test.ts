/**
 * The generated client (sdk/) against a real server on a real port: the main flows a client runs, typed
 * end to end by the committed openapi.json. It tests the network on purpose, so it listens.
 */
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { createTaskApiClient, type Task } from '../sdk/index.js'
import pino from 'pino'
import { startWorker } from '../src/jobs/worker.js'
import { build } from './helper.js'

const app = await build(t, { RATE_LIMIT_MAX: '10000', RATE_LIMIT_TASK_LIST_MAX: '1000', RATE_LIMIT_LOGIN_MAX: '1000' })
await app.listen({ host: '127.0.0.1', port: 0 })
// The worker that runs CSV imports, on the same Redis queue and database.
const worker = await startWorker(app.config, pino({ level: 'silent' }))
t.teardown(async () => { await worker.close(5000) })
const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

let token: string | undefined
const api = createTaskApiClient({ baseUrl, token: () => token })
const day = '2025-04-06'

await t.test('register and log in, then the token identifies the user', async (t) => {
  const registered = await api.POST('/users/register', { body: { username: 'alice', password: 'alice-password' } })
  t.equal(registered.response.status, 201)
  t.match(registered.data?.user, { id: Number, username: 'alice', role: 'user' })

  const refused = await api.POST('/users/login', { body: { username: 'alice', password: 'not-her-password' } })
  t.equal(refused.response.status, 401)
  t.equal(refused.data, undefined)
  t.match(refused.error, { statusCode: 401, error: 'Unauthorized', message: String })

  const login = await api.POST('/users/login', { body: { username: 'alice', password: 'alice-password' } })
  t.equal(login.response.status, 200)
  t.equal(login.data?.token_type, 'Bearer')
  token = login.data?.access_token
  t.type(token, 'string')

  const profile = await api.GET('/users/profile')
  t.match(profile.data, { username: 'alice', role: 'user' })
})

await t.test('create a task, find it in the day list, change it, read its trail, delete it', async (t) => {
  const created = await api.POST('/tasks/create-task', {
    body: { task_name: 'Write the report', description: 'Q1 figures', priority: 'HIGH', date: day }
  })
  t.equal(created.response.status, 201)
  const task: Task | undefined = created.data?.task
  if (task === undefined) throw new Error(`create failed: ${JSON.stringify(created.error)}`)
  t.match(task, { task_name: 'Write the report', description: 'Q1 figures', priority: 'HIGH', date: day, is_active: true })

  const listed = await api.GET('/tasks/task/{date}', { params: { path: { date: day } } })
  t.equal(listed.response.status, 200)
  t.same(listed.data?.task_list.map((entry) => entry.id), [task.id])

  const updated = await api.PUT('/tasks/update-task/{task_id}', {
    params: { path: { task_id: task.id } },
    body: { priority: 'CRITICAL', description: null }
  })
  t.equal(updated.response.status, 200)
  t.match(updated.data?.task, { id: task.id, priority: 'CRITICAL', description: null })

  const trail = await api.GET('/tasks/task-log/{task_id}', { params: { path: { task_id: task.id } } })
  t.equal(trail.response.status, 200)
  t.same(trail.data?.logs.map((entry) => entry.action), ['updated', 'created'], 'newest first')

  const deleted = await api.DELETE('/tasks/delete/{task_id}', { params: { path: { task_id: task.id } } })
  t.equal(deleted.response.status, 200)
  t.type(deleted.data?.message, 'string')

  const afterDelete = await api.GET('/tasks/task/{date}', { params: { path: { date: day } } })
  t.equal(afterDelete.response.status, 404)
  t.match(afterDelete.error, { statusCode: 404, message: String })
})

await t.test('an admin imports a CSV, follows its progress to done and finds the tasks', async (t) => {
  // The first admin of a new install registers without a token.
  const registered = await api.POST('/users/register', { body: { username: 'boss', password: 'boss-password', role: 'admin' } })
  t.equal(registered.response.status, 201)
  const login = await api.POST('/users/login', { body: { username: 'boss', password: 'boss-password' } })
  token = login.data?.access_token

  const csv = 'task_name,priority,created_at,assigned_user\nImported one,HIGH,2025-04-07,alice\nNobody,LOW,2025-04-07,mallory\n'
  const accepted = await api.POST('/tasks/upload-csv', {
    body: { file: csv },
    // The document says multipart/form-data; the file goes as a Blob so it carries its name and type.
    bodySerializer: ({ file }) => {
      const form = new FormData()
      form.append('file', new Blob([file], { type: 'text/csv' }), 'tasks.csv')
      return form
    }
  })
  t.equal(accepted.response.status, 202, JSON.stringify(accepted.error))
  const importId = accepted.data?.import_id
  if (importId === undefined) throw new Error('upload refused')
  t.match(accepted.data, { status: 'queued', total_rows: 2 })

  let status = (await api.GET('/tasks/imports/{import_id}', { params: { path: { import_id: importId } } })).data
  for (let polls = 0; status !== undefined && status.status !== 'done' && status.status !== 'failed' && polls < 400; polls++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    status = (await api.GET('/tasks/imports/{import_id}', { params: { path: { import_id: importId } } })).data
  }
  t.match(status, { status: 'done', processed_rows: 2, imported: 1, errors: [{ row: 3, message: /mallory/ }] })

  const records = await api.GET('/tasks/task-records', { params: { query: { page: 1, per_page: 50 } } })
  t.equal(records.response.status, 200)
  t.ok(records.data?.records.some((record) => record.task_name === 'Imported one'), 'the imported task is listed')
})

await t.test('without a token the client gets the documented 401', async (t) => {
  const anonymous = createTaskApiClient({ baseUrl })
  const res = await anonymous.GET('/tasks/task/{date}', { params: { path: { date: day } } })
  t.equal(res.response.status, 401)
  t.match(res.error, { statusCode: 401, error: 'Unauthorized' })
})
