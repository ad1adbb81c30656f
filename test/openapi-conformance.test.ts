/**
 * The API answers what its OpenAPI document says. For every operation in the served document:
 * - each case in CASES below is sent and must get its status;
 * - every operation is also probed with what clients get wrong or what goes wrong around them (no token, a bad
 *   token, a text/plain body, an oversized body, malformed JSON, the rate limit, Redis down, PostgreSQL down);
 * - every response, case or probe, must have a documented status and a body that validates against the
 *   documented schema (ajv, JSON Schema 2020-12 with formats);
 * - every documented status must have been seen, unless `untriggerable` says why it cannot be.
 * A new operation without an entry in CASES fails here by name: add its cases.
 */
import type { FastifyInstance, InjectOptions } from 'fastify'
import t, { type Test } from 'tap'
import type { Config } from '../src/config.js'
import type { OpenApiDocument } from '../src/openapi/document.js'
import { multipart } from './import-helper.js'
import { buildFromConfig, createRedisPrefix, signUp, testConfig, type Session } from './helper.js'
import {
  createSchemaValidator, documentedResponse, listOperations, matchesPath, requiresBearer, type Operation
} from './openapi.js'

interface Request {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH'
  url: string
  headers?: Record<string, string>
  /** An object is sent as JSON; a string or Buffer as it is, with the content-type header given. */
  payload?: InjectOptions['payload']
}

interface Fixtures {
  admin: Session
  alice: Session
  bob: Session
  /** A day on which alice has an active task. */
  date: string
  aliceTask: number
  bobTask: number
  /** A name no other request has used. */
  unique: (prefix: string) => string
  /** A new user, signed in: for requests that use their session up (logout, a password change). */
  newSession: () => Promise<Session & { password: string }>
  /** The id of a CSV import accepted for the admin (uploaded once, on first use). */
  importId: () => Promise<string>
  /** A new task owned by `owner`, returning its id. */
  createTask: (owner: Session, fields?: Record<string, unknown>) => Promise<number>
}

interface Case {
  status: number
  title: string
  /** Called for each send, so a request that consumes something (a username, a task) gets a fresh one. */
  request: (fx: Fixtures) => Request | Promise<Request>
}

interface OperationCases {
  /** The first 2xx case is also the request every probe starts from. */
  cases: Case[]
  /** Documented statuses no test can cause, each with the reason. */
  untriggerable?: Record<number, string>
}

const auth = (session: Session): Record<string, string> => ({ ...session.auth })

const GOOD_CSV = 'task_name,priority,created_at,assigned_user\nImported,HIGH,2025-04-06,alice\n'
function csvUpload (session: Session, content: string | Buffer, options?: Parameters<typeof multipart>[1]): Request {
  const { payload, headers } = multipart(content, options)
  return { method: 'POST', url: '/tasks/upload-csv', headers: { ...auth(session), ...headers }, payload }
}

// Operations that use their session up (logout, a password change) sign a new user in for every send.
const SESSION_USED_UP = {
  429: 'the limit counts per user and each send here needs a fresh user, so the rate-limit probe never reaches it; ' +
    "the same global limiter answers 429 in every other operation's probe"
}

