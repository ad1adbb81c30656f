import { createHmac } from 'node:crypto'
import t from 'tap'
import postgres from 'postgres'
import { build, deleteRedisKeys, isCleanError, JWT_SECRET, signUp } from './helper.js'

const app = await build(t, { RATE_LIMIT_MAX: '10000', RATE_LIMIT_LOGIN_MAX: '1000', RATE_LIMIT_LOGIN_USERNAME_MAX: '1000' })
const sql = postgres(app.config.db.url as string, { max: 1, onnotice: () => {} })
t.teardown(async () => { await sql.end() })

const b64 = (value: object | string): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
/** A token built by hand, so that every field and the algorithm can be wrong on purpose. */
function forge (payload: Record<string, unknown>, { alg = 'HS256', secret = JWT_SECRET, signature }: { alg?: string, secret?: string, signature?: string } = {}): string {
  const head = `${b64({ alg, typ: 'JWT' })}.${b64(payload)}`
  const hash = alg === 'HS512' ? 'sha512' : 'sha256'
  return `${head}.${signature ?? createHmac(hash, secret).update(head).digest('base64url')}`
}
const now = (): number => Math.floor(Date.now() / 1000)

const alice = await signUp(app, 'alice')
const claims = (extra: Record<string, unknown> = {}) => ({ sub: String(alice.id), role: 'user', ver: 0, jti: `forged-${Math.random()}`, iat: now(), exp: now() + 600, ...extra })
const profile = async (authorization?: string) =>
  await app.inject({ method: 'GET', url: '/users/profile', headers: authorization === undefined ? {} : { authorization } })

await t.test('a well-formed token signed with the secret is accepted (the forgeries below differ by one thing)', async (t) => {
  t.equal((await profile(`Bearer ${forge(claims())}`)).statusCode, 200)
})

await t.test('every bad token answers 401 in the error shape', async (t) => {
  const cases: Record<string, string | undefined> = {
    'no Authorization header': undefined,
    'no "Bearer" scheme': forge(claims()),
    'another scheme': `Basic ${b64('alice:alice-password')}`,
    'Bearer without a token': 'Bearer ',
    'not a JWT': 'Bearer not-a-jwt',
    'alg "none" without a signature': `Bearer ${forge(claims(), { alg: 'none', signature: '' })}`,
    'alg "none" with a signature': `Bearer ${forge(claims(), { alg: 'none' })}`,
    'another algorithm (HS512, same secret)': `Bearer ${forge(claims(), { alg: 'HS512' })}`,
    'a wrong signature': `Bearer ${forge(claims(), { secret: 'another-secret-that-is-long-enough-0123456789' })}`,
    expired: `Bearer ${forge(claims({ iat: now() - 7200, exp: now() - 3600 }))}`,
    'not yet valid (nbf in the future)': `Bearer ${forge(claims({ nbf: now() + 3600 }))}`,
    'no jti (an old-format token)': `Bearer ${forge({ ...claims(), jti: undefined })}`,
    'a sub that is not a user id': `Bearer ${forge(claims({ sub: 'alice' }))}`,
    'a user that does not exist': `Bearer ${forge(claims({ sub: '999999' }))}`,
    'a stale token version': `Bearer ${forge(claims({ ver: 7 }))}`
  }
  for (const [name, authorization] of Object.entries(cases)) {
    const res = await profile(authorization)
    t.equal(res.statusCode, 401, name)
    t.ok(isCleanError(res), `${name}: error shape`)
  }
})

await t.test("a deleted user's token is refused", async (t) => {
  const ghost = await signUp(app, 'ghost')
  t.equal((await profile(ghost.auth.authorization)).statusCode, 200)
  await sql`delete from users where id = ${ghost.id}`
  // The user's state is cached for AUTH_STATE_TTL_S; an operator deleting in SQL also clears it (README).
  await app.tokens.forget(ghost.id)
  t.equal((await profile(ghost.auth.authorization)).statusCode, 401)
  t.equal((await app.inject({ method: 'POST', url: '/tasks/create-task', headers: ghost.auth, payload: { task_name: 'x' } })).statusCode, 401)
})

