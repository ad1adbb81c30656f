import t from 'tap'
import postgres from 'postgres'
import { build, signUp, type Session } from './helper.js'
import { multipart } from './import-helper.js'

// OWASP API Top 10 (BOLA, BFLA, BOPLA): every route x {anonymous, user A, user B, admin}.
const app = await build(t, { RATE_LIMIT_MAX: '100000', RATE_LIMIT_TASK_LIST_MAX: '100000', RATE_LIMIT_CHECK_MAX: '100000', RATE_LIMIT_LOGIN_USERNAME_MAX: '1000', RATE_LIMIT_LOGIN_MAX: '1000' })
const sql = postgres(app.config.db.url as string, { max: 1, onnotice: () => {} })
t.teardown(async () => { await sql.end() })

const admin = await signUp(app, 'admin', { role: 'admin' })
const userA = await signUp(app, 'user_a')
const userB = await signUp(app, 'user_b')
type Who = 'anonymous' | 'A' | 'B' | 'admin'
const sessions: Record<Who, Session | null> = { anonymous: null, A: userA, B: userB, admin }
const everyone: Who[] = ['anonymous', 'A', 'B', 'admin']
const day = '2025-11-01'

let counter = 0
async function call (who: Who, method: string, url: string, payload?: object) {
  const session = sessions[who]
  return await app.inject({ method: method as 'GET', url, ...(payload !== undefined && { payload }), headers: session?.auth ?? {} })
}
async function newTask (owner: Session, extra: object = {}): Promise<number> {
  const res = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: owner.auth, payload: { task_name: `task ${++counter}`, date: day, ...extra } })
  if (res.statusCode !== 201) throw new Error(res.body)
  return res.json().task.id
}
const taskRow = async (id: number) => (await sql`select task_name, assigned_user, is_active, created_by from tasks where id = ${id}`)[0]

const taskOfA = await newTask(userA)
const taskOfB = await newTask(userB)
const adminTaskForA = await newTask(admin, { assigned_user: userA.id })

// Every route the API serves must have its row here: a new route without one fails this test.
const covered = new Set<string>()
const cover = (method: string, path: string): void => { covered.add(`${method} ${path}`) }

await t.test('object level: who may read or change which task', async (t) => {
  cover('GET', '/tasks/task/{date}')
  const visible: Record<Who, number[] | 401> = { anonymous: 401, A: [taskOfA, adminTaskForA], B: [taskOfB], admin: [taskOfA, taskOfB, adminTaskForA] }
  for (const who of everyone) {
    const res = await call(who, 'GET', `/tasks/task/${day}`)
    const expected = visible[who]
    if (expected === 401) t.equal(res.statusCode, 401, `${who} cannot list`)
    else t.same(res.json().task_list.map((task: { id: number }) => task.id).filter((id: number) => [taskOfA, taskOfB, adminTaskForA].includes(id)), expected, `${who} lists exactly their tasks`)
  }

  cover('GET', '/tasks/task-log/{task_id}')
  const logOfB: Record<Who, number> = { anonymous: 401, A: 404, B: 200, admin: 200 }
  for (const who of everyone) t.equal((await call(who, 'GET', `/tasks/task-log/${taskOfB}`)).statusCode, logOfB[who], `${who} reads B's audit trail`)
  t.equal((await call('A', 'GET', `/tasks/task-log/${adminTaskForA}`)).statusCode, 200, 'the assignee reads the audit trail')

  cover('PUT', '/tasks/update-task/{task_id}')
  const updateB: Record<Who, number> = { anonymous: 401, A: 404, B: 200, admin: 200 }
  for (const who of everyone) {
    const before = await taskRow(taskOfB)
    const res = await call(who, 'PUT', `/tasks/update-task/${taskOfB}`, { task_name: `renamed by ${who}` })
    t.equal(res.statusCode, updateB[who], `${who} changes B's task`)
    if (res.statusCode !== 200) t.same(await taskRow(taskOfB), before, 'unchanged')
  }
  t.equal((await call('A', 'PUT', `/tasks/update-task/${adminTaskForA}`, { priority: 'HIGH' })).statusCode, 200, 'the assignee may change it')

  cover('DELETE', '/tasks/delete/{task_id}')
  const deleteB: Record<Who, number> = { anonymous: 401, A: 404, B: 200, admin: 200 }
  for (const who of everyone) {
    const id = await newTask(userB)
    const res = await call(who, 'DELETE', `/tasks/delete/${id}`)
    t.equal(res.statusCode, deleteB[who], `${who} deletes B's task`)
    t.equal((await taskRow(id))?.is_active, res.statusCode !== 200, res.statusCode === 200 ? 'deleted' : 'still active')
  }
})

