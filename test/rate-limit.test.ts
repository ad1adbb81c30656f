import t from 'tap'
import { build, buildFromConfig, signUp, testConfig } from './helper.js'

const config = await testConfig(t, {
  RATE_LIMIT_MAX: '8',
  RATE_LIMIT_TASK_LIST_MAX: '3',
  RATE_LIMIT_CHECK_MAX: '2',
  RATE_LIMIT_LOGIN_MAX: '4'
})
const app = await buildFromConfig(t, config)

await t.test('check-limiter reports the limit and what remains, then refuses with 429 and the headers', async (t) => {
  const first = await app.inject({ method: 'GET', url: '/api/check-limiter', remoteAddress: '10.0.0.1' })
  t.equal(first.statusCode, 200)
  t.same(first.json(), { status: 'ok', client_ip: '10.0.0.1', limit: 2, remaining: 1 })
  t.equal(first.headers['x-ratelimit-limit'], '2')
  t.equal(first.headers['x-ratelimit-remaining'], '1')
  t.equal((await app.inject({ method: 'GET', url: '/api/check-limiter', remoteAddress: '10.0.0.1' })).json().remaining, 0)

  const refused = await app.inject({ method: 'GET', url: '/api/check-limiter', remoteAddress: '10.0.0.1' })
  t.equal(refused.statusCode, 429)
  t.match(refused.json(), { statusCode: 429, error: 'Too Many Requests', message: String })
  t.ok(Number(refused.headers['retry-after']) > 0)
  t.equal(refused.headers['x-ratelimit-remaining'], '0')
  t.ok(Number(refused.headers['x-ratelimit-reset']) > 0)

  const otherClient = await app.inject({ method: 'GET', url: '/api/check-limiter', remoteAddress: '10.0.0.2' })
  t.equal(otherClient.statusCode, 200, 'counted per client IP')
})

await t.test('login is limited per IP whatever the username (brute force)', async (t) => {
  const attempts = []
  for (let i = 0; i < 5; i++) {
    attempts.push((await app.inject({
      method: 'POST', url: '/users/login', remoteAddress: '10.0.1.1', payload: { username: `guess${i}`, password: 'password1' }
    })).statusCode)
  }
  t.same(attempts, [401, 401, 401, 401, 429])
})

await t.test('the list route has its own per-user limit', async (t) => {
  const alice = await signUp(app, 'alice')
  const bob = await signUp(app, 'bob')
  const statuses = []
  for (let i = 0; i < 4; i++) {
    statuses.push((await app.inject({ method: 'GET', url: '/tasks/task/2025-04-06', headers: alice.auth })).statusCode)
  }
  t.same(statuses, [404, 404, 404, 429])
  t.equal((await app.inject({ method: 'GET', url: '/tasks/task/2025-04-06', headers: bob.auth })).statusCode, 404, 'bob has his own count')
})

await t.test('the global limit counts per user across every route, shared by two API processes', async (t) => {
  const carol = await signUp(app, 'carol')
  const other = await buildFromConfig(t, config)
  const statuses = []
  for (let i = 0; i < 9; i++) {
    const target = i % 2 === 0 ? app : other
    statuses.push((await target.inject({ method: 'GET', url: '/users/profile', headers: carol.auth, remoteAddress: `10.0.2.${i}` })).statusCode)
  }
  t.same(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 429])
})

await t.test('a leased limit is shared by two API processes and never exceeded', async (t) => {
  // 64 hits: each process takes leases of 4 and counts them itself; near the limit, hits are counted one by one.
  const leased = { ...config, rateLimit: { ...config.rateLimit, global: { ...config.rateLimit.global, max: 64 } } }
  const [one, two] = [await buildFromConfig(t, leased), await buildFromConfig(t, leased)]
  const frank = await signUp(one, 'frank')
  const statuses: number[] = []
  const remaining: number[] = []
  for (let i = 0; i < 80; i++) {
    const res = await (i % 2 === 0 ? one : two).inject({ method: 'GET', url: '/users/profile', headers: frank.auth })
    statuses.push(res.statusCode)
    if (i % 2 === 0) remaining.push(Number(res.headers['x-ratelimit-remaining']))
  }
  const admitted = statuses.filter((status) => status === 200).length
  // Leases one process took and did not use are lost to the other until the window ends: at most 3 each.
  t.ok(admitted <= 64 && admitted >= 64 - 2 * 3, `${admitted} admitted`)
  t.same(statuses.slice(0, 40), Array(40).fill(200), 'far from the limit, every hit is admitted')
  t.same(statuses.slice(-8), Array(8).fill(429), 'past it, none')
  t.ok(remaining.every((value, i) => i === 0 || value < (remaining[i - 1] as number) || value === 0), 'remaining goes down in each process')
})

await t.test('health checks are not rate limited', async (t) => {
  for (let i = 0; i < 10; i++) {
    t.equal((await app.inject({ method: 'GET', url: '/api/health/db', remoteAddress: '10.0.3.1' })).statusCode, 200)
  }
})

await t.test('a revoked token is refused and does not use up its user\'s limit', async (t) => {
  const app = await build(t, { RATE_LIMIT_TASK_LIST_MAX: '3' })
  const dave = await signUp(app, 'dave')
  const login = await app.inject({ method: 'POST', url: '/users/login', payload: { username: 'dave', password: 'dave-password' } })
  const stolen = { authorization: `Bearer ${login.json<{ access_token: string }>().access_token}` }
  t.equal((await app.inject({ method: 'POST', url: '/users/logout', headers: stolen })).statusCode, 200)
  for (let i = 0; i < 5; i++) {
    t.equal((await app.inject({ method: 'GET', url: '/tasks/task/2025-04-06', headers: stolen })).statusCode, 401)
  }
  const statuses = []
  for (let i = 0; i < 4; i++) {
    statuses.push((await app.inject({ method: 'GET', url: '/tasks/task/2025-04-06', headers: dave.auth })).statusCode)
  }
  t.same(statuses, [404, 404, 404, 429], 'dave\'s own token still has his whole limit')
})

await t.test('a token issued before a password change is not counted either, even when its user\'s state is not cached', async (t) => {
  const app = await build(t, { RATE_LIMIT_TASK_LIST_MAX: '3' })
  const erin = await signUp(app, 'erin')
  const changed = await app.inject({
    method: 'POST', url: '/users/change-password', headers: erin.auth, payload: { current_password: 'erin-password', new_password: 'erin-new-password' }
  })
  t.equal(changed.statusCode, 200)
  const fresh = { authorization: `Bearer ${changed.json<{ access_token: string }>().access_token}` }
  await app.tokens.forget(erin.id)
  for (let i = 0; i < 4; i++) {
    t.equal((await app.inject({ method: 'GET', url: '/tasks/task/2025-04-06', headers: erin.auth })).statusCode, 401)
  }
  const statuses = []
  for (let i = 0; i < 4; i++) {
    statuses.push((await app.inject({ method: 'GET', url: '/tasks/task/2025-04-06', headers: fresh })).statusCode)
  }
  t.same(statuses, [404, 404, 404, 429])
})