await t.test('an admin demoted in the database loses admin actions at once, whatever the token says', async (t) => {
  const root = await signUp(app, 'root', { role: 'admin' })
  const deputy = await signUp(app, 'deputy', { role: 'admin', adminToken: root.token })
  t.equal((await app.inject({ method: 'POST', url: '/tasks/create-task', headers: deputy.auth, payload: { task_name: 'for alice', assigned_user: alice.id } })).statusCode, 201,
    'an admin may assign to others')
  const own = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: deputy.auth, payload: { task_name: 'own' } })

  await sql`update users set role = 'user' where id = ${deputy.id}`
  const assign = await app.inject({ method: 'POST', url: '/tasks/create-task', headers: deputy.auth, payload: { task_name: 'again', assigned_user: alice.id } })
  t.equal(assign.statusCode, 403, 'no assigning to others')
  const reassign = await app.inject({ method: 'PUT', url: `/tasks/update-task/${own.json().task.id}`, headers: deputy.auth, payload: { assigned_user: alice.id } })
  t.equal(reassign.statusCode, 403, 'no reassigning')
  const makeAdmin = await app.inject({ method: 'POST', url: '/users/register', headers: deputy.auth, payload: { username: 'minion', password: 'minion-password', role: 'admin' } })
  t.equal(makeAdmin.statusCode, 403, 'no creating admins')
  t.same(await sql`select id from users where username = 'minion'`, [], 'nothing created')
})

await t.test('logout revokes the presented token only, in every API process, even after Redis lost its data', async (t) => {
  const bob = await signUp(app, 'bob')
  const second = await app.inject({ method: 'POST', url: '/users/login', payload: { username: 'bob', password: 'bob-password' } })
  const otherToken = `Bearer ${second.json().access_token as string}`
  const other = await build(t, { REDIS_KEY_PREFIX: app.config.redis.keyPrefix, DATABASE_URL: app.config.db.url })
  t.equal((await other.inject({ method: 'GET', url: '/users/profile', headers: bob.auth })).statusCode, 200)

  const out = await app.inject({ method: 'POST', url: '/users/logout', headers: bob.auth })
  t.equal(out.statusCode, 200)
  t.same(out.json(), { message: 'Logged out' })
  t.equal((await profile(bob.auth.authorization)).statusCode, 401, 'refused by this process')
  t.equal((await other.inject({ method: 'GET', url: '/users/profile', headers: bob.auth })).statusCode, 401, 'and by the other')
  t.equal((await app.inject({ method: 'POST', url: '/users/logout', headers: bob.auth })).statusCode, 401, 'cannot log out twice')
  t.equal((await profile(otherToken)).statusCode, 200, "bob's other session goes on")

  await deleteRedisKeys(app.config.redis.keyPrefix)
  t.equal((await profile(bob.auth.authorization)).statusCode, 401, 'still refused once Redis lost its deny-list (PostgreSQL keeps it)')
  t.equal((await profile(otherToken)).statusCode, 200)
  const [row] = await sql`select count(*)::int as n from revoked_tokens where user_id = ${bob.id}`
  t.equal(row?.n, 1, 'one revocation stored, until the token expires')
})

await t.test('a password change revokes every earlier token and answers a fresh one', async (t) => {
  const carol = await signUp(app, 'carol')
  const second = `Bearer ${(await app.inject({ method: 'POST', url: '/users/login', payload: { username: 'carol', password: 'carol-password' } })).json().access_token as string}`

  const wrong = await app.inject({ method: 'POST', url: '/users/change-password', headers: carol.auth, payload: { current_password: 'nope-nope', new_password: 'a-new-password' } })
  t.equal(wrong.statusCode, 403, 'the current password is required')
  t.equal((await profile(carol.auth.authorization)).statusCode, 200, 'a refused change revokes nothing')

  const changed = await app.inject({ method: 'POST', url: '/users/change-password', headers: carol.auth, payload: { current_password: 'carol-password', new_password: 'a-new-password' } })
  t.equal(changed.statusCode, 200)
  t.equal((await profile(carol.auth.authorization)).statusCode, 401, 'the token used is revoked')
  t.equal((await profile(second)).statusCode, 401, 'and every other earlier one')
  t.equal((await profile(`Bearer ${changed.json().access_token as string}`)).statusCode, 200, 'the fresh token works')
  t.equal((await app.inject({ method: 'POST', url: '/users/login', payload: { username: 'carol', password: 'carol-password' } })).statusCode, 401, 'the old password is gone')
  t.equal((await app.inject({ method: 'POST', url: '/users/login', payload: { username: 'carol', password: 'a-new-password' } })).statusCode, 200)
})
