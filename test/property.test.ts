import t from 'tap'
import fc from 'fast-check'
import postgres from 'postgres'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import { build, signUp } from './helper.js'

// Hostile input on every route of the OpenAPI document: never a 500, nothing persisted by a refused
// request, and every answer matches the schema its route declares for that status.
t.setTimeout(600_000)
const app = await build(t, {
  RATE_LIMIT_MAX: '1000000',
  RATE_LIMIT_TASK_LIST_MAX: '1000000',
  RATE_LIMIT_CHECK_MAX: '1000000',
  RATE_LIMIT_LOGIN_MAX: '1000000',
  RATE_LIMIT_LOGIN_USERNAME_MAX: '1000000',
  BODY_LIMIT_BYTES: '65536'
})
const sql = postgres(app.config.db.url as string, { max: 1, onnotice: () => {} })
t.teardown(async () => { await sql.end() })

const admin = await signUp(app, 'admin', { role: 'admin' })
const alice = await signUp(app, 'alice')
const created = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'seed', date: '2025-04-06' } })
const seedTaskId = created.json().task.id as number

interface Operation {
  method: string
  path: string
  parameters?: Array<{ in: string, name: string }>
  requestBody?: unknown
  responses: Record<string, { content?: Record<string, { schema: object }> }>
}
const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
  paths: Record<string, Record<string, Omit<Operation, 'method' | 'path'>>>
  components: { schemas: Record<string, object> }
}
const operations: Operation[] = Object.entries(doc.paths).flatMap(([path, ops]) =>
  Object.entries(ops).map(([method, op]) => ({ ...op, method: method.toUpperCase(), path })))

/** Every object schema that lists its properties may have no others: an undeclared field is a leak. */
function closed (schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed)
  if (schema === null || typeof schema !== 'object') return schema
  const copy: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) copy[key] = key === 'properties' ? Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, closed(v)])) : closed(value)
  if (copy.properties !== undefined && copy.additionalProperties === undefined) copy.additionalProperties = false
  return copy
}
const ajv = new Ajv({ strict: false, allErrors: true })
addFormats.default(ajv)
ajv.addSchema({ $id: 'doc', components: closed(doc.components) }, 'doc')
const validators = new Map<string, ValidateFunction>()
function validatorFor (op: Operation, status: number): ValidateFunction | undefined {
  const key = `${op.method} ${op.path} ${status}`
  if (!validators.has(key)) {
    const schema = op.responses[String(status)]?.content?.['application/json']?.schema
    if (schema === undefined) return undefined
    const rebased = JSON.parse(JSON.stringify(closed(schema)).replaceAll('"#/components/', '"doc#/components/'))
    validators.set(key, ajv.compile(rebased))
  }
  return validators.get(key)
}

/** What a refused request must not have changed. */
async function fingerprint (): Promise<string> {
  const [row] = await sql`select
    (select md5(coalesce(string_agg(concat_ws('|', id, username, role, token_version, password_hash), ',' order by id), '')) from users) as users,
    (select md5(coalesce(string_agg(concat_ws('|', id, task_name, description, priority, date, assigned_user, is_active, created_by, version), ',' order by id), '')) from tasks) as tasks,
    (select count(*) from task_audit) as audit,
    (select count(*) from revoked_tokens) as revoked`
  return JSON.stringify(row)
}

const hostileText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    "' OR 1=1 --", '"; DROP TABLE tasks; --', '1; select pg_sleep(5)', '$' + '{jndi:ldap://x}', '<script>alert(1)</script>',
    '__proto__', 'constructor', 'prototype', '../../etc/passwd', '%00', '\u0000', '\uD800', '💥'.repeat(50), 'null', 'NaN',
    '2025-02-30', '9999-99-99', '-1', '0', '2147483648', '1e308', 'a'.repeat(5000), '{"$gt":""}', 'LOW', 'admin'
  )
)
const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    hostileText, fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
    fc.constantFrom(-1, 0, 2 ** 31, Number.MAX_SAFE_INTEGER, -0),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(hostileText, tie('value'), { maxKeys: 3 }))
})).value
const knownFields = ['username', 'password', 'role', 'task_name', 'description', 'priority', 'date', 'assigned_user',
  'current_password', 'new_password', 'id', 'created_by', 'is_active', 'version', 'token_version']
