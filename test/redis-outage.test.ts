import t from 'tap'
import postgres from 'postgres'
import { Redis } from 'ioredis'
import { buildFromConfig, createTestDatabase, isCleanError, JWT_SECRET, signUp } from './helper.js'
import { loadConfig } from '../src/config.js'
import { privateRedis, tcpProxy, waitFor } from './fault-helpers.js'

// Every scenario here runs against a redis-server of its own (or a proxy in front of it), never the shared one.
t.setTimeout(120_000)

const day = '2025-09-01'

async function configFor (redisUrl: string, env: Record<string, string> = {}) {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    JWT_SECRET,
    DATABASE_URL: await createTestDatabase(t),
    REDIS_URL: redisUrl,
    REDIS_COMMAND_TIMEOUT_MS: '500',
    RATE_LIMIT_MAX: '1000',
    RATE_LIMIT_TASK_LIST_MAX: '1000',
    ...env
  })
}

const cachedNames = (json: string | null): string[] => (JSON.parse(json ?? '[]') as Array<{ task_name: string }>).map((task) => task.task_name)
const names = (body: { task_list: Array<{ task_name: string }> }): string[] => body.task_list.map((task) => task.task_name)

await t.test('the API starts without Redis, serves from PostgreSQL, and picks Redis up when it comes', async (t) => {
  const redis = await privateRedis(t) // not started yet
  const app = await buildFromConfig(t, await configFor(redis.url))

  const health = await app.inject({ method: 'GET', url: '/api/health/redis' })
  t.equal(health.statusCode, 503, 'health says Redis is down')
  t.same(health.json(), { status: 'error' })

  const alice = await signUp(app, 'alice')
  const created = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'offline write', date: day } })
  t.equal(created.statusCode, 201, 'a write commits without Redis')
  const list = await app.inject({ method: 'GET', url: `/tasks/task/${day}`, headers: alice.auth })
  t.equal(list.statusCode, 200, 'a read is served from PostgreSQL')
  t.same(names(list.json()), ['offline write'])
  t.equal((await app.inject({ method: 'GET', url: '/api/check-limiter' })).statusCode, 200, 'the limiter fails open by default')

  await redis.start()
  await waitFor('health to recover', async () => (await app.inject({ method: 'GET', url: '/api/health/redis' })).statusCode === 200)
  await waitFor('the cache to be usable', () => !(app.taskListCache as unknown as { purgePending: boolean }).purgePending)
  t.same(names((await app.inject({ method: 'GET', url: `/tasks/task/${day}`, headers: alice.auth })).json()), ['offline write'])
  const direct = new Redis(redis.url)
  t.teardown(() => { direct.disconnect() })
  t.ok(await direct.exists(`task:${day}:user:${alice.id}`), 'lists are cached in Redis again')
  const limited = await app.inject({ method: 'GET', url: '/api/check-limiter' })
  t.equal(limited.headers['x-ratelimit-remaining'], '4', 'limits are counted in Redis again')
})

await t.test('Redis stopped while serving: nothing crashes, writes commit, and no stale list after it returns', async (t) => {
  const server = await privateRedis(t)
  await server.start()
  // The proxy lets Redis keep its data while the API loses it: the stale lists are still there when it returns.
  const proxy = await tcpProxy(t, { host: '127.0.0.1', port: server.port })
  const config = await configFor(`redis://127.0.0.1:${proxy.port}`)
  const app = await buildFromConfig(t, config)
  const other = await buildFromConfig(t, config) // a second API process that only reads
  const admin = await signUp(app, 'boss', { role: 'admin' })
  const alice = await signUp(app, 'alice')

  const created = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'before', date: day } })
  const id = created.json().task.id as number
  for (const [api, session] of [[app, alice], [other, alice], [app, admin], [other, admin]] as const) {
    t.same(names((await api.inject({ method: 'GET', url: `/tasks/task/${day}`, headers: session.auth })).json()), ['before'])
  }

  await proxy.cut()
  await waitFor('the API to notice', () => app.redis.status !== 'ready' && other.redis.status !== 'ready')
  t.equal((await app.inject({ method: 'GET', url: '/api/health/redis' })).statusCode, 503)

  const updated = await app.inject({ method: 'PUT', url: `/tasks/update-task/${id}`, headers: alice.auth, payload: { task_name: 'during' } })
  t.equal(updated.statusCode, 200, 'the write commits')
  const sql = postgres(config.db.url as string, { max: 1 })
  t.teardown(async () => { await sql.end() })
  const [row] = await sql`select task_name from tasks where id = ${id}`
  t.equal(row?.task_name, 'during')
  const [audit] = await sql`select count(*)::int as n from task_audit where task_id = ${id} and action = 'updated'`
  t.equal(audit?.n, 1, 'with its audit row')

  for (const api of [app, other]) {
    const read = await api.inject({ method: 'GET', url: `/tasks/task/${day}`, headers: alice.auth })
    t.equal(read.statusCode, 200, 'reads answer from PostgreSQL')
    t.same(names(read.json()), ['during'])
  }

  const direct = new Redis(server.url)
  t.teardown(() => { direct.disconnect() })
  t.same(cachedNames(await direct.get(`task:${day}`)), ['before'], 'Redis still holds the stale admin list')

  await proxy.restore()
  // From the moment Redis answers again, every read must show the write, through either process.
  await waitFor('both processes to reconnect', () => app.redis.status === 'ready' && other.redis.status === 'ready')
  for (const [api, session] of [[other, admin], [other, alice], [app, admin], [app, alice]] as const) {
    t.same(names((await api.inject({ method: 'GET', url: `/tasks/task/${day}`, headers: session.auth })).json()), ['during'], 'no stale list')
  }
  await waitFor('the purge', () => !(app.taskListCache as unknown as { purgePending: boolean }).purgePending)
  t.same(names((await app.inject({ method: 'GET', url: `/tasks/task/${day}`, headers: admin.auth })).json()), ['during'])
  t.same(cachedNames(await direct.get(`task:${day}`)), ['during'], 'the fresh list replaced the stale one in Redis')
  t.equal((await app.inject({ method: 'GET', url: '/api/health/redis' })).statusCode, 200)
})

