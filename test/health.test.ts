import t from 'tap'
import { build, isCleanError } from './helper.js'

await t.test('health reports both dependencies with their latency', async (t) => {
  const app = await build(t)
  const db = await app.inject({ method: 'GET', url: '/api/health/db' })
  t.equal(db.statusCode, 200)
  t.match(db.json(), { status: 'ok', latency_ms: Number, backend: 'postgres' })
  const redis = await app.inject({ method: 'GET', url: '/api/health/redis' })
  t.equal(redis.statusCode, 200)
  t.match(redis.json(), { status: 'ok', latency_ms: Number, backend: 'redis' })
})

await t.test('health answers 503 {status: "error"} without internal detail when a dependency is gone', async (t) => {
  const app = await build(t)
  app.redis.disconnect()
  const redis = await app.inject({ method: 'GET', url: '/api/health/redis' })
  t.equal(redis.statusCode, 503)
  t.same(redis.json(), { status: 'error' })
})

await t.test('requests that need a database which is gone answer 503 in the error shape', async (t) => {
  const app = await build(t, { RATE_LIMIT_FAIL_OPEN: 'true' })
  app.redis.disconnect()
  await app.inject({ method: 'GET', url: '/api/health/db' })
  // Closing the pool is what a lost database looks like to the app.
  const handle = app.db as unknown as { $client: { end: () => Promise<void> } }
  await handle.$client.end()
  const db = await app.inject({ method: 'GET', url: '/api/health/db' })
  t.equal(db.statusCode, 503)
  t.same(db.json(), { status: 'error' })
  const login = await app.inject({ method: 'POST', url: '/users/login', payload: { username: 'someone', password: 'password1' } })
  t.equal(login.statusCode, 503)
  t.ok(isCleanError(login))
})
