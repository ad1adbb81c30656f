import t from 'tap'
import { loadConfig } from '../src/config.js'
import { buildFromConfig, signUp } from './helper.js'

// The embedded default: no DATABASE_URL, no REDIS_URL. PGlite in memory, in-process cache, limiter and jobs.
const app = await buildFromConfig(t, loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', PGLITE_DATA_DIR: 'memory://' }))

await t.test('the whole API works with no PostgreSQL and no Redis server', async (t) => {
  t.equal(app.dbKind, 'pglite')
  t.match((await app.inject({ method: 'GET', url: '/api/health/db' })).json(), { status: 'ok', backend: 'pglite' })
  t.match((await app.inject({ method: 'GET', url: '/api/health/redis' })).json(), { status: 'ok', backend: 'memory' })

  const admin = await signUp(app, 'admin', { role: 'admin' })
  const alice = await signUp(app, 'alice')
  const created = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: admin.auth, payload: { task_name: 'embedded', date: '2025-04-06', assigned_user: alice.id } })
  t.equal(created.statusCode, 201)
  const id = created.json().task.id

  const listed = await app.inject({ method: 'GET', url: '/tasks/task/2025-04-06', headers: alice.auth })
  t.same(listed.json().task_list.map((task: { id: number }) => task.id), [id])
  await app.inject({ method: 'PUT', url: `/tasks/update-task/${id}`, headers: alice.auth, payload: { priority: 'HIGH' } })
  t.equal((await app.inject({ method: 'GET', url: '/tasks/task/2025-04-06', headers: alice.auth })).json().task_list[0].priority, 'HIGH', 'in-process cache invalidated')
  t.equal((await app.inject({ method: 'DELETE', url: `/tasks/delete/${id}`, headers: alice.auth })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/tasks/task/2025-04-06', headers: alice.auth })).statusCode, 404)
  const log = await app.inject({ method: 'GET', url: `/tasks/task-log/${id}`, headers: admin.auth })
  t.same(log.json().logs.map((l: { action: string }) => l.action), ['deleted', 'updated', 'created'])

  const limited = []
  for (let i = 0; i < 6; i++) limited.push((await app.inject({ method: 'GET', url: '/api/check-limiter' })).statusCode)
  t.same(limited, [200, 200, 200, 200, 200, 429], 'the in-memory limiter applies the same rules')
})
