import t from 'tap'
import { loadConfig } from '../src/config.js'

t.test('defaults match the documented contract', async (t) => {
  const config = loadConfig({})
  t.equal(config.port, 3000)
  t.equal(config.db.url, undefined)
  t.equal(config.redis.url, undefined)
  t.same(config.rateLimit.global, { max: 100, windowMs: 3_600_000 })
  t.same(config.rateLimit.taskList, { max: 5, windowMs: 60_000 })
  t.same(config.rateLimit.login, { max: 10, windowMs: 60_000 })
  t.equal(config.cacheTtlS, 3600)
  t.equal(config.jwt.expiresInS, 86_400)
  t.equal(config.bootstrapAdmin, undefined, 'no built-in admin')
})

t.test('production refuses to start without a JWT secret of at least 32 bytes', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), { name: 'ConfigError', message: /JWT_SECRET/ })
  t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'short' }), { name: 'ConfigError' })
  t.equal(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }).jwt.secret, 'x'.repeat(32))
})

t.test('invalid values are refused with every problem named', async (t) => {
  t.throws(() => loadConfig({ PORT: 'eighty' }), /PORT/)
  t.throws(() => loadConfig({ DAILY_TASK_LOG_TIME: '25:00' }), /DAILY_TASK_LOG_TIME/)
  t.throws(() => loadConfig({ ADMIN_USERNAME: 'root' }), /ADMIN_PASSWORD/)
  t.equal(loadConfig({ RATE_LIMIT_FAIL_OPEN: 'false' }).rateLimit.failOpen, false)
})