const CASES: Record<string, OperationCases> = {
  registerUser: {
    cases: [
      { status: 201, title: 'a new user', request: (fx) => ({ method: 'POST', url: '/users/register', payload: { username: fx.unique('user'), password: 'password-123' } }) },
      { status: 400, title: 'a username too short', request: () => ({ method: 'POST', url: '/users/register', payload: { username: 'ab', password: 'password-123' } }) },
      { status: 400, title: 'an unknown field', request: (fx) => ({ method: 'POST', url: '/users/register', payload: { username: fx.unique('user'), password: 'password-123', is_admin: true } }) },
      { status: 403, title: 'an admin without an admin token', request: (fx) => ({ method: 'POST', url: '/users/register', payload: { username: fx.unique('admin'), password: 'password-123', role: 'admin' } }) },
      { status: 403, title: 'an admin with a user token', request: (fx) => ({ method: 'POST', url: '/users/register', headers: auth(fx.alice), payload: { username: fx.unique('admin'), password: 'password-123', role: 'admin' } }) },
      { status: 201, title: 'an admin created by an admin', request: (fx) => ({ method: 'POST', url: '/users/register', headers: auth(fx.admin), payload: { username: fx.unique('admin'), password: 'password-123', role: 'admin' } }) },
      { status: 409, title: 'a taken username', request: () => ({ method: 'POST', url: '/users/register', payload: { username: 'alice', password: 'password-123' } }) }
    ]
  },
  login: {
    cases: [
      { status: 200, title: 'the right password', request: () => ({ method: 'POST', url: '/users/login', payload: { username: 'alice', password: 'alice-password' } }) },
      { status: 400, title: 'no password', request: () => ({ method: 'POST', url: '/users/login', payload: { username: 'alice' } }) },
      { status: 401, title: 'a wrong password', request: () => ({ method: 'POST', url: '/users/login', payload: { username: 'alice', password: 'wrong-password' } }) },
      { status: 401, title: 'an unknown user', request: (fx) => ({ method: 'POST', url: '/users/login', payload: { username: fx.unique('nobody'), password: 'password-123' } }) }
    ]
  },
  logout: {
    cases: [
      // Logging out revokes the token, so every send signs a user in afresh.
      { status: 200, title: 'a signed-in user', request: async (fx) => ({ method: 'POST', url: '/users/logout', headers: auth(await fx.newSession()) }) }
    ],
    untriggerable: SESSION_USED_UP
  },
  changePassword: {
    cases: [
      {
        status: 200,
        title: 'the right current password',
        request: async (fx) => {
          const session = await fx.newSession()
          return { method: 'POST', url: '/users/change-password', headers: auth(session), payload: { current_password: session.password, new_password: 'a-brand-new-password' } }
        }
      },
      { status: 400, title: 'a new password too short', request: async (fx) => ({ method: 'POST', url: '/users/change-password', headers: auth(fx.alice), payload: { current_password: 'alice-password', new_password: 'short' } }) },
      { status: 403, title: 'a wrong current password', request: async (fx) => ({ method: 'POST', url: '/users/change-password', headers: auth(fx.alice), payload: { current_password: 'not-her-password', new_password: 'a-brand-new-password' } }) }
    ],
    untriggerable: SESSION_USED_UP
  },
  getProfile: {
    cases: [
      { status: 200, title: 'the signed-in user', request: (fx) => ({ method: 'GET', url: '/users/profile', headers: auth(fx.alice) }) }
    ]
  },
  createTask: {
    cases: [
      { status: 201, title: 'a task with every field', request: (fx) => ({ method: 'POST', url: '/tasks/create-task', headers: auth(fx.alice), payload: { task_name: 'Write the report', description: 'Q1', priority: 'HIGH', date: fx.date, assigned_user: fx.alice.id } }) },
      { status: 201, title: 'a task with only a name (defaults, null description)', request: (fx) => ({ method: 'POST', url: '/tasks/create-task', headers: auth(fx.alice), payload: { task_name: 'Minimal' } }) },
      { status: 201, title: 'an admin assigning to someone else', request: (fx) => ({ method: 'POST', url: '/tasks/create-task', headers: auth(fx.admin), payload: { task_name: 'For bob', assigned_user: fx.bob.id } }) },
      { status: 400, title: 'a priority outside the list', request: (fx) => ({ method: 'POST', url: '/tasks/create-task', headers: auth(fx.alice), payload: { task_name: 'x', priority: 'URGENT' } }) },
      { status: 400, title: 'a day that does not exist', request: (fx) => ({ method: 'POST', url: '/tasks/create-task', headers: auth(fx.alice), payload: { task_name: 'x', date: '2025-02-30' } }) },
      { status: 400, title: 'a field clients may not set', request: (fx) => ({ method: 'POST', url: '/tasks/create-task', headers: auth(fx.alice), payload: { task_name: 'x', is_active: false } }) },
      { status: 403, title: 'a user assigning to someone else', request: (fx) => ({ method: 'POST', url: '/tasks/create-task', headers: auth(fx.alice), payload: { task_name: 'x', assigned_user: fx.bob.id } }) }
    ]
  },
  listTasksByDate: {
    cases: [
      { status: 200, title: "the caller's tasks of a day", request: (fx) => ({ method: 'GET', url: `/tasks/task/${fx.date}`, headers: auth(fx.alice) }) },
      { status: 200, title: "everyone's tasks for an admin", request: (fx) => ({ method: 'GET', url: `/tasks/task/${fx.date}`, headers: auth(fx.admin) }) },
      { status: 400, title: 'a day that does not exist', request: (fx) => ({ method: 'GET', url: '/tasks/task/2025-02-30', headers: auth(fx.alice) }) },
      { status: 404, title: 'a day without tasks', request: (fx) => ({ method: 'GET', url: '/tasks/task/1999-01-01', headers: auth(fx.alice) }) }
    ]
  },
  updateTask: {
    cases: [
      { status: 200, title: 'a change of priority', request: async (fx) => ({ method: 'PUT', url: `/tasks/update-task/${await fx.createTask(fx.alice)}`, headers: auth(fx.alice), payload: { priority: 'CRITICAL' } }) },
      { status: 200, title: 'a description cleared to null', request: async (fx) => ({ method: 'PUT', url: `/tasks/update-task/${await fx.createTask(fx.alice)}`, headers: auth(fx.alice), payload: { description: null } }) },
      { status: 400, title: 'no field to change', request: (fx) => ({ method: 'PUT', url: `/tasks/update-task/${fx.aliceTask}`, headers: auth(fx.alice), payload: {} }) },
      { status: 400, title: 'a task id that is not a number', request: (fx) => ({ method: 'PUT', url: '/tasks/update-task/abc', headers: auth(fx.alice), payload: { priority: 'LOW' } }) },
      { status: 403, title: 'a user reassigning a task', request: (fx) => ({ method: 'PUT', url: `/tasks/update-task/${fx.aliceTask}`, headers: auth(fx.alice), payload: { assigned_user: fx.bob.id } }) },
      { status: 404, title: "someone else's task", request: (fx) => ({ method: 'PUT', url: `/tasks/update-task/${fx.bobTask}`, headers: auth(fx.alice), payload: { priority: 'LOW' } }) }
    ]
  },
  deleteTask: {
    cases: [
      { status: 200, title: 'an own task', request: async (fx) => ({ method: 'DELETE', url: `/tasks/delete/${await fx.createTask(fx.alice)}`, headers: auth(fx.alice) }) },
      { status: 400, title: 'a task id that is not a number', request: (fx) => ({ method: 'DELETE', url: '/tasks/delete/abc', headers: auth(fx.alice) }) },
      { status: 404, title: "someone else's task", request: (fx) => ({ method: 'DELETE', url: `/tasks/delete/${fx.bobTask}`, headers: auth(fx.alice) }) },
      { status: 404, title: 'a task that never existed', request: (fx) => ({ method: 'DELETE', url: '/tasks/delete/2147483647', headers: auth(fx.alice) }) }
    ]
  },
  getTaskLog: {
    cases: [
      { status: 200, title: 'the trail of an own task', request: (fx) => ({ method: 'GET', url: `/tasks/task-log/${fx.aliceTask}`, headers: auth(fx.alice) }) },
      { status: 400, title: 'a task id out of range', request: (fx) => ({ method: 'GET', url: '/tasks/task-log/0', headers: auth(fx.alice) }) },
      { status: 404, title: "someone else's task", request: (fx) => ({ method: 'GET', url: `/tasks/task-log/${fx.bobTask}`, headers: auth(fx.alice) }) }
    ]
  },
  getDatabaseHealth: {
    cases: [{ status: 200, title: 'the database answers', request: () => ({ method: 'GET', url: '/api/health/db' }) }]
  },
  getRedisHealth: {
    cases: [{ status: 200, title: 'Redis answers', request: () => ({ method: 'GET', url: '/api/health/redis' }) }]
  },
  checkLimiter: {
    cases: [{ status: 200, title: 'the remaining allowance', request: () => ({ method: 'GET', url: '/api/check-limiter' }) }]
  },
  uploadTasksCsv: {
    cases: [
      { status: 202, title: 'a CSV file', request: (fx) => csvUpload(fx.admin, GOOD_CSV) },
      { status: 400, title: 'a CSV without a task_name column', request: (fx) => csvUpload(fx.admin, 'name,priority\nx,LOW\n') },
      { status: 400, title: 'a multipart body without the field "file"', request: (fx) => csvUpload(fx.admin, GOOD_CSV, { field: 'upload' }) },
      { status: 403, title: 'a user, not an admin', request: (fx) => csvUpload(fx.alice, GOOD_CSV) },
      { status: 415, title: 'an image, not a CSV', request: (fx) => csvUpload(fx.admin, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0]), { filename: 'a.png', type: 'image/png' }) }
    ]
  },
  getImport: {
    cases: [
      { status: 200, title: 'an accepted import', request: async (fx) => ({ method: 'GET', url: `/tasks/imports/${await fx.importId()}`, headers: auth(fx.admin) }) },
      { status: 400, title: 'an id that is not a UUID', request: (fx) => ({ method: 'GET', url: '/tasks/imports/42', headers: auth(fx.admin) }) },
      { status: 403, title: 'a user, not an admin', request: async (fx) => ({ method: 'GET', url: `/tasks/imports/${await fx.importId()}`, headers: auth(fx.alice) }) },
      { status: 404, title: 'an import that does not exist', request: (fx) => ({ method: 'GET', url: '/tasks/imports/00000000-0000-4000-8000-000000000000', headers: auth(fx.admin) }) }
    ]
  },
  listTaskRecords: {
    cases: [
      { status: 200, title: "the caller's active tasks", request: (fx) => ({ method: 'GET', url: '/tasks/task-records?page=1&per_page=10', headers: auth(fx.alice) }) },
      { status: 200, title: 'every active task for an admin, default paging', request: (fx) => ({ method: 'GET', url: '/tasks/task-records', headers: auth(fx.admin) }) },
      { status: 400, title: 'per_page over 100', request: (fx) => ({ method: 'GET', url: '/tasks/task-records?per_page=101', headers: auth(fx.alice) }) },
      { status: 400, title: 'page 0', request: (fx) => ({ method: 'GET', url: '/tasks/task-records?page=0', headers: auth(fx.alice) }) }
    ]
  }
}

