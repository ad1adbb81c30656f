import t from 'tap'
import { eq } from 'drizzle-orm'
import { tasks } from '../src/db/schema.js'
import { toTask } from '../src/tasks/service.js'
import { build, signUp } from './helper.js'

const app = await build(t, { RATE_LIMIT_MAX: '10000' })
const alice = await signUp(app, 'alice')

interface AuditEntry { action: string, previous_state: Record<string, unknown> | null, current_state: Record<string, unknown> }
const auditOf = async (id: number): Promise<AuditEntry[]> =>
  (await app.inject({ method: 'GET', url: `/tasks/task-log/${id}`, headers: alice.auth })).json().logs

await t.test("a created task's audit row holds the task exactly as the API returned it", async (t) => {
  const res = await app.inject({
    method: 'POST',
    url: '/tasks/create-task',
    headers: alice.auth,
    payload: { task_name: 'audited "quotes" é', description: null, priority: 'HIGH', date: '2025-09-01' }
  })
  t.equal(res.statusCode, 201)
  const task = res.json().task
  const [created] = await auditOf(task.id)
  t.equal(created?.action, 'created')
  t.equal(created?.previous_state, null)
  t.same(created?.current_state, task)
})

await t.test('a write answers its task as the JS rendering of the stored row gives it, byte for byte', async (t) => {
  // PostgreSQL renders the task (src/tasks/service.ts); JSON.stringify(toTask(row)) is the independent oracle.
  const stored = async (id: number): Promise<string> => {
    const [row] = await app.db.select().from(tasks).where(eq(tasks.id, id))
    return JSON.stringify(toTask(row as NonNullable<typeof row>))
  }
  const created = await app.inject({
    method: 'POST',
    url: '/tasks/create-task',
    headers: alice.auth,
    payload: { task_name: 'quote " backslash \\ tab \t é ✓ 🚀 \u0001', description: 'line\nbreak', priority: 'CRITICAL', date: '2025-08-31' }
  })
  t.equal(created.statusCode, 201)
  t.match(created.headers['content-type'], /^application\/json/)
  const id = created.json().task.id
  t.equal(created.body, `{"message":"Task created successfully","task":${await stored(id)}}`)
  const updated = await app.inject({ method: 'PUT', url: `/tasks/update-task/${id}`, headers: alice.auth, payload: { description: null, date: '2025-09-01' } })
  t.equal(updated.statusCode, 200)
  t.equal(updated.body, `{"message":"Task updated successfully","task":${await stored(id)}}`)
  const unchanged = await app.inject({ method: 'PUT', url: `/tasks/update-task/${id}`, headers: alice.auth, payload: { date: '2025-09-01' } })
  t.equal(unchanged.statusCode, 200)
  t.equal(unchanged.body, `{"message":"Task updated successfully","task":${await stored(id)}}`, 'nothing changed: the task as it is')
})

await t.test("PostgreSQL keeps each task's rendering current whatever writes it, the API or plain SQL", async (t) => {
  const rendered = async (id: number): Promise<{ stored: string, oracle: string }> => {
    const [row] = await app.db.select().from(tasks).where(eq(tasks.id, id))
    const task = row as NonNullable<typeof row>
    return { stored: task.apiJson, oracle: JSON.stringify(toTask(task)) }
  }
  const created = await app.inject({
    method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'kept', date: '1000-01-02' }
  })
  const id: number = created.json().task.id
  let { stored, oracle } = await rendered(id)
  t.equal(stored, oracle, 'as created')
  // A write path that knows nothing of the rendering (a migration, an operator's fix) still moves it.
  await app.db.update(tasks).set({ taskName: 'fixed by hand "é"', updatedAt: new Date('2031-02-03T04:05:06.789Z') }).where(eq(tasks.id, id));
  ({ stored, oracle } = await rendered(id))
  t.equal(stored, oracle, 'after a plain SQL update')
  t.match(stored, /"task_name":"fixed by hand \\"é\\"".*"updated_at":"2031-02-03T04:05:06.789Z"/)
  t.equal((await app.inject({ method: 'DELETE', url: `/tasks/delete/${id}`, headers: alice.auth })).statusCode, 200);
  ({ stored, oracle } = await rendered(id))
  t.equal(stored, oracle, 'after a soft delete')
  t.match(stored, /"is_active":false/)
})

