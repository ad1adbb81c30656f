import t from 'tap'
import { Redis } from 'ioredis'
import { createCoherence } from '../src/coherence.js'
import { waitFor } from './fault-helpers.js'
import { buildFromConfig, REDIS_URL, signUp, testConfig } from './helper.js'

// Two API processes on one database and one Redis prefix: each holds lists and tokens, kept coherent by the channel.
const config = await testConfig(t, { RATE_LIMIT_MAX: '100000', RATE_LIMIT_TASK_LIST_MAX: '100000', COHERENCE_TIMEOUT_MS: '400' })
const writer = await buildFromConfig(t, config)
const reader = await buildFromConfig(t, config)
const channel = `${config.redis.keyPrefix}coherence`
const redis = new Redis(REDIS_URL)
t.teardown(() => { redis.disconnect() })
const alice = await signUp(writer, 'alice')

const names = async (date: string): Promise<string[]> => {
  const res = await reader.inject({ method: 'GET', url: `/tasks/task/${date}`, headers: alice.auth })
  return res.statusCode === 404 ? [] : res.json().task_list.map((task: { task_name: string }) => task.task_name)
}
const create = async (name: string, date: string): Promise<number> =>
  (await writer.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: name, date } })).statusCode

/** Waits until the reader trusts its channel (again: it reconnects by itself). */
const trusted = async (): Promise<void> => { await waitFor('the reader trusting its channel', () => reader.coherence.trusted) }

await t.test('each process names its channel connection, so an operator can tell them apart', async (t) => {
  await trusted()
  const clients = (await redis.client('LIST')) as string
  t.equal(clients.split('\n').filter((line) => line.includes(`name=${channel}:`) && line.includes('sub=2')).length, 2, 'two subscribed processes')
  const ttl = await redis.pttl(reader.coherence.membersKey)
  t.ok(ttl > 0 && ttl <= 800, `the members' set expires two leases after the last renewal (${ttl} ms left)`)
})

await t.test('a process that loses its channel stops serving what it holds, and asks Redis instead', async (t) => {
  const day = '2026-01-05'
  t.equal(await create('first', day), 201)
  t.same(await names(day), ['first'])
  t.same(await names(day), ['first'], 'held by the reader')
  t.ok(reader.coherence.trusted)

  // The reader's subscription dies: announcements made meanwhile never reach it.
  const line = ((await redis.client('LIST')) as string).split('\n').find((entry) => entry.includes(` name=${reader.coherence.connectionName} `))
  const readerId = /id=(\d+)/.exec(line ?? '')?.[1]
  t.ok(readerId, 'found the reader\'s channel connection')
  await redis.client('KILL', 'ID', readerId as string)
  t.equal(await create('second', day), 201, 'written while the reader is not listening')
  t.same(await names(day), ['first', 'second'], 'the reader did not serve its copy')
  await trusted()
  t.ok(reader.coherence.trusted, 'trusted again once resubscribed')
  t.equal(await create('third', day), 201)
  t.same(await names(day), ['first', 'second', 'third'])
})

await t.test('a write waits for a member that does not acknowledge, but no longer than its lease', async (t) => {
  // A member whose subscription died without Redis noticing: its lease runs, it never acknowledges.
  const [seconds, micros] = await redis.time()
  const redisNowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  await redis.zadd(reader.coherence.membersKey, redisNowMs + 400, 'silent-member')
  const startedAt = Date.now()
  t.equal(await create('waited', '2026-01-06'), 201)
  const waitedMs = Date.now() - startedAt
  t.ok(waitedMs >= 350, `answered after ${waitedMs} ms, once the silent member's lease ran out (and with it its trust)`)
  t.same(await names('2026-01-06'), ['waited'])

  const again = Date.now()
  t.equal(await create('not waited', '2026-01-06'), 201)
  t.ok(Date.now() - again < 350, 'a lapsed lease is not waited for')
  await waitFor('the lapsed member dropped at a renewal', async () => await redis.zscore(reader.coherence.membersKey, 'silent-member') === null)
  t.pass('a lapsed member is dropped from the set')
})

await t.test('a process that only writes (the worker) is no member: it waits for the members, none waits for it', async (t) => {
  const worker = createCoherence({
    url: REDIS_URL, redisOptions: {}, keyPrefix: config.redis.keyPrefix, timeoutMs: 400, log: { warn: () => {}, info: () => {} }, member: false
  })
  t.teardown(async () => { await worker.close() })
  await trusted()
  await new Promise((resolve) => setTimeout(resolve, 250)) // a renewal round
  const members = await redis.zrange(reader.coherence.membersKey, '0', '-1')
  t.equal(members.length, 2, 'the two API processes only')
  t.notOk(worker.trusted, 'it trusts nothing: it holds nothing')

  // Its announcement is applied by the API processes before it resolves: the reader drops the user's token state.
  const claims = JSON.parse(Buffer.from(alice.token.split('.')[1] as string, 'base64url').toString()) as { jti: string, ver: number }
  t.equal((await reader.inject({ method: 'GET', url: '/users/profile', headers: alice.auth })).statusCode, 200)
  t.ok(reader.tokens.known?.(alice.id, claims.jti, claims.ver), 'the reader holds alice\'s token as good')
  await worker.announce('user', alice.id)
  t.equal(reader.tokens.known?.(alice.id, claims.jti, claims.ver), undefined, 'and no longer once the announcement resolved')
  t.equal((await reader.inject({ method: 'GET', url: '/users/profile', headers: alice.auth })).statusCode, 200, 'asked Redis again')
})