/** Apps on one database: the main one, one with tiny rate limits, one whose Redis is gone, one whose PostgreSQL is gone. */
type Target = 'main' | 'limited' | 'redisDown' | 'databaseDown'

interface Probe {
  title: string
  target: Target
  /** Sent this many times (each a fresh request); every answer is checked. */
  times?: number
  change?: (request: Request) => Request
}

const RATE_LIMIT_IN_LIMITED_APP = 2

function probes (config: Config): Probe[] {
  const withBody = (request: Request, contentType: string, payload: string): Request =>
    ({ ...request, headers: { ...request.headers, 'content-type': contentType }, payload })
  return [
    { title: 'without a bearer token', target: 'main', change: ({ headers: { authorization: _, ...headers } = {}, ...rest }) => ({ ...rest, headers }) },
    { title: 'with a malformed bearer token', target: 'main', change: (r) => ({ ...r, headers: { ...r.headers, authorization: 'Bearer not-a-token' } }) },
    { title: 'with a token in the wrong scheme', target: 'main', change: (r) => ({ ...r, headers: { ...r.headers, authorization: 'Basic YWxpY2U6cGFzc3dvcmQ=' } }) },
    { title: 'with a text/plain body', target: 'main', change: (r) => withBody(r, 'text/plain', 'plain text') },
    { title: 'with a body over BODY_LIMIT_BYTES', target: 'main', change: (r) => withBody(r, 'application/json', `"${'x'.repeat(config.bodyLimit)}"`) },
    { title: 'with malformed JSON', target: 'main', change: (r) => withBody(r, 'application/json', '{"unterminated') },
    { title: 'past the rate limit', target: 'limited', times: RATE_LIMIT_IN_LIMITED_APP + 1 },
    { title: 'while Redis is down (limiter failing closed)', target: 'redisDown' },
    { title: 'while PostgreSQL is down', target: 'databaseDown' }
  ]
}

