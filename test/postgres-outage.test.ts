import t from 'tap'
import postgres from 'postgres'
import { buildFromConfig, createTestDatabase, isCleanError, JWT_SECRET, REDIS_URL, createRedisPrefix, signUp } from './helper.js'
import { loadConfig } from '../src/config.js'
import { tcpProxy, waitFor } from './fault-helpers.js'

t.setTimeout(120_000)
type Test = Parameters<Extract<Parameters<typeof t.test>[0], (...args: never[]) => unknown>>[0]

// The app reaches its database through a proxy this test can cut; the test itself reads the rows directly.
const directUrl = await createTestDatabase(t)
const target = new URL(directUrl)
const proxy = await tcpProxy(t, { host: target.hostname, port: Number(target.port || 5432) })
const proxiedUrl = new URL(directUrl)
proxiedUrl.port = String(proxy.port)
const app = await buildFromConfig(t, loadConfig({
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  JWT_SECRET,
  DATABASE_URL: proxiedUrl.toString(),
  DB_CONNECT_TIMEOUT_S: '1',
  HANDLER_TIMEOUT_MS: '1500',
  REDIS_URL,
  REDIS_KEY_PREFIX: createRedisPrefix(t),
  RATE_LIMIT_MAX: '1000',
  RATE_LIMIT_TASK_LIST_MAX: '1000'
}))
const sql = postgres(directUrl, { max: 1, onnotice: () => {} })
t.teardown(async () => { await sql.end() })

const alice = await signUp(app, 'alice')
const created = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'kept', date: '2025-10-01' } })
const taskId = created.json().task.id as number

const requestsNeedingTheDatabase = [
  { method: 'GET', url: '/tasks/task/2025-10-02' },
  { method: 'GET', url: `/tasks/task-log/${taskId}` },
  { method: 'PUT', url: `/tasks/update-task/${taskId}`, payload: { priority: 'HIGH' } },
  { method: 'POST', url: '/tasks/create-task', payload: { task_name: 'lost', date: '2025-10-01' } }
] as const

async function assertUnavailable (t: Test): Promise<void> {
  const health = await app.inject({ method: 'GET', url: '/api/health/db' })
  t.equal(health.statusCode, 503, 'health says the database is down')
  t.same(health.json(), { status: 'error' })
  for (const request of requestsNeedingTheDatabase) {
    const res = await app.inject({ ...request, headers: alice.auth })
    t.equal(res.statusCode, 503, `${request.method} ${request.url} answers 503`)
    t.ok(isCleanError(res), 'in the error shape, nothing internal')
  }
  const login = await app.inject({ method: 'POST', url: '/users/login', payload: { username: 'alice', password: 'alice-password' } })
  t.equal(login.statusCode, 503, 'login answers 503')
}

async function assertRecovers (t: Test): Promise<void> {
  await proxy.restore()
  await waitFor('the database to be back', async () => (await app.inject({ method: 'GET', url: '/api/health/db' })).statusCode === 200)
  const res = await app.inject({ method: 'PUT', url: `/tasks/update-task/${taskId}`, headers: alice.auth, payload: { description: `after ${t.name}` } })
  t.equal(res.statusCode, 200, 'requests work again without a restart')
}

await t.test('PostgreSQL refusing connections: 503 at once, health says so, recovery by itself', async (t) => {
  await proxy.cut()
  await assertUnavailable(t)
  await assertRecovers(t)
})

await t.test('PostgreSQL silent (connections hang): 503 within the connect timeout, nothing hangs', async (t) => {
  await proxy.blackhole()
  await assertUnavailable(t)
  await assertRecovers(t)
})

await t.test('PostgreSQL silent on open connections: every request still gets its 503, then recovery', async (t) => {
  proxy.stall()
  await assertUnavailable(t)
  await assertRecovers(t)
})

await t.test('a write cut off between its task row and its audit row leaves neither', async (t) => {
  let armed = true
  proxy.inspect = (chunk) => {
    if (armed && chunk.includes('insert into "task_audit"')) {
      armed = false
      return 'cut'
    }
    return 'pass'
  }
  t.teardown(() => { proxy.inspect = undefined })
  const res = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'half written', date: '2025-10-03' } })
  t.notOk(armed, 'the connection was cut while the audit row was being written')
  t.equal(res.statusCode, 503)
  t.ok(isCleanError(res))
  await waitFor('the database to be back', async () => (await app.inject({ method: 'GET', url: '/api/health/db' })).statusCode === 200)
  t.same(await sql`select id from tasks where task_name = 'half written'`, [], 'no task row without its audit row')
  const [orphans] = await sql`select count(*)::int as n from tasks t where not exists (select 1 from task_audit a where a.task_id = t.id and a.action = 'created')`
  t.equal(orphans?.n, 0, 'every task has its created audit row')

  const retried = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'half written', date: '2025-10-03' } })
  t.equal(retried.statusCode, 201, 'the retry succeeds')
  const [audits] = await sql`select count(*)::int as n from task_audit where task_id = ${retried.json().task.id}`
  t.equal(audits?.n, 1, 'with exactly one audit row')
})