const plausibleBody = fc.dictionary(fc.constantFrom(...knownFields), hostileValue, { maxKeys: 6 })
const rawBody = fc.oneof(
  plausibleBody.map((body) => JSON.stringify(body)),
  hostileValue.map((value) => JSON.stringify(value) ?? 'null'),
  fc.constantFrom('{"__proto__":{"role":"admin"}}', '{"constructor":{"prototype":{"role":"admin"}}}', '{"task_name":"x","__proto__":{"is_active":false}}',
    '{', '[]', '""', 'null', '{"task_name":"x"}{"task_name":"y"}', '{"task_name":"x","task_name":"y"}'),
  hostileText
)
const paramValue = fc.oneof(hostileText, fc.constantFrom(String(seedTaskId), '2025-04-06', '1', '0', '-1', '2147483647', '2147483648', '1.5', '01'))
const authHeader = fc.oneof(
  fc.constant(undefined), fc.constant(alice.auth.authorization), fc.constant(admin.auth.authorization),
  hostileText.map((text) => `Bearer ${text}`), hostileText
)
const extraHeaders = fc.dictionary(fc.constantFrom('x-forwarded-for', 'x-user-id', 'x-role', 'content-type', 'accept', 'x-http-method-override'), hostileText.map((v) => v.replace(/[^\x20-\x7e]/g, '')), { maxKeys: 2 })
const queryString = fc.dictionary(fc.constantFrom('page', 'per_page', 'role', '__proto__', 'date', 'q'), hostileText, { maxKeys: 3 })

for (const op of operations) {
  await t.test(`${op.method} ${op.path}: no 500, nothing persisted when refused, answers match their schema`, async (t) => {
    const params = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name)
    const request = fc.record({
      params: fc.tuple(...params.map(() => paramValue)),
      body: rawBody,
      authorization: authHeader,
      headers: extraHeaders,
      query: queryString
    })
    let refused = 0
    await fc.assert(fc.asyncProperty(request, async ({ params: values, body, authorization, headers, query }) => {
      let url = op.path
      // A lone surrogate cannot be percent-encoded: send the replacement character a browser would.
      params.forEach((name, i) => { url = url.replace(`{${name}}`, encodeURIComponent((values[i] as string).replace(/[\uD800-\uDFFF]/g, '\uFFFD'))) })
      const search = new URLSearchParams(query as Record<string, string>).toString()
      const before = await fingerprint()
      const res = await app.inject({
        method: op.method as 'GET',
        url: search === '' ? url : `${url}?${search}`,
        headers: { 'content-type': 'application/json', ...headers, ...(authorization !== undefined && { authorization }) },
        payload: body
      })
      if (res.statusCode >= 500) throw new Error(`${res.statusCode} ${res.body}`)
      if (res.statusCode >= 300) {
        refused++
        const after = await fingerprint()
        if (after !== before) throw new Error(`a ${res.statusCode} answer changed the database: ${res.body}`)
      }
      if (op.path === '/openapi.json') return
      const validate = validatorFor(op, res.statusCode)
      if (validate === undefined) throw new Error(`status ${res.statusCode} is not declared by the route: ${res.body}`)
      if (!validate(res.json())) throw new Error(`answer does not match the ${res.statusCode} schema: ${ajv.errorsText(validate.errors)} in ${res.body}`)
    }), { numRuns: Number(process.env.PROPERTY_RUNS ?? 200), endOnFailure: true })
    if (op.responses['400'] !== undefined || op.responses['401'] !== undefined) t.ok(refused > 0, 'hostile requests were refused')
    else t.pass('a route without input to refuse answered every request within its schema')
  })
}