// Generous limits on the main app: the cases and probes, not the limiter, decide what it answers.
const config = await testConfig(t, {
  RATE_LIMIT_MAX: '100000', RATE_LIMIT_TASK_LIST_MAX: '100000', RATE_LIMIT_CHECK_MAX: '100000', RATE_LIMIT_LOGIN_MAX: '100000'
})
const withOwnRedisPrefix = (changes: Partial<Config>): Config =>
  ({ ...config, ...changes, redis: { ...config.redis, keyPrefix: createRedisPrefix(t) } })
const tiny = { max: RATE_LIMIT_IN_LIMITED_APP, windowMs: 3_600_000 }

const apps: Record<Target, FastifyInstance> = {
  main: await buildFromConfig(t, config),
  limited: await buildFromConfig(t, withOwnRedisPrefix({ rateLimit: { ...config.rateLimit, global: tiny, taskList: tiny, checkLimiter: tiny, login: tiny } })),
  redisDown: await buildFromConfig(t, withOwnRedisPrefix({ rateLimit: { ...config.rateLimit, failOpen: false } })),
  databaseDown: await buildFromConfig(t, withOwnRedisPrefix({}))
}
// What a lost dependency looks like to a running app: its connection is gone.
apps.redisDown.redis.disconnect()
await (apps.databaseDown.db as unknown as { $client: { end: () => Promise<void> } }).$client.end()

