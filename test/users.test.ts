import { createHmac } from 'node:crypto'
import t from 'tap'
import { build, isCleanError, JWT_SECRET, signUp } from './helper.js'

const app = await build(t, { ADMIN_USERNAME: undefined, RATE_LIMIT_LOGIN_MAX: '1000', RATE_LIMIT_MAX: '10000' })

function base64url (value: object | string): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
}
function hs256 (header: object, payload: object, secret = JWT_SECRET): string {
  const unsigned = `${base64url(header)}.${base64url(payload)}`
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`
}

await t.test('register creates a user with the default role and never returns the password or hash', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/users/register', payload: { username: 'alice', password: 'alice-password' } })
  t.equal(res.statusCode, 201)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['message', 'user'])
  t.match(body.user, { id: Number, username: 'alice', role: 'user' })
  t.same(Object.keys(body.user).sort(), ['id', 'role', 'username'])
  t.notMatch(res.body, /password|argon2/)
})

await t.test('a duplicate username is 409', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/users/register', payload: { username: 'alice', password: 'another-password' } })
  t.equal(res.statusCode, 409)
  t.ok(isCleanError(res))
})

await t.test('invalid registrations are 400 in the error shape', async (t) => {
  for (const payload of [
    { username: 'ab', password: 'long-enough' },
    { username: 'has space', password: 'long-enough' },
    { username: 'x'.repeat(51), password: 'long-enough' },
    { username: 'bob', password: 'short' },
    { username: 'bob', password: 'p'.repeat(129) },
    { username: 'bob', password: 'long-enough', role: 'superuser' },
    { username: 'bob', password: 'long-enough', is_admin: true },
    { username: 12345, password: 'long-enough' },
    { password: 'long-enough' }
  ]) {
    const res = await app.inject({ method: 'POST', url: '/users/register', payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 80))
    t.ok(isCleanError(res))
  }
})

await t.test('the first admin registers without a token exactly once, later admins need an admin token', async (t) => {
  const first = await app.inject({ method: 'POST', url: '/users/register', payload: { username: 'admin', password: 'admin123', role: 'admin' } })
  t.equal(first.statusCode, 201)
  t.equal(first.json().user.role, 'admin')

  const second = await app.inject({ method: 'POST', url: '/users/register', payload: { username: 'admin2', password: 'admin123', role: 'admin' } })
  t.equal(second.statusCode, 403)

  const user = await signUp(app, 'plainuser')
  const byUser = await app.inject({ method: 'POST', url: '/users/register', headers: user.auth, payload: { username: 'admin3', password: 'admin123', role: 'admin' } })
  t.equal(byUser.statusCode, 403)

  const login = await app.inject({ method: 'POST', url: '/users/login', payload: { username: 'admin', password: 'admin123' } })
  const byAdmin = await app.inject({
    method: 'POST',
    url: '/users/register',
    headers: { authorization: `Bearer ${login.json().access_token}` },
    payload: { username: 'admin4', password: 'admin123', role: 'admin' }
  })
  t.equal(byAdmin.statusCode, 201)
  t.equal(byAdmin.json().user.role, 'admin')
})

await t.test('login returns a bearer token with HS256, a string sub, the role and an expiry', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/users/login', payload: { username: 'alice', password: 'alice-password' } })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.match(body, { message: String, access_token: String, token_type: 'Bearer', expires_in: 86400 })
  const [header, payload] = body.access_token.split('.').slice(0, 2).map((part: string) => JSON.parse(Buffer.from(part, 'base64url').toString()))
  t.equal(header.alg, 'HS256')
  t.type(payload.sub, 'string')
  t.equal(payload.role, 'user')
  t.equal(payload.exp - payload.iat, 86400)
})

await t.test('a wrong password and an unknown user get the same 401', async (t) => {
  const wrong = await app.inject({ method: 'POST', url: '/users/login', payload: { username: 'alice', password: 'not-her-password' } })
  const unknown = await app.inject({ method: 'POST', url: '/users/login', payload: { username: 'nobody', password: 'whatever-pass' } })
  t.equal(wrong.statusCode, 401)
  t.equal(unknown.statusCode, 401)
  t.same(wrong.json(), unknown.json())
})

await t.test('profile answers the signed-in user', async (t) => {
  const login = await app.inject({ method: 'POST', url: '/users/login', payload: { username: 'alice', password: 'alice-password' } })
  const res = await app.inject({ method: 'GET', url: '/users/profile', headers: { authorization: `Bearer ${login.json().access_token}` } })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { id: Number, username: 'alice', role: 'user' })
})

await t.test('profile refuses every bad token with 401 in the error shape', async (t) => {
  const now = Math.floor(Date.now() / 1000)
  const claims = { sub: '1', role: 'user', ver: 0, iat: now }
  const cases: Record<string, string | undefined> = {
    'no header': undefined,
    'no Bearer scheme': hs256({ alg: 'HS256', typ: 'JWT' }, { ...claims, exp: now + 60 }),
    'malformed token': 'Bearer not.a.token',
    'alg none': `Bearer ${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ ...claims, exp: now + 60 })}.`,
    'wrong signature': `Bearer ${hs256({ alg: 'HS256', typ: 'JWT' }, { ...claims, exp: now + 60 }, 'another-secret')}`,
    expired: `Bearer ${hs256({ alg: 'HS256', typ: 'JWT' }, { ...claims, iat: now - 120, exp: now - 60 })}`,
    'not yet valid': `Bearer ${hs256({ alg: 'HS256', typ: 'JWT' }, { ...claims, nbf: now + 600, exp: now + 900 })}`,
    'HS512 instead of HS256': `Bearer ${(() => {
      const unsigned = `${base64url({ alg: 'HS512', typ: 'JWT' })}.${base64url({ ...claims, exp: now + 60 })}`
      return `${unsigned}.${createHmac('sha512', JWT_SECRET).update(unsigned).digest('base64url')}`
    })()}`
  }
  for (const [name, authorization] of Object.entries(cases)) {
    const res = await app.inject({ method: 'GET', url: '/users/profile', headers: authorization === undefined ? {} : { authorization } })
    t.equal(res.statusCode, 401, name)
    t.ok(isCleanError(res), name)
  }
})

await t.test('ADMIN_USERNAME/ADMIN_PASSWORD create the first admin at start-up', async (t) => {
  const seeded = await build(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'root-password-1' })
  const login = await seeded.inject({ method: 'POST', url: '/users/login', payload: { username: 'root', password: 'root-password-1' } })
  t.equal(login.statusCode, 200)
  const profile = await seeded.inject({ method: 'GET', url: '/users/profile', headers: { authorization: `Bearer ${login.json().access_token}` } })
  t.equal(profile.json().role, 'admin')
  const open = await seeded.inject({ method: 'POST', url: '/users/register', payload: { username: 'sneaky', password: 'admin123', role: 'admin' } })
  t.equal(open.statusCode, 403, 'no tokenless admin once one exists')
  const noDefaults = await seeded.inject({ method: 'POST', url: '/users/login', payload: { username: 'admin', password: 'admin123' } })
  t.equal(noDefaults.statusCode, 401, 'no built-in admin/admin123')
})