await t.test('function level: only admins assign to others and create admins', async (t) => {
  cover('POST', '/tasks/create-task')
  const own: Record<Who, number> = { anonymous: 401, A: 201, B: 201, admin: 201 }
  const forOther: Record<Who, number> = { anonymous: 401, A: 403, B: 403, admin: 201 }
  for (const who of everyone) {
    t.equal((await call(who, 'POST', '/tasks/create-task', { task_name: `own of ${who}`, date: day })).statusCode, own[who], `${who} creates a task`)
    const other = who === 'B' ? userA : userB
    const name = `for another by ${who}`
    t.equal((await call(who, 'POST', '/tasks/create-task', { task_name: name, date: day, assigned_user: other.id })).statusCode, forOther[who], `${who} assigns to another user`)
    if (forOther[who] !== 201) t.same(await sql`select id from tasks where task_name = ${name}`, [], 'nothing created')
  }
  for (const who of ['A', 'admin'] as const) {
    const id = await newTask(userA)
    const res = await call(who, 'PUT', `/tasks/update-task/${id}`, { assigned_user: userB.id })
    t.equal(res.statusCode, who === 'admin' ? 200 : 403, `${who} reassigns A's task to B`)
    t.equal((await taskRow(id))?.assigned_user, who === 'admin' ? userB.id : userA.id)
  }

  cover('POST', '/users/register')
  const createAdmin: Record<Who, number> = { anonymous: 403, A: 403, B: 403, admin: 201 }
  for (const who of everyone) {
    const username = `made_admin_by_${who}`
    t.equal((await call(who, 'POST', '/users/register', { username, password: 'password-123', role: 'admin' })).statusCode, createAdmin[who], `${who} creates an admin`)
    t.same((await sql`select role from users where username = ${username}`).map((r) => r.role), createAdmin[who] === 201 ? ['admin'] : [])
    t.equal((await call(who, 'POST', '/users/register', { username: `user_by_${who}`, password: 'password-123' })).statusCode, 201, `${who} registers a user`)
  }
})

await t.test('CSV import is for admins only; task records show each caller their own', async (t) => {
  cover('POST', '/tasks/upload-csv')
  cover('GET', '/tasks/imports/{import_id}')
  const csv = (who: Who): string => `task_name,priority,created_at,assigned_user\nimported by ${who},LOW,${day},user_a\n`
  const uploadBy: Record<Who, number> = { anonymous: 401, A: 403, B: 403, admin: 202 }
  let importId = ''
  for (const who of everyone) {
    const { payload, headers } = multipart(csv(who))
    const res = await app.inject({ method: 'POST', url: '/tasks/upload-csv', payload, headers: { ...sessions[who]?.auth, ...headers } })
    t.equal(res.statusCode, uploadBy[who], `${who} uploads a CSV`)
    if (res.statusCode === 202) importId = res.json().import_id
    else t.same(await sql`select id from task_imports where created_by = ${sessions[who]?.id ?? 0}`, [], 'nothing stored')
  }
  const readImport: Record<Who, number> = { anonymous: 401, A: 403, B: 403, admin: 200 }
  for (const who of everyone) t.equal((await call(who, 'GET', `/tasks/imports/${importId}`)).statusCode, readImport[who], `${who} reads the import`)

  // An admin demoted after signing in: the role is re-read from the database for admin actions.
  const demoted = await signUp(app, 'demoted_admin', { role: 'admin', adminToken: admin.token })
  await sql`update users set role = 'user' where id = ${demoted.id}`
  const { payload, headers } = multipart(csv('admin'))
  t.equal((await app.inject({ method: 'POST', url: '/tasks/upload-csv', payload, headers: { ...demoted.auth, ...headers } })).statusCode, 403, 'a demoted admin cannot import')
  t.equal((await app.inject({ method: 'GET', url: `/tasks/imports/${importId}`, headers: demoted.auth })).statusCode, 403, 'nor read an import')

  cover('GET', '/tasks/task-records')
  const records: Record<Who, number[] | 401> = { anonymous: 401, A: [taskOfA, adminTaskForA], B: [taskOfB], admin: [taskOfA, taskOfB, adminTaskForA] }
  for (const who of everyone) {
    const res = await call(who, 'GET', '/tasks/task-records?per_page=100')
    const expected = records[who]
    if (expected === 401) t.equal(res.statusCode, 401, `${who} cannot page through records`)
    else t.same(res.json().records.map((r: { id: number }) => r.id).filter((id: number) => [taskOfA, taskOfB, adminTaskForA].includes(id)).sort(), [...expected].sort(), `${who} pages through exactly their tasks`)
  }
})

