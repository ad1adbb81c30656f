import t from 'tap'
import { Redis } from 'ioredis'
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