await t.test('concurrent updates of one task all apply, in some order, each with its audit row (no lost update)', async (t) => {
  const created = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'v0', date: '2025-09-02' } })
  const id = created.json().task.id
  const names = Array.from({ length: 8 }, (_, i) => `v${i + 1}`)
  const responses = await Promise.all(names.map(async (name) =>
    await app.inject({ method: 'PUT', url: `/tasks/update-task/${id}`, headers: alice.auth, payload: { task_name: name } })))
  t.same(responses.map((r) => r.statusCode), names.map(() => 200))
  const updates = (await auditOf(id)).filter((entry) => entry.action === 'updated').reverse()
  t.equal(updates.length, names.length, 'one audit row per update')
  // Oldest first, each update's "before" is the previous one's "after": the writes were serialised.
  let previous = 'v0'
  for (const entry of updates) {
    t.equal(entry.previous_state?.task_name, previous)
    previous = entry.current_state.task_name as string
  }
  t.same([...updates.map((e) => e.current_state.task_name)].sort(), [...names].sort())
  const list = await app.inject({ method: 'GET', url: '/tasks/task/2025-09-02', headers: alice.auth })
  t.same(list.json().task_list.map((task: { task_name: string }) => task.task_name), [previous], 'the list shows the last write')
})

await t.test('an update racing a delete answers 404 or applies before it, never resurrects the task', async (t) => {
  const created = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'doomed', date: '2025-09-03' } })
  const id = created.json().task.id
  const [update, remove] = await Promise.all([
    app.inject({ method: 'PUT', url: `/tasks/update-task/${id}`, headers: alice.auth, payload: { priority: 'CRITICAL' } }),
    app.inject({ method: 'DELETE', url: `/tasks/delete/${id}`, headers: alice.auth })
  ])
  t.equal(remove.statusCode, 200)
  t.ok([200, 404].includes(update.statusCode), `update answered ${update.statusCode}`)
  t.equal((await app.inject({ method: 'GET', url: '/tasks/task/2025-09-03', headers: alice.auth })).statusCode, 404)
})

await t.test('an update records only the fields it changes; one that changes nothing writes nothing', async (t) => {
  const created = await app.inject({
    method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'same', description: 'old', priority: 'HIGH', date: '2025-09-04' }
  })
  const id = created.json().task.id
  const changed = await app.inject({
    method: 'PUT', url: `/tasks/update-task/${id}`, headers: alice.auth, payload: { task_name: 'same', description: null, priority: 'HIGH', date: '2025-09-05' }
  })
  t.equal(changed.statusCode, 200)
  t.match(changed.json().task, { task_name: 'same', description: null, priority: 'HIGH', date: '2025-09-05' })
  const unchanged = await app.inject({ method: 'PUT', url: `/tasks/update-task/${id}`, headers: alice.auth, payload: { task_name: 'same', date: '2025-09-05' } })
  t.equal(unchanged.statusCode, 200)
  t.equal(unchanged.json().task.updated_at, changed.json().task.updated_at, 'not written again')
  const updates = (await auditOf(id)).filter((entry) => entry.action === 'updated')
  t.equal(updates.length, 1)
  t.same(updates[0]?.previous_state, { description: 'old', date: '2025-09-04' })
  t.same(updates[0]?.current_state, { description: null, date: '2025-09-05' })
  const moved = await app.inject({ method: 'GET', url: '/tasks/task/2025-09-05', headers: alice.auth })
  t.same(moved.json().task_list.map((task: { id: number }) => task.id), [id], 'the new day\'s list shows it at once')
  t.equal((await app.inject({ method: 'GET', url: '/tasks/task/2025-09-04', headers: alice.auth })).statusCode, 404, 'the old day\'s no longer does')
})

await t.test('a reassignment is audited like any other field; a user naming the current assignee does not reassign', async (t) => {
  const root = await signUp(app, 'root', { role: 'admin' })
  const bob = await signUp(app, 'bob')
  const created = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'handover', date: '2025-09-06' } })
  const id = created.json().task.id
  const own = await app.inject({ method: 'PUT', url: `/tasks/update-task/${id}`, headers: alice.auth, payload: { task_name: 'handover!', assigned_user: alice.id } })
  t.equal(own.statusCode, 200)
  const moved = await app.inject({ method: 'PUT', url: `/tasks/update-task/${id}`, headers: root.auth, payload: { assigned_user: bob.id } })
  t.equal(moved.statusCode, 200)
  t.equal(moved.json().task.assigned_user, bob.id)
  const updates = (await app.inject({ method: 'GET', url: `/tasks/task-log/${id}`, headers: root.auth })).json().logs
    .filter((entry: AuditEntry) => entry.action === 'updated') as AuditEntry[]
  t.same(updates.map((entry) => [entry.previous_state, entry.current_state]), [
    [{ assigned_user: alice.id }, { assigned_user: bob.id }],
    [{ task_name: 'handover' }, { task_name: 'handover!' }]
  ])
  const bobsList = await app.inject({ method: 'GET', url: '/tasks/task/2025-09-06', headers: bob.auth })
  t.same(bobsList.json().task_list.map((task: { id: number }) => task.id), [id], 'the new assignee sees it at once')
})
