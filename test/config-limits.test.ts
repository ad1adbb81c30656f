import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

await t.test('the limits, timeouts and CORS settings have safe defaults', async (t) => {
  const config = loadConfig({})
  t.same(config.corsOrigins, [], 'CORS off')
  t.equal(config.maxHeaderBytes, 16_384)
  t.equal(config.headersTimeoutMs, 10_000)
  t.equal(config.handlerTimeoutMs, 15_000)
  t.equal(config.shutdownDrainMs, 3000)
  t.equal(config.jsonMaxDepth, 32)
  t.equal(config.jwt.authStateTtlS, 60)
  t.equal(config.rateLimit.loginPerUsernameMax, 5)
  t.equal(config.rateLimit.failOpen, true)
  t.equal(config.rateLimit.leaseMax, 64)
  t.equal(config.redis.coherenceTimeoutMs, 2000)
  t.equal(config.passwordHashConcurrency, 4, "libuv's own default pool size")
  t.equal(loadConfig({ UV_THREADPOOL_SIZE: '2' }).passwordHashConcurrency, 2, 'one hash per pool thread')
})

await t.test('CORS_ORIGINS is a comma-separated list', async (t) => {
  t.same(loadConfig({ CORS_ORIGINS: 'https://a.example, https://b.example,,' }).corsOrigins, ['https://a.example', 'https://b.example'])
})

await t.test('nonsense limits are refused at start-up', async (t) => {
  for (const env of [{ MAX_HEADER_BYTES: '10' }, { JSON_MAX_DEPTH: '0' }, { HANDLER_TIMEOUT_MS: '-1' }, { AUTH_STATE_TTL_S: 'soon' }, { RATE_LIMIT_LOGIN_USERNAME_MAX: '0' },
    { RATE_LIMIT_LEASE_MAX: '0' }, { COHERENCE_TIMEOUT_MS: '10' }, { UV_THREADPOOL_SIZE: '0' }]) {
    t.throws(() => loadConfig(env), ConfigError, JSON.stringify(env))
  }
})
