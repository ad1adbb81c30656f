import t from 'tap'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { createResilientTaskListCache } from '../src/cache/resilient-task-list-cache.js'
import { createRedisTaskListCache } from '../src/cache/task-list-cache.js'
import { redisMonitor, waitFor } from './fault-helpers.js'
import { createRedisPrefix, REDIS_URL, signUp, testConfig, buildFromConfig } from './helper.js'

const config = await testConfig(t, { RATE_LIMIT_MAX: '10000', RATE_LIMIT_TASK_LIST_MAX: '10000' })
const app = await buildFromConfig(t, config)
const prefix = config.redis.keyPrefix
const redis = new Redis(REDIS_URL)
t.teardown(() => { redis.disconnect() })

const admin = await signUp(app, 'boss', { role: 'admin' })
const alice = await signUp(app, 'alice')
const bob = await signUp(app, 'bob')

const list = async (session: { auth: Record<string, string> }, date: string) =>
  await app.inject({ method: 'GET', url: `/tasks/task/${date}`, headers: session.auth })
const names = async (session: { auth: Record<string, string> }, date: string): Promise<string[]> => {
  const res = await list(session, date)
  return res.statusCode === 404 ? [] : res.json().task_list.map((task: { task_name: string }) => task.task_name)
}

await t.test('lists are cached for an hour under task:<date> (admin) and task:<date>:user:<id>', async (t) => {
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'a1', date: '2025-04-06' } })
  await list(alice, '2025-04-06')
  await list(admin, '2025-04-06')
  const keys = (await redis.keys(`${prefix}task:*`)).map((key) => key.slice(prefix.length)).sort()
  t.same(keys, ['task:2025-04-06', `task:2025-04-06:user:${alice.id}`])
  const ttl = await redis.ttl(`${prefix}task:2025-04-06:user:${alice.id}`)
  t.ok(ttl > 3500 && ttl <= 3600, `ttl ${ttl}`)
  t.same(JSON.parse(await redis.get(`${prefix}task:2025-04-06`) ?? 'null').map((task: { task_name: string }) => task.task_name), ['a1'])
})

await t.test('a cached list is served from the cache', async (t) => {
  const key = `${prefix}task:2025-04-06:user:${alice.id}`
  const cached = JSON.parse(await redis.get(key) ?? '[]')
  cached[0].task_name = 'served from cache'
  await redis.set(key, JSON.stringify(cached), 'EX', 60)
  // A second API process holds no copy of its own: the list comes from Redis.
  const other = await buildFromConfig(t, config)
  const res = await other.inject({ method: 'GET', url: '/tasks/task/2025-04-06', headers: alice.auth })
  t.same(res.json().task_list.map((task: { task_name: string }) => task.task_name), ['served from cache'])
  await app.taskListCache.invalidate({ dates: ['2025-04-06'], userIds: [alice.id] })
})

await t.test('a list read again is held here, then served without fetching it from Redis while its generation holds', async (t) => {
  const day = '2025-04-07'
  const key = `${prefix}task:${day}:user:${alice.id}`
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'filled', date: day } })
  t.same(await names(alice, day), ['filled'], 'a miss, filled from PostgreSQL')
  // The shared copy is overwritten without moving the generation on, to tell the copies apart.
  const shared = JSON.parse(await redis.get(key) as string)
  shared[0].task_name = 'held'
  await redis.set(key, JSON.stringify(shared), 'EX', 60)
  t.same(await names(alice, day), ['held'], 'a list filled here is not held yet: its next read is from Redis')
  await redis.set(key, '[]', 'EX', 60)
  t.same(await names(alice, day), ['held'], 'read again, it is held: served from this process')
  // Without the in-process copy (CACHE_LOCAL_MAX_BYTES=0) the shared copy is what is served.
  const plain = await buildFromConfig(t, { ...config, cacheLocalMaxBytes: 0 })
  t.equal((await plain.inject({ method: 'GET', url: `/tasks/task/${day}`, headers: alice.auth })).statusCode, 404)
})

