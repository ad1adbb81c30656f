import t from 'tap'
import { build, isCleanError, signUp } from './helper.js'

const app = await build(t, { RATE_LIMIT_MAX: '10000', RATE_LIMIT_TASK_LIST_MAX: '10000' })
const admin = await signUp(app, 'boss', { role: 'admin' })
const alice = await signUp(app, 'alice')
const bob = await signUp(app, 'bob')
const DAY = '2025-04-06'

async function createTask (session: { auth: Record<string, string> }, payload: Record<string, unknown>) {
  return await app.inject({ method: 'POST', url: '/tasks/create-task', headers: session.auth, payload })
}

await t.test('create fills the defaults: LOW, today, assigned to the creator, active', async (t) => {
  const res = await createTask(alice, { task_name: 'Write report' })
  t.equal(res.statusCode, 201)
  const { task } = res.json()
  t.match(task, {
    id: Number,
    task_name: 'Write report',
    description: null,
    priority: 'LOW',
    date: new Date().toISOString().slice(0, 10),
    assigned_user: alice.id,
    is_active: true,
    created_by: alice.id
  })
  t.ok(!Number.isNaN(Date.parse(task.created_at)))
  t.ok(!Number.isNaN(Date.parse(task.updated_at)))
})

await t.test('a user may assign only to themselves; an admin to any existing user', async (t) => {
  t.equal((await createTask(alice, { task_name: 'x', assigned_user: bob.id })).statusCode, 403)
  t.equal((await createTask(alice, { task_name: 'x', assigned_user: alice.id })).statusCode, 201)
  const assigned = await createTask(admin, { task_name: 'for bob', date: DAY, assigned_user: bob.id })
  t.equal(assigned.statusCode, 201)
  t.equal(assigned.json().task.assigned_user, bob.id)
  const unknown = await createTask(admin, { task_name: 'x', assigned_user: 999999 })
  t.equal(unknown.statusCode, 400)
  t.ok(isCleanError(unknown))
})

await t.test('invalid tasks are 400 and nothing is stored', async (t) => {
  const before = (await app.inject({ method: 'GET', url: '/tasks/task/2030-01-01', headers: admin.auth })).statusCode
  for (const payload of [
    {}, { task_name: '' }, { task_name: 'x'.repeat(256) }, { task_name: 42 }, { task_name: 'x', priority: 'URGENT' },
    { task_name: 'x', priority: 'low' }, { task_name: 'x', date: '2025-02-30', }, { task_name: 'x', date: '0000-01-01' },
    { task_name: 'x', date: 'abc' }, { task_name: 'x', description: 'd'.repeat(5001) }, { task_name: 'nul\u0000byte' },
    { task_name: 'x', is_active: false }, { task_name: 'x', created_by: bob.id }, { task_name: 'x', id: 5 },
    { task_name: 'x', assigned_user: 2 ** 40 }, { task_name: 'x', assigned_user: '1' }, JSON.parse('{"task_name":"x","__proto__":{"admin":true}}')
  ]) {
    const res = await createTask(alice, payload)
    t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 80))
    t.ok(isCleanError(res))
  }
  t.equal((await app.inject({ method: 'GET', url: '/tasks/task/2030-01-01', headers: admin.auth })).statusCode, before)
})

await t.test('list by date shows a user their own active tasks and an admin everyone\'s', async (t) => {
  const mine = (await createTask(alice, { task_name: 'alice on the day', date: DAY, priority: 'HIGH', description: 'notes' })).json().task
  await createTask(bob, { task_name: 'bob on the day', date: DAY })

  const aliceList = await app.inject({ method: 'GET', url: `/tasks/task/${DAY}`, headers: alice.auth })
  t.equal(aliceList.statusCode, 200)
  t.match(aliceList.headers['content-type'], /application\/json/)
  t.same(aliceList.json(), { message: 'Tasks retrieved successfully', date: DAY, task_list: [mine] })

  const bobList = (await app.inject({ method: 'GET', url: `/tasks/task/${DAY}`, headers: bob.auth })).json()
  t.same(bobList.task_list.map((task: { task_name: string }) => task.task_name), ['for bob', 'bob on the day'], 'assigned or created by bob')

  const adminList = (await app.inject({ method: 'GET', url: `/tasks/task/${DAY}`, headers: admin.auth })).json()
  t.same(adminList.task_list.map((task: { task_name: string }) => task.task_name), ['for bob', 'alice on the day', 'bob on the day'])
})

await t.test('list by date: 404 when empty, 400 for dates that do not exist, 401 without a token', async (t) => {
  const empty = await app.inject({ method: 'GET', url: '/tasks/task/1999-12-31', headers: alice.auth })
  t.equal(empty.statusCode, 404)
  t.ok(isCleanError(empty))
  for (const date of ['2025-02-30', 'abc', '2025-13-01', '2025-4-6', '20250406']) {
    const res = await app.inject({ method: 'GET', url: `/tasks/task/${date}`, headers: alice.auth })
    t.equal(res.statusCode, 400, date)
    t.ok(isCleanError(res))
  }
  t.equal((await app.inject({ method: 'GET', url: `/tasks/task/${DAY}` })).statusCode, 401)
})

