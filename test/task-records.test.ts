import t from 'tap'
import { snapshotActiveTasks } from '../src/jobs/daily-task-log.js'
import { build, isCleanError, signUp } from './helper.js'

const app = await build(t, { RATE_LIMIT_MAX: '100000' })
const admin = await signUp(app, 'admin', { role: 'admin' })
const alice = await signUp(app, 'alice')
const bob = await signUp(app, 'bob')

const create = async (auth: Record<string, string>, payload: Record<string, unknown>): Promise<number> => {
  const response = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: auth, payload: { date: '2025-04-06', ...payload } })
  return response.json().task.id
}
// Alice: 3 of her own, 1 an admin assigned her, 1 deleted; Bob: 2; the admin: 1 for themselves.
const aliceOwn = [await create(alice.auth, { task_name: 'a1' }), await create(alice.auth, { task_name: 'a2' }), await create(alice.auth, { task_name: 'a3' })]
const assigned = await create(admin.auth, { task_name: 'for alice', assigned_user: alice.id })
const deleted = await create(alice.auth, { task_name: 'deleted' })
await app.inject({ method: 'DELETE', url: `/tasks/delete/${deleted}`, headers: alice.auth })
const bobs = [await create(bob.auth, { task_name: 'b1' }), await create(bob.auth, { task_name: 'b2' })]
const adminOwn = await create(admin.auth, { task_name: 'admin' })
for (const day of ['2025-04-06', '2025-04-07', '2025-04-08']) await snapshotActiveTasks(app.db, day)

type Page = { page: number, per_page: number, total: number, records: Array<{ id: number, logs: Array<{ log_date: string }> }> }
const get = async (auth: Record<string, string>, query: string) => await app.inject({ method: 'GET', url: `/tasks/task-records${query}`, headers: auth })

await t.test('a user sees the active tasks they created or are assigned, with their snapshots newest first', async (t) => {
  const response = await get(alice.auth, '')
  t.equal(response.statusCode, 200)
  const body = response.json<Page>()
  t.match(body, { page: 1, per_page: 20, total: 4 })
  t.same(body.records.map((r) => r.id), [...aliceOwn, assigned])
  t.ok(body.records.every((r) => r.logs.map((l) => l.log_date).join() === '2025-04-08,2025-04-07,2025-04-06'))
  t.notOk(body.records.some((r) => r.id === deleted || bobs.includes(r.id)))
})

await t.test('an admin sees every active task, a page at a time', async (t) => {
  const first = (await get(admin.auth, '?page=1&per_page=3')).json<Page>()
  const second = (await get(admin.auth, '?page=2&per_page=3')).json<Page>()
  const third = (await get(admin.auth, '?page=3&per_page=3')).json<Page>()
  t.match(first, { page: 1, per_page: 3, total: 7 })
  t.same([...first.records, ...second.records, ...third.records].map((r) => r.id), [...aliceOwn, assigned, ...bobs, adminOwn])
  t.equal(third.records.length, 1)
  const beyond = (await get(admin.auth, '?page=9&per_page=3')).json<Page>()
  t.match(beyond, { page: 9, total: 7, records: [] })
})

await t.test('page and per_page outside their ranges are refused with 400, not clamped', async (t) => {
  for (const query of ['?per_page=0', '?per_page=101', '?page=0', '?page=-1', '?page=x', '?per_page=2.5', '?sort=id']) {
    const response = await get(alice.auth, query)
    t.equal(response.statusCode, 400, query)
    t.ok(isCleanError(response))
  }
  t.equal((await get(alice.auth, '?per_page=100')).statusCode, 200)
})

await t.test('task records need a token', async (t) => {
  t.equal((await get({}, '')).statusCode, 401)
})