await t.test('Redis silent on an open connection: detected, served from PostgreSQL, recovered', async (t) => {
  const server = await privateRedis(t)
  await server.start()
  const proxy = await tcpProxy(t, { host: '127.0.0.1', port: server.port })
  const app = await buildFromConfig(t, await configFor(`redis://127.0.0.1:${proxy.port}`))
  const alice = await signUp(app, 'alice')
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'before', date: day } })
  t.same(names((await app.inject({ method: 'GET', url: `/tasks/task/${day}`, headers: alice.auth })).json()), ['before'])

  proxy.stall()
  // ioredis alone would keep the silent connection 'ready' forever, each command waiting its timeout.
  await waitFor('the watchdog to drop the silent connection', () => app.redis.status !== 'ready')
  t.equal((await app.inject({ method: 'GET', url: '/api/health/redis' })).statusCode, 503)
  const list = await app.inject({ method: 'GET', url: `/tasks/task/${day}`, headers: alice.auth })
  t.equal(list.statusCode, 200)
  const id = list.json().task_list[0].id as number
  t.equal((await app.inject({ method: 'PUT', url: `/tasks/update-task/${id}`, headers: alice.auth, payload: { task_name: 'after' } })).statusCode, 200)

  await proxy.restore()
  await waitFor('Redis to be back', async () => (await app.inject({ method: 'GET', url: '/api/health/redis' })).statusCode === 200)
  t.same(names((await app.inject({ method: 'GET', url: `/tasks/task/${day}`, headers: alice.auth })).json()), ['after'], 'no stale list')
})

await t.test('RATE_LIMIT_FAIL_OPEN=false refuses limited requests with 503 while Redis is away', async (t) => {
  const redis = await privateRedis(t)
  const app = await buildFromConfig(t, await configFor(redis.url, { RATE_LIMIT_FAIL_OPEN: 'false' }))
  const refused = await app.inject({ method: 'GET', url: '/api/check-limiter' })
  t.equal(refused.statusCode, 503)
  t.ok(isCleanError(refused))
  t.equal((await app.inject({ method: 'GET', url: '/api/health/db' })).statusCode, 200, 'health checks are not limited')
  await redis.start()
  await waitFor('the limiter to work again', async () => (await app.inject({ method: 'GET', url: '/api/check-limiter' })).statusCode === 200)
})

await t.test('login stays limited per IP and per username while Redis is away (in-process counts)', async (t) => {
  const redis = await privateRedis(t)
  await redis.start()
  const app = await buildFromConfig(t, await configFor(redis.url, { RATE_LIMIT_LOGIN_MAX: '3', RATE_LIMIT_LOGIN_USERNAME_MAX: '4' }))
  await signUp(app, 'victim')
  await redis.stop()
  await waitFor('the API to notice', () => app.redis.status !== 'ready')

  const perIp = []
  for (let i = 0; i < 4; i++) {
    perIp.push((await app.inject({ method: 'POST', url: '/users/login', remoteAddress: '10.9.0.1', payload: { username: `guess${i}`, password: 'password1' } })).statusCode)
  }
  t.same(perIp, [401, 401, 401, 429], 'per IP')

  const perUsername = []
  for (let i = 0; i < 5; i++) {
    perUsername.push((await app.inject({ method: 'POST', url: '/users/login', remoteAddress: `10.9.1.${i}`, payload: { username: 'victim', password: `wrong-${i}-password` } })).statusCode)
  }
  t.same(perUsername, [401, 401, 401, 401, 429], 'per username, whatever the IP')
})