await t.test('update changes the given fields, writes an audit row with old and new values', async (t) => {
  const task = (await createTask(alice, { task_name: 'draft', date: DAY, priority: 'LOW' })).json().task
  const res = await app.inject({
    method: 'PUT', url: `/tasks/update-task/${task.id}`, headers: alice.auth, payload: { priority: 'CRITICAL', task_name: 'final' }
  })
  t.equal(res.statusCode, 200)
  t.match(res.json().task, { id: task.id, priority: 'CRITICAL', task_name: 'final', date: DAY, description: null })
  t.ok(Date.parse(res.json().task.updated_at) >= Date.parse(task.updated_at))

  const log = (await app.inject({ method: 'GET', url: `/tasks/task-log/${task.id}`, headers: alice.auth })).json()
  t.equal(log.task_id, task.id)
  t.same(log.logs.map((l: { action: string }) => l.action), ['updated', 'created'], 'newest first')
  t.same(log.logs[0].previous_state, { task_name: 'draft', priority: 'LOW' })
  t.same(log.logs[0].current_state, { task_name: 'final', priority: 'CRITICAL' })
  t.equal(log.logs[0].action_by, alice.id)
  t.equal(log.logs[1].previous_state, null)
  t.match(log.logs[1].current_state, { task_name: 'draft', priority: 'LOW', created_by: alice.id })
})

await t.test('update: 400 empty or unknown body, 404 for a task the caller cannot see, 403 reassign by a user', async (t) => {
  const task = (await createTask(alice, { task_name: 'private', date: DAY })).json().task
  const put = (session: { auth: Record<string, string> }, id: number | string, payload: unknown) =>
    app.inject({ method: 'PUT', url: `/tasks/update-task/${id}`, headers: session.auth, payload: payload as object })

  t.equal((await put(alice, task.id, {})).statusCode, 400)
  t.equal((await put(alice, task.id, { is_active: true })).statusCode, 400)
  t.equal((await put(alice, task.id, { description: null })).statusCode, 200, 'description can be cleared')
  const hidden = await put(bob, task.id, { task_name: 'mine now' })
  const missing = await put(bob, 9999999, { task_name: 'mine now' })
  t.equal(hidden.statusCode, 404)
  t.same(hidden.json(), missing.json(), 'an invisible task looks exactly like a missing one')
  t.equal((await put(alice, task.id, { assigned_user: bob.id })).statusCode, 403)
  t.equal((await put(alice, 'abc', { task_name: 'x' })).statusCode, 400)
  t.equal((await put(alice, '99999999999', { task_name: 'x' })).statusCode, 400)

  const reassigned = await put(admin, task.id, { assigned_user: bob.id })
  t.equal(reassigned.statusCode, 200)
  t.equal(reassigned.json().task.assigned_user, bob.id)
  t.equal((await put(bob, task.id, { task_name: 'now visible to bob' })).statusCode, 200, 'the assignee may act on it')
})

await t.test('delete is soft: the task leaves the lists, keeps its trail, and a second delete is 404', async (t) => {
  const task = (await createTask(bob, { task_name: 'to delete', date: '2025-05-05' })).json().task
  t.equal((await app.inject({ method: 'DELETE', url: `/tasks/delete/${task.id}`, headers: alice.auth })).statusCode, 404, 'not visible to alice')
  const res = await app.inject({ method: 'DELETE', url: `/tasks/delete/${task.id}`, headers: bob.auth })
  t.equal(res.statusCode, 200)
  t.same(Object.keys(res.json()), ['message'])
  t.equal((await app.inject({ method: 'DELETE', url: `/tasks/delete/${task.id}`, headers: bob.auth })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/tasks/task/2025-05-05', headers: bob.auth })).statusCode, 404)
  t.equal((await app.inject({ method: 'PUT', url: `/tasks/update-task/${task.id}`, headers: bob.auth, payload: { task_name: 'x' } })).statusCode, 404)

  const log = (await app.inject({ method: 'GET', url: `/tasks/task-log/${task.id}`, headers: bob.auth })).json()
  t.same(log.logs[0], { ...log.logs[0], action: 'deleted', previous_state: { is_active: true }, current_state: { is_active: false }, action_by: bob.id })
})

await t.test('the audit trail is visible to creator, assignee and admins only', async (t) => {
  const task = (await createTask(admin, { task_name: 'assigned to alice', assigned_user: alice.id })).json().task
  t.equal((await app.inject({ method: 'GET', url: `/tasks/task-log/${task.id}`, headers: alice.auth })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: `/tasks/task-log/${task.id}`, headers: admin.auth })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: `/tasks/task-log/${task.id}`, headers: bob.auth })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/tasks/task-log/0', headers: bob.auth })).statusCode, 400)
})

await t.test('transport errors: 413 body too large, 415 content type, 400 malformed JSON, 404 unknown route', async (t) => {
  const big = await app.inject({
    method: 'POST',
    url: '/tasks/create-task',
    headers: { ...alice.auth, 'content-type': 'application/json' },
    payload: JSON.stringify({ task_name: 'x', description: 'y'.repeat(2_000_000) })
  })
  t.equal(big.statusCode, 413)
  t.ok(isCleanError(big))
  const text = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: { ...alice.auth, 'content-type': 'text/plain' }, payload: 'task' })
  t.equal(text.statusCode, 415)
  t.ok(isCleanError(text))
  const broken = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: { ...alice.auth, 'content-type': 'application/json' }, payload: '{"task_name":' })
  t.equal(broken.statusCode, 400)
  t.ok(isCleanError(broken))
  const unknown = await app.inject({ method: 'GET', url: '/nope' })
  t.equal(unknown.statusCode, 404)
  t.ok(isCleanError(unknown))
})