const document = (await apps.main.inject({ method: 'GET', url: '/openapi.json' })).json<OpenApiDocument>()
const operations = listOperations(document)
const schemaValidator = createSchemaValidator(document)

const fixtures: Fixtures = await (async () => {
  const main = apps.main
  const admin = await signUp(main, 'admin', { role: 'admin' })
  const alice = await signUp(main, 'alice')
  const bob = await signUp(main, 'bob')
  let counter = 0
  let importId: Promise<string> | undefined
  const createTask = async (owner: Session, fields: Record<string, unknown> = {}): Promise<number> => {
    const res = await main.inject({ method: 'POST', url: '/tasks/create-task', headers: owner.auth, payload: { task_name: 'Fixture', ...fields } })
    if (res.statusCode !== 201) throw new Error(`fixture task: ${res.statusCode} ${res.body}`)
    return res.json<{ task: { id: number } }>().task.id
  }
  const date = '2025-04-06'
  return {
    admin,
    alice,
    bob,
    date,
    aliceTask: await createTask(alice, { date, description: 'with a trail' }),
    bobTask: await createTask(bob, { date }),
    newSession: async () => {
      const username = `session${++counter}_${Date.now().toString(36)}`
      return { ...await signUp(main, username), password: `${username}-password` }
    },
    importId: async () => {
      importId ??= (async () => {
        const res = await main.inject(csvUpload(admin, GOOD_CSV))
        if (res.statusCode !== 202) throw new Error(`fixture import: ${res.statusCode} ${res.body}`)
        return res.json<{ import_id: string }>().import_id
      })()
      return await importId
    },
    unique: (prefix) => `${prefix}${++counter}_${Date.now().toString(36)}`,
    createTask
  }
})()

