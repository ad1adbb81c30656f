import net from 'node:net'
import { once } from 'node:events'
import t from 'tap'
import postgres from 'postgres'
import { build, isCleanError, signUp } from './helper.js'

const app = await build(t, {
  BODY_LIMIT_BYTES: '4096',
  JSON_MAX_DEPTH: '8',
  MAX_HEADER_BYTES: '4096',
  HEADERS_TIMEOUT_MS: '500',
  REQUEST_TIMEOUT_MS: '1500',
  RATE_LIMIT_MAX: '10000'
})
const sql = postgres(app.config.db.url as string, { max: 1, onnotice: () => {} })
t.teardown(async () => { await sql.end() })
const alice = await signUp(app, 'alice')
const taskCount = async (): Promise<number> => (await sql`select count(*)::int as n from tasks`)[0]?.n as number

await t.test('a body over BODY_LIMIT_BYTES gets 413 and persists nothing', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: alice.auth, payload: { task_name: 'big', description: 'x'.repeat(5000) } })
  t.equal(res.statusCode, 413)
  t.ok(isCleanError(res))
  t.equal(await taskCount(), 0)
})

await t.test('JSON nested deeper than JSON_MAX_DEPTH gets 400, as do prototype-pollution keys', async (t) => {
  const nested = (depth: number): string => '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1)
  const deep = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: { ...alice.auth, 'content-type': 'application/json' }, payload: `{"task_name":"deep","description":${nested(9)}}` })
  t.equal(deep.statusCode, 400)
  t.match(deep.json().message, /nested deeper than 8/)
  const shallow = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: { ...alice.auth, 'content-type': 'application/json' }, payload: `{"task_name":"ok","description":${nested(7)}}` })
  t.equal(shallow.statusCode, 400, 'within the depth limit, the schema still refuses an object description')
  t.notMatch(shallow.json().message, /nested/)
  t.equal((await app.inject({ method: 'POST', url: '/tasks/create-task', headers: { ...alice.auth, 'content-type': 'application/json' }, payload: '{"task_name":"[[[[[[[[[[{{{{{{{{{{"}' })).statusCode, 201,
    'brackets inside strings do not count')
  for (const payload of ['{"task_name":"p","__proto__":{"isAdmin":true}}', '{"task_name":"c","constructor":{"prototype":{"isAdmin":true}}}']) {
    const res = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: { ...alice.auth, 'content-type': 'application/json' }, payload })
    t.equal(res.statusCode, 400, payload)
    t.ok(isCleanError(res))
  }
  t.equal(({} as Record<string, unknown>).isAdmin, undefined, 'no prototype polluted')
  t.equal(await taskCount(), 1)
})

await t.test('an over-long or undecodable path parameter is a 400 in the error shape', async (t) => {
  for (const url of [`/tasks/task-log/${'9'.repeat(200)}`, '/tasks/task-log/%zz', `/tasks/task/${'%E2%82'.repeat(3)}`]) {
    const res = await app.inject({ method: 'GET', url, headers: alice.auth })
    t.equal(res.statusCode, 400, url)
    t.ok(isCleanError(res))
  }
})

await t.test('security headers on every answer, API and errors alike', async (t) => {
  for (const res of [
    await app.inject({ method: 'GET', url: '/api/health/db' }),
    await app.inject({ method: 'GET', url: '/users/profile' }),
    await app.inject({ method: 'GET', url: '/no-such-route' })
  ]) {
    t.equal(res.headers['x-content-type-options'], 'nosniff')
    t.match(res.headers['content-security-policy'], /default-src 'none'/)
    t.match(res.headers['content-security-policy'], /frame-ancestors 'none'/)
    t.equal(res.headers['x-frame-options'], 'SAMEORIGIN')
    t.match(res.headers['strict-transport-security'], /max-age=\d+/)
    t.equal(res.headers['referrer-policy'], 'no-referrer')
    t.notOk(res.headers['x-powered-by'])
    for (const documentOnly of ['x-xss-protection', 'x-dns-prefetch-control', 'x-download-options', 'x-permitted-cross-domain-policies', 'origin-agent-cluster', 'cross-origin-opener-policy']) {
      t.notOk(res.headers[documentOnly], `${documentOnly}: a browser document's header, not an API's`)
    }
  }
  const docs = await app.inject({ method: 'GET', url: '/docs/' })
  t.equal(docs.statusCode, 200, 'the docs UI still loads')
  t.match(docs.headers['content-security-policy'], /script-src 'self'/, 'with its own policy')
})

await t.test('CORS is off unless CORS_ORIGINS is set', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/api/health/db', headers: { origin: 'https://evil.example' } })
  t.notOk(res.headers['access-control-allow-origin'])
  const preflight = await app.inject({ method: 'OPTIONS', url: '/tasks/create-task', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
  t.notOk(preflight.headers['access-control-allow-origin'])

  const withCors = await build(t, { CORS_ORIGINS: 'https://app.example, https://admin.example' })
  const allowed = await withCors.inject({ method: 'OPTIONS', url: '/tasks/create-task', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } })
  t.equal(allowed.statusCode, 204)
  t.equal(allowed.headers['access-control-allow-origin'], 'https://app.example')
  t.match(allowed.headers['access-control-allow-headers'], /Authorization/)
  t.notOk(allowed.headers['access-control-allow-credentials'])
  const other = await withCors.inject({ method: 'GET', url: '/api/health/db', headers: { origin: 'https://evil.example' } })
  t.notOk(other.headers['access-control-allow-origin'], 'an origin not listed gets nothing')
})

// The limits below live in Node's HTTP parser: they need a real socket.
await app.listen({ host: '127.0.0.1', port: 0 })
const { port } = app.server.address() as net.AddressInfo

/** Sends raw bytes and collects what the server answers until it closes the connection. */
async function rawExchange (bytes: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1')
  let answer = ''
  socket.on('data', (chunk) => { answer += chunk.toString() })
  socket.on('error', () => {})
  socket.write(bytes)
  await once(socket, 'close')
  return answer
}

await t.test('headers over MAX_HEADER_BYTES get 431', async (t) => {
  const answer = await rawExchange(`GET /api/health/db HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`)
  t.match(answer, /^HTTP\/1\.1 431 /)
})

await t.test('a client that never finishes its headers is cut off (slowloris)', async (t) => {
  const answer = await rawExchange('GET /api/health/db HTTP/1.1\r\nHost: x\r\nX-Slow: ')
  t.match(answer, /^HTTP\/1\.1 408 /, 'answered 408 and closed, not kept open')
})

await t.test('a client that never finishes its body is cut off', async (t) => {
  const answer = await rawExchange('POST /users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"username":')
  t.match(answer, /^HTTP\/1\.1 408 /)
})
