import t from 'tap'
import { build, isCleanError, signUp } from './helper.js'

const app = await build(t, { RATE_LIMIT_LOGIN_MAX: '100', RATE_LIMIT_LOGIN_USERNAME_MAX: '3' })
await signUp(app, 'target')
const login = async (username: string, password: string, ip: string) =>
  await app.inject({ method: 'POST', url: '/users/login', remoteAddress: ip, payload: { username, password } })

await t.test('login is limited per username whatever the IP, shared through Redis', async (t) => {
  // signUp logged in once already: two more guesses, then the account's window is spent.
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await login('target', `guess-${i}-password`, `10.7.0.${i}`)).statusCode)
  t.same(statuses, [401, 401, 429])
  const refused = await login('target', 'target-password', '10.7.1.1')
  t.equal(refused.statusCode, 429, 'even with the right password, until the window ends')
  t.ok(isCleanError(refused))
  t.ok(Number(refused.headers['retry-after']) > 0)
  t.equal((await login('someone-else', 'whatever-password', '10.7.0.0')).statusCode, 401, 'other accounts are not affected')
})