/** Sends a request and checks the answer against the document; returns its status. */
async function sendAndCheck (t: Test, operation: Operation, target: Target, request: Request, label: string): Promise<number> {
  const res = await apps[target].inject({ method: request.method, url: request.url, headers: request.headers, payload: request.payload })
  const where = `${operation.operationId} ${label} -> ${res.statusCode}`
  const documented = documentedResponse(operation, res.statusCode)
  if (documented === undefined) {
    t.fail(`${where}: the document does not list ${res.statusCode} for ${operation.operationId}; add it to the route's response schema ` +
      `(errorResponses(...)) or fix the route. Body: ${res.body.slice(0, 200)}`)
    return res.statusCode
  }
  if (documented.content === undefined) {
    t.equal(res.body, '', `${where}: no body, as documented`)
    return res.statusCode
  }
  const mediaType = String(res.headers['content-type'] ?? '').split(';')[0]?.trim() ?? ''
  const media = documented.content[mediaType]
  if (media?.schema === undefined) {
    t.fail(`${where}: content type "${mediaType}" is not documented (documented: ${Object.keys(documented.content).join(', ')})`)
    return res.statusCode
  }
  let body: unknown
  try {
    body = JSON.parse(res.body)
  } catch {
    t.fail(`${where}: the body is not JSON: ${res.body.slice(0, 200)}`)
    return res.statusCode
  }
  const validate = schemaValidator(media.schema)
  t.ok(validate(body), `${where}: body matches the documented schema`, { errors: validate.errors, body })
  return res.statusCode
}

await t.test('every operation in the document has conformance cases, and every case an operation', async (t) => {
  const documentedIds = new Set(operations.map((o) => o.operationId))
  for (const operation of operations) {
    t.ok(CASES[operation.operationId] !== undefined,
      `${operation.operationId} (${operation.method.toUpperCase()} ${operation.path}) has cases: ` +
      'if not, add CASES.' + operation.operationId + ' in test/openapi-conformance.test.ts (a success and each error it documents)')
  }
  for (const operationId of Object.keys(CASES)) {
    t.ok(documentedIds.has(operationId), `CASES.${operationId} names an operation of the document (renamed or removed?)`)
  }
})

for (const operation of operations) {
  const entry = CASES[operation.operationId]
  if (entry === undefined) continue
  await t.test(`${operation.operationId}: ${operation.method.toUpperCase()} ${operation.path}`, async (t) => {
    const seen = new Set<number>()
    const success = entry.cases.find((c) => c.status >= 200 && c.status < 300)
    if (success === undefined) {
      t.fail(`CASES.${operation.operationId} needs a 2xx case: probes start from it`)
      return
    }

    for (const c of entry.cases) {
      const request = await c.request(fixtures)
      t.equal(request.method.toLowerCase(), operation.method, `case "${c.title}" uses ${operation.method.toUpperCase()}`)
      t.ok(matchesPath(operation, request.url), `case "${c.title}" calls ${operation.path} (${request.url})`)
      if (c === success && !requiresBearer(operation) && (operation.security ?? []).length === 0) {
        t.notOk(request.headers?.authorization, `${operation.operationId} is documented public (security: []), so its success case sends no token; ` +
          "if it needs one, add security: [{ bearerAuth: [] }] to the route's schema")
      }
      const status = await sendAndCheck(t, operation, 'main', request, `"${c.title}"`)
      t.equal(status, c.status, `"${c.title}" answers ${c.status}`)
      seen.add(status)
    }

    for (const probe of probes(config)) {
      for (let i = 0; i < (probe.times ?? 1); i++) {
        const base = await success.request(fixtures)
        const request = probe.change !== undefined ? probe.change(base) : base
        seen.add(await sendAndCheck(t, operation, probe.target, request, probe.title))
      }
    }

    for (const status of Object.keys(operation.responses).map(Number).filter(Number.isInteger)) {
      const reason = entry.untriggerable?.[status]
      if (reason !== undefined) {
        t.notOk(seen.has(status), `${status} is listed as untriggerable (${reason}) yet was answered: remove it from untriggerable`)
        continue
      }
      t.ok(seen.has(status), `documented ${status} was answered by a case or probe; if not, add a case to CASES.${operation.operationId} ` +
        'or list the status in its untriggerable with the reason')
    }
  })
}
