import t from 'tap'
import { loadConfig } from '../src/config.js'
import { buildFromConfig, signUp } from './helper.js'
import { upload, waitForImport } from './import-helper.js'

// The embedded default: no DATABASE_URL, no REDIS_URL. The API runs the import job itself.
const app = await buildFromConfig(t, loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', PGLITE_DATA_DIR: 'memory://', IMPORT_BATCH_SIZE: '50' }))

await t.test('without Redis a CSV import runs in the API process, with the same processor', async (t) => {
  const admin = await signUp(app, 'admin', { role: 'admin' })
  await signUp(app, 'alice')
  const lines = ['task_name,priority,created_at,assigned_user,status']
  for (let i = 1; i <= 300; i++) lines.push(`embedded ${i},HIGH,06/30/2025,alice,yes`)
  lines.push('bad one,HIGH,06/30/2025,nobody,yes')
  const response = await upload(app, admin.auth, lines.join('\n'))
  t.equal(response.statusCode, 202, response.body)
  const status = await waitForImport(app, admin.auth, response.json().import_id)
  t.match(status, { status: 'done', total_rows: 301, processed_rows: 301, imported: 300, errors: [{ row: 302, message: /nobody/ }] })
  const day = await app.inject({ method: 'GET', url: '/tasks/task/2025-06-30', headers: admin.auth })
  t.equal(day.json().task_list.length, 300)
})