await t.test('property level: no client sets id, created_by, is_active, version or its own role', async (t) => {
  const forbiddenTaskFields = { id: 999, created_by: userB.id, is_active: false, version: 9, created_at: '2020-01-01T00:00:00Z' }
  for (const who of ['A', 'B', 'admin'] as const) {
    for (const [field, value] of Object.entries(forbiddenTaskFields)) {
      const name = `prop ${who} ${field}`
      t.equal((await call(who, 'POST', '/tasks/create-task', { task_name: name, [field]: value })).statusCode, 400, `${who} cannot create with ${field}`)
      t.same(await sql`select id from tasks where task_name = ${name}`, [])
      const id = await newTask(sessions[who] as Session)
      const before = await taskRow(id)
      t.equal((await call(who, 'PUT', `/tasks/update-task/${id}`, { [field]: value })).statusCode, 400, `${who} cannot update ${field}`)
      t.same(await taskRow(id), before)
    }
  }
  for (const field of ['id', 'role_id', 'token_version', 'is_admin']) {
    t.equal((await call('anonymous', 'POST', '/users/register', { username: `p_${field}`, password: 'password-123', [field]: 1 })).statusCode, 400, `register refuses ${field}`)
  }
  t.equal((await call('A', 'POST', '/users/register', { username: 'a_again', password: 'password-123', role: 'admin' })).statusCode, 403, 'a user cannot make an admin (nor itself one)')
  t.equal((await call('A', 'GET', '/users/profile')).json().role, 'user')
})

await t.test('account routes act on the caller only', async (t) => {
  cover('GET', '/users/profile')
  for (const who of everyone) {
    const res = await call(who, 'GET', '/users/profile')
    if (who === 'anonymous') t.equal(res.statusCode, 401)
    else t.equal(res.json().id, (sessions[who] as Session).id, `${who} sees their own profile`)
  }
  cover('POST', '/users/login')
  t.equal((await call('anonymous', 'POST', '/users/login', { username: 'user_a', password: 'user_a-password' })).statusCode, 200)
  cover('POST', '/users/logout')
  cover('POST', '/users/change-password')
  for (const route of ['/users/logout', '/users/change-password']) {
    t.equal((await call('anonymous', 'POST', route, route.endsWith('password') ? { current_password: 'x', new_password: 'password-123' } : undefined)).statusCode, 401, `anonymous ${route}`)
  }
  // A's change of password needs A's password: B's token cannot change A's.
  const bChanges = await call('B', 'POST', '/users/change-password', { current_password: 'user_a-password', new_password: 'password-123' })
  t.equal(bChanges.statusCode, 403)
  t.equal((await call('anonymous', 'POST', '/users/login', { username: 'user_a', password: 'user_a-password' })).statusCode, 200, "A's password unchanged")
})

await t.test('public routes answer everyone', async (t) => {
  for (const path of ['/api/health/db', '/api/health/redis', '/api/check-limiter', '/openapi.json']) {
    cover('GET', path)
    for (const who of everyone) t.equal((await call(who, 'GET', path)).statusCode, 200, `${who} GET ${path}`)
  }
})

await t.test('the matrix covers every route of the OpenAPI document', async (t) => {
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> }
  const served = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
  t.same(served.filter((route) => !covered.has(route)), [], 'routes without a row in the matrix')
})