await t.test('a list of a date without a generation (never written, or its key expired) gets one at its fill, and can be held', async (t) => {
  const day = '2025-04-10'
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'kept', date: day } })
  await redis.del(`${prefix}task-generation:${day}`)
  t.same(await names(alice, day), ['kept'], 'a miss: filled from PostgreSQL')
  const generation = await redis.get(`${prefix}task-generation:${day}`)
  t.ok(generation !== null && BigInt(generation) > 1n, 'the fill gave the date a generation from the clock')
  t.same(await names(alice, day), ['kept'], 'read again, from Redis, with that generation')
  // The shared copy changes without the generation moving on: this process serves the copy it holds.
  await redis.set(`${prefix}task:${day}:user:${alice.id}`, '[]', 'EX', 60)
  t.same(await names(alice, day), ['kept'])
  // A write moves the generation on: the copy is dropped and the list read again.
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'next', date: day } })
  t.same(await names(alice, day), ['kept', 'next'])
})

await t.test('readers who miss one list at once share one query; a read after a write starts its own', async (t) => {
  const day = '2025-04-21'
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'shared', date: day } })
  const sql = postgres(config.db.url as string, { max: 2, onnotice: () => {} })
  t.teardown(async () => { await sql.end() })
  // The table locked here holds every list query the API sends: each is a backend waiting in pg_stat_activity.
  const waiting = async (): Promise<number> => {
    const [row] = await sql<Array<{ n: number }>>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and query like '%string_agg%'`
    return row?.n ?? 0
  }
  const lock = await sql.reserve()
  await lock`begin`
  await lock`lock table tasks in access exclusive mode`
  let together, after
  try {
    together = Promise.all(Array.from({ length: 5 }, async () => await list(alice, day)))
    await waitFor('a list query', async () => await waiting() >= 1)
    // Time for the other four to reach PostgreSQL, were they going to.
    await new Promise((resolve) => setTimeout(resolve, 300))
    t.equal(await waiting(), 1, 'five readers, one query')
    // A write's invalidation moves the date's generation on: a read after it must not take the older query's answer.
    await app.taskListCache.invalidate({ dates: [day], userIds: [alice.id] })
    after = list(alice, day)
    await waitFor('a second list query', async () => await waiting() >= 2)
    t.equal(await waiting(), 2, 'the read after the write: a query of its own')
  } finally {
    await lock`commit`
    lock.release()
  }
  const responses = [...await together, await after]
  t.same(responses.map((res) => res.statusCode), [200, 200, 200, 200, 200, 200])
  t.same(responses.map((res) => res.json().task_list.map((task: { task_name: string }) => task.task_name)), Array(6).fill(['shared']))
})

await t.test('the cached list is the JSON of the tasks as the API shows them elsewhere', async (t) => {
  const day = '2025-04-08'
  const created = []
  for (const payload of [
    { task_name: 'quote " backslash \\ tab \t é ✓ 🚀', description: 'line\nbreak', priority: 'HIGH', date: day },
    { task_name: 'no description', date: day }
  ]) {
    const res = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload })
    created.push(res.json().task)
  }
  const res = await list(alice, day)
  t.equal(res.statusCode, 200)
  t.same(res.json().task_list, created)
  t.equal(JSON.stringify(res.json().task_list), JSON.stringify(created), 'same keys in the same order')
  t.equal(await redis.get(`${prefix}task:${day}:user:${alice.id}`), JSON.stringify(created), 'cached byte for byte')
})

await t.test('every write is visible in the very next read (create, update, move to another date, delete)', async (t) => {
  const day1 = '2025-06-01'
  const day2 = '2025-06-02'
  t.same(await names(alice, day1), [])
  t.same(await names(admin, day1), [])
  const created = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: admin.auth, payload: { task_name: 'shared', date: day1, assigned_user: alice.id } })
  const id = created.json().task.id
  t.same(await names(alice, day1), ['shared'], 'assignee sees the create')
  t.same(await names(admin, day1), ['shared'], 'admin sees the create')

  await app.inject({ method: 'PUT', url: `/tasks/update-task/${id}`, headers: alice.auth, payload: { task_name: 'renamed' } })
  t.same(await names(admin, day1), ['renamed'])
  t.same(await names(alice, day1), ['renamed'])

  t.same(await names(alice, day2), [])
  await app.inject({ method: 'PUT', url: `/tasks/update-task/${id}`, headers: alice.auth, payload: { date: day2 } })
  t.same(await names(alice, day1), [], 'gone from the old date')
  t.same(await names(alice, day2), ['renamed'], 'present on the new date')

  t.same(await names(bob, day2), [])
  await app.inject({ method: 'PUT', url: `/tasks/update-task/${id}`, headers: admin.auth, payload: { assigned_user: bob.id } })
  t.same(await names(bob, day2), ['renamed'], 'the new assignee sees it')
  t.same(await names(alice, day2), [], 'the old assignee does not')

  await app.inject({ method: 'DELETE', url: `/tasks/delete/${id}`, headers: admin.auth })
  t.same(await names(bob, day2), [])
  t.same(await names(admin, day2), [])
})

await t.test('a list read before a write is not stored after it (no stale fill)', async (t) => {
  const client = new Redis(REDIS_URL, { keyPrefix: createRedisPrefix(t) })
  t.teardown(() => { client.disconnect() })
  const cache = createRedisTaskListCache(client, 3600)
  const viewer = { role: 'admin' } as const
  const missed = await cache.read('2025-07-01', viewer)
  t.equal(missed.json, null)
  await cache.invalidate({ dates: ['2025-07-01'], userIds: [] })
  await cache.fill('2025-07-01', viewer, Buffer.from('["stale"]'), missed.generation)
  t.equal((await cache.read('2025-07-01', viewer)).json, null, 'the stale list was refused')
  const fresh = await cache.read('2025-07-01', viewer)
  await cache.fill('2025-07-01', viewer, Buffer.from('["fresh"]'), fresh.generation)
  t.equal((await cache.read('2025-07-01', viewer)).json?.toString(), '["fresh"]')
})

await t.test('invalidations asked for in one turn go to Redis as one script; each is answered only once it is done', async (t) => {
  const keyPrefix = createRedisPrefix(t)
  const client = new Redis(REDIS_URL, { keyPrefix })
  t.teardown(() => { client.disconnect() })
  const cache = createRedisTaskListCache(client, 3600)
  const admin = { role: 'admin' } as const
  const user = (userId: number) => ({ role: 'user', userId }) as const
  const dates = ['2025-07-11', '2025-07-12', '2025-07-13']
  const fill = async (date: string, viewer: typeof admin | ReturnType<typeof user>): Promise<void> => {
    await cache.fill(date, viewer, Buffer.from(`["${date}"]`), (await cache.read(date, viewer)).generation)
  }
  for (const date of dates) {
    await fill(date, admin)
    await fill(date, user(7))
    await fill(date, user(8))
  }
  const before = await client.mget(...dates.map((date) => `task-generation:${date}`))

  const monitor = await redisMonitor(REDIS_URL)
  // Each write's continuation reads its own lists as soon as its invalidation resolves.
  const seen = await Promise.all(dates.map(async (date) => {
    await cache.invalidate({ dates: [date], userIds: [7] })
    return [(await cache.read(date, admin)).json, (await cache.read(date, user(7))).json]
  }))
  await new Promise((resolve) => setTimeout(resolve, 200))
  await monitor.stop()
  const sent = monitor.commands
    .filter(({ args, source }) => source !== 'lua' && args.some((arg) => arg.startsWith(`${keyPrefix}task-generation:`)))
    .map(({ args }) => args.join(' '))

  t.same(seen, dates.map(() => [null, null]), 'every writer reads its lists gone once answered')
  // A script is sent as EVALSHA, or as EVAL the first time (NOSCRIPT): either way, one invalidation.
  const invalidations = sent.filter((command) => /^eval(sha)? /i.test(command) && command.includes(`${keyPrefix}coherence:members`))
  t.equal(invalidations.length, 1, sent.join('\n'))
  for (const date of dates) t.match(invalidations[0], `${keyPrefix}task-generation:${date}`)
  const after = await client.mget(...dates.map((date) => `task-generation:${date}`))
  dates.forEach((date, i) => { t.ok(BigInt(after[i] ?? '0') > BigInt(before[i] ?? '0'), `${date}: its generation moved on`) })
  for (const date of dates) {
    t.equal((await cache.read(date, user(8))).json?.toString(), `["${date}"]`, 'a list no write touched is kept')
  }
})

await t.test('a turn with more invalidations than one script can carry sends several, and every one succeeds', async (t) => {
  const client = new Redis(REDIS_URL, { keyPrefix: createRedisPrefix(t) })
  t.teardown(() => { client.disconnect() })
  const cache = createRedisTaskListCache(client, 3600)
  // 1,200 dates x (the admin list and seven users' lists): 9,600 lists, past the ~8,000 values Lua unpacks at once.
  const dates = Array.from({ length: 1200 }, (_, i) => new Date(Date.UTC(2020, 0, 1 + i)).toISOString().slice(0, 10))
  const userIds = [1, 2, 3, 4, 5, 6, 7]
  await cache.fill(dates[1199] as string, { role: 'user', userId: 5 }, Buffer.from('["last"]'), '0')
  const outcomes = await Promise.allSettled(dates.map(async (date) => { await cache.invalidate({ dates: [date], userIds }) }))
  t.same(outcomes.filter((outcome) => outcome.status === 'rejected'), [], 'no invalidation failed')
  t.equal((await cache.read(dates[1199] as string, { role: 'user', userId: 5 })).json, null, 'the last date\'s list is gone too')
  t.equal(await client.exists(...dates.map((date) => `task-generation:${date}`)), dates.length, 'every date has a generation')
})

await t.test('two API processes on one Redis: a write through one is seen by a read through the other', async (t) => {
  const other = await buildFromConfig(t, config)
  const day = '2025-08-01'
  t.same(await names(alice, day), [])
  await other.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'via other', date: day } })
  t.same(await names(alice, day), ['via other'])
})

await t.test('two API processes: a list held in one process is not served after a write through the other', async (t) => {
  const other = await buildFromConfig(t, config)
  const day = '2025-08-02'
  const created = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'before', date: day } })
  const id = created.json().task.id
  // Read twice through this process, so it holds the list.
  t.same(await names(alice, day), ['before'])
  t.same(await names(alice, day), ['before'])
  await other.inject({ method: 'PUT', url: `/tasks/update-task/${id}`, headers: alice.auth, payload: { task_name: 'after' } })
  t.same(await names(alice, day), ['after'], 'the rename through the other process')
  await other.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'second', date: day } })
  t.same(await names(alice, day), ['after', 'second'], 'the create through the other process')
  await other.inject({ method: 'DELETE', url: `/tasks/delete/${id}`, headers: alice.auth })
  t.same(await names(alice, day), ['second'], 'the delete through the other process')
})

await t.test('a list read before its generation expired is not served after a write re-creates it', async (t) => {
  const day = '2025-08-03'
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'old', date: day } })
  t.same(await names(alice, day), ['old'])
  const generationKey = `${prefix}task-generation:${day}`
  const held = await redis.get(generationKey)
  // The generation key expires (it outlives every list by design); a later write must not bring back the
  // generation this process's copy was tagged with.
  await redis.del(generationKey)
  const other = await buildFromConfig(t, config)
  await other.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'new', date: day } })
  const renewed = await redis.get(generationKey)
  t.not(renewed, held)
  t.ok(BigInt(renewed ?? '0') > BigInt(held ?? '0'), 'a generation never goes back')
  t.same(await names(alice, day), ['old', 'new'])
})

await t.test('a write whose invalidation failed: the purge after the outage voids every process\'s in-process copies', async (t) => {
  const date = '2025-09-09'
  const viewer = { role: 'admin' } as const
  const client = new Redis(REDIS_URL, { keyPrefix: `${prefix}purge:` })
  t.teardown(() => { client.disconnect() })
  const reader = createRedisTaskListCache(client, 60, { localMaxBytes: 1_000_000 })
  const writer = createRedisTaskListCache(client, 60, { localMaxBytes: 1_000_000 })

  await writer.invalidate({ dates: [date], userIds: [] }) // the date has a generation, as after any write
  const { generation } = await reader.read(date, viewer)
  await reader.fill(date, viewer, Buffer.from('["before the write"]'), generation)
  t.same((await reader.read(date, viewer)).json?.toString(), '["before the write"]', 'the reader holds the list')

  // The writer's write committed but its invalidation failed: its guard remembers and purges once Redis answers.
  const log = { warn: () => {}, info: () => {} }
  const guarded = createResilientTaskListCache({ ...writer, invalidate: async () => { throw new Error('redis is down') } }, client, log)
  t.teardown(() => { guarded.close() })
  await guarded.invalidate({ dates: [date], userIds: [] })
  t.ok(guarded.purgePending, 'the failure is remembered')
  for (let i = 0; i < 100 && guarded.purgePending; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.notOk(guarded.purgePending, 'purged once Redis answers')

  t.equal((await reader.read(date, viewer)).json, null, 'the other process no longer serves its copy')
})

/**
 * The commands Redis received from clients (not those its scripts ran) with this file's prefix, during `send`;
 * not the coherence channel's lease renewals, which each process makes a few times a second whatever it serves.
 */
async function redisCommandsOf<T> (send: () => Promise<T>): Promise<{ commands: string[], served: T }> {
  const monitor = await redisMonitor(REDIS_URL)
  const served = await send()
  await new Promise((resolve) => setTimeout(resolve, 200))
  await monitor.stop()
  const commands = monitor.commands
    .filter(({ args, source }) => source !== 'lua' && args.some((arg) => arg.startsWith(prefix)) && !args.includes(`${prefix}coherence:members`))
    .map(({ args }) => args.join(' '))
  return { commands, served }
}

await t.test('a cached read makes no Redis command: the token\'s state, a lease of the limit and the list are held here', async (t) => {
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: bob.auth, payload: { task_name: 'b-held', date: '2025-09-09' } })
  const fresh = await buildFromConfig(t, config)
  // Until its channel is trusted (its first lease renewal), a process holds nothing.
  await waitFor('the new process trusting its channel', () => fresh.coherence.trusted)
  const first = await redisCommandsOf(() => fresh.inject({ method: 'GET', url: '/tasks/task/2025-09-09', headers: bob.auth }))
  t.equal(first.served.statusCode, 200)
  t.equal(first.commands.filter((command) => command.includes('rate-limit:')).length, 1, first.commands.join('\n'))
  t.match(first.commands[0], new RegExp(`rate-limit:.*revoked-token:.*user-auth:${bob.id}.*task-generation:2025-09-09`),
    'the first read: one command counts (taking a lease), checks the token and reads the generation along')
  const again = await redisCommandsOf(() => fresh.inject({ method: 'GET', url: '/tasks/task/2025-09-09', headers: bob.auth }))
  t.equal(again.served.statusCode, 200)
  t.equal(again.commands.length, 1, again.commands.join('\n'))
  t.match(again.commands, [new RegExp(`task-generation:2025-09-09.*task:2025-09-09:user:${bob.id}`)],
    'the second: one command reads the list the first filled, with its generation; from then on it is held')

  const held = await redisCommandsOf(async () => [
    await fresh.inject({ method: 'GET', url: '/tasks/task/2025-09-09', headers: bob.auth }),
    await fresh.inject({ method: 'GET', url: '/tasks/task/2025-09-09', headers: bob.auth })
  ])
  t.same(held.served.map((res) => res.json().task_list[0].task_name), ['b-held', 'b-held'])
  const [one, two] = held.served.map((res) => Number(res.headers['x-ratelimit-remaining']))
  t.ok(one !== undefined && one < 10_000 && two === one - 1, `still counted, from the lease (${one}, ${two})`)
  t.same(held.commands, [], 'then none')

  // A write through the other process: announced, applied here before it is answered.
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: bob.auth, payload: { task_name: 'b-next', date: '2025-09-09' } })
  const after = await fresh.inject({ method: 'GET', url: '/tasks/task/2025-09-09', headers: bob.auth })
  t.same(after.json().task_list.map((task: { task_name: string }) => task.task_name), ['b-held', 'b-next'])
  // A logout through the other process, likewise.
  const login = await app.inject({ method: 'POST', url: '/users/login', payload: { username: 'bob', password: 'bob-password' } })
  const second = { authorization: `Bearer ${login.json<{ access_token: string }>().access_token}` }
  t.equal((await fresh.inject({ method: 'GET', url: '/tasks/task/2025-09-09', headers: second })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/users/logout', headers: second })).statusCode, 200)
  t.equal((await fresh.inject({ method: 'GET', url: '/tasks/task/2025-09-09', headers: second })).statusCode, 401)
})

await t.test('a process that does not hold a list gets it in that same command; a changed role reads the right list', async (t) => {
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: bob.auth, payload: { task_name: 'b-ahead', date: '2025-09-10' } })
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'a-ahead', date: '2025-09-10' } })
  t.equal((await list(bob, '2025-09-10')).statusCode, 200, 'filled in Redis by the first process')
  const other = await buildFromConfig(t, config)
  const { commands, served } = await redisCommandsOf(() => other.inject({ method: 'GET', url: '/tasks/task/2025-09-10', headers: bob.auth }))
  t.same(served.json().task_list.map((task: { task_name: string }) => task.task_name), ['b-ahead'])
  t.equal(commands.length, 1, commands.join('\n'))
  t.match(commands[0], new RegExp(`task-generation:2025-09-10 ${prefix}task:2025-09-10:user:${bob.id}`))

  // Bob's token says "user": the command reads his list ahead. Made admin in the database, he is served the
  // whole day (the role the request acts with is the current one), not the list read ahead.
  const sql = (await import('postgres')).default(config.db.url as string, { max: 1, onnotice: () => {} })
  t.teardown(async () => { await sql.end() })
  await sql`update users set role = 'admin' where id = ${bob.id}`
  await app.tokens.forget(bob.id)
  // A write moves the date's generation on (bob's own list stays in Redis: the task is not his), so the
  // command reads his list ahead again.
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'a-ahead-2', date: '2025-09-10' } })
  t.same((await names(bob, '2025-09-10')).sort(), ['a-ahead', 'a-ahead-2', 'b-ahead'])
  await sql`update users set role = 'user' where id = ${bob.id}`
  await app.tokens.forget(bob.id)
  t.same(await names(bob, '2025-09-10'), ['b-ahead'])
  t.ok(await redis.exists(`${prefix}task:2025-09-10:user:${bob.id}`), 'his list was there to be read ahead')
})

await t.test('a list held here for the role a token was signed with is not served once the role has changed', async (t) => {
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: bob.auth, payload: { task_name: 'b-role', date: '2025-09-11' } })
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'a-role', date: '2025-09-11' } })
  await app.inject({ method: 'POST', url: '/tasks/create-task', headers: admin.auth, payload: { task_name: 'boss-role', date: '2025-09-11' } })
  t.same(await names(admin, '2025-09-11'), ['b-role', 'a-role', 'boss-role'], 'the whole day: filled in Redis')
  t.same(await names(admin, '2025-09-11'), ['b-role', 'a-role', 'boss-role'], 'read from Redis: held from now on')
  const held = await redisCommandsOf(() => names(admin, '2025-09-11'))
  t.same(held.commands, [], 'the admin view is held here')

  // Boss's token still says "admin": the list held for that role is found first, and must not be served.
  const sql = postgres(config.db.url as string, { max: 1, onnotice: () => {} })
  t.teardown(async () => { await sql.end() })
  await sql`update users set role = 'user' where id = ${admin.id}`
  await app.tokens.forget(admin.id)
  t.same(await names(admin, '2025-09-11'), ['boss-role'], 'demoted: their own tasks only')
  await sql`update users set role = 'admin' where id = ${admin.id}`
  await app.tokens.forget(admin.id)
  t.same(await names(admin, '2025-09-11'), ['b-role', 'a-role', 'boss-role'], 'an admin again: the held list')
})
