import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { serviceUnavailable, tooManyRequests, type HttpError } from '../src/errors.js'
import {
  createRedisStore, MemoryCounter, type Count, type CountResult, type RateLimitStore, type ReadAhead, type ReadAheadResult, type TokenProbe
} from '../src/rate-limit/store.js'
import { tokenRefusal } from '../src/users/tokens.js'

export interface RateLimitRule {
  max: number
  windowMs: number
  /** What is counted; by default the user of a verified token, else the client IP. */
  keyGenerator?: (request: FastifyRequest) => string
  /** Go on counting in this process while Redis is away instead of failing open or closed (brute-force guards). */
  countLocallyWithoutRedis?: boolean
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route's own limit, counted apart from the global one; false: not limited. */
    rateLimit?: RateLimitRule | false
  }
  interface FastifyInstance {
    /** Counts one hit of a limit a handler applies itself (login per username); true when it is exceeded. */
    rateLimitHit: (key: string, rule: RateLimitRule) => Promise<{ exceeded: boolean, retryAfterS: number }>
  }
  interface FastifyRequest {
    /** Redis keys the route needs (set in its own onRequest hook): they are read in the limiter's command. */
    limiterReadAhead: ReadAhead | null
    /** What that read found; null when the limiter did not read them (no Redis, or its count failed). */
    limiterRead: Promise<ReadAheadResult> | null
  }
}

/**
 * Per user when the request carries a verified token (auth's onRequest hooks run first), per client IP
 * otherwise.
 */
function clientKey (request: FastifyRequest): string {
  return request.token !== null ? `user:${request.token.sub}` : `ip:${request.ip}`
}

const retryAfterS = (count: Count): number => Math.max(1, Math.ceil(count.ttlMs / 1000))

/**
 * Fixed-window rate limits, counted in Redis when REDIS_URL is set so every API process shares one count,
 * in this process otherwise. The global rule covers every route; a route sets its own with
 * `config.rateLimit` (counted per route) or opts out with `false`. Every limited response carries
 * x-ratelimit-limit/-remaining/-reset; a 429 also retry-after.
 *
 * At most one Redis command per request: the count also checks the request's bearer token (deny-list entry
 * and user state, src/users/tokens.ts) and reads the keys its route asked for (a list's cache generation, and
 * the list itself unless this process holds it at that generation), so a read makes one round trip in all.
 * Most requests make none: a limit of 32 or more is leased (src/rate-limit/store.ts), and when this process
 * holds the token's state as good and the route has nothing to read, the hit comes from the lease.
 * Not @fastify/rate-limit, whose store can only count: each further Redis command cost a cached read
 * 15-20 µs of CPU in the profile (bench/README.md).
 *
 * When Redis fails, the limits fail open (or closed, with RATE_LIMIT_FAIL_OPEN=false: 503), except the
 * brute-force guards, which go on counting in this process.
 */
export default fp(async (fastify) => {
  const { config, tokens } = fastify
  const store: RateLimitStore = config.redis.url !== undefined
    ? createRedisStore(fastify.redis, fastify.log, config.rateLimit.leaseMax)
    : new MemoryCounter()
  const globalRule: RateLimitRule = { max: config.rateLimit.global.max, windowMs: config.rateLimit.global.windowMs }

  fastify.decorateRequest('limiterReadAhead', null)
  fastify.decorateRequest('limiterRead', null)

  /** The hit counted: from this process's lease when it holds one and nothing needs Redis, else in the store. */
  function count (request: FastifyRequest, key: string, rule: RateLimitRule): Count | null | Promise<Count | null> {
    const claims = request.token
    if (claims !== null && request.tokenCheck === null) {
      const held = tokens.known?.(Number(claims.sub), claims.jti, claims.ver)
      if (held !== undefined) request.tokenCheck = held
    }
    const probe = claims !== null && request.tokenCheck === null ? tokens.probe?.(Number(claims.sub), claims.jti, claims.ver) : undefined
    const readAhead = request.limiterReadAhead ?? undefined
    // Nothing to ask Redis (a token this process holds as good, no keys to read ahead): count from a lease.
    if (probe === undefined && readAhead === undefined) {
      const leased = store.leased?.(key)
      if (leased !== undefined) return leased
    }
    return countInStore(request, key, rule, probe, readAhead)
  }

  async function countInStore (
    request: FastifyRequest, key: string, rule: RateLimitRule, probe: TokenProbe | undefined, readAhead: ReadAhead | undefined
  ): Promise<Count | null> {
    const claims = request.token
    let result: CountResult
    try {
      result = await store.count(key, rule.windowMs, {
        token: probe, read: readAhead, countLocallyWithoutRedis: rule.countLocallyWithoutRedis, max: rule.max
      })
    } catch (error) {
      if (config.rateLimit.failOpen) return null
      request.log.debug({ err: error }, 'rate limit store unavailable: failing closed')
      throw serviceUnavailable()
    }
    if (result.read !== undefined) request.limiterRead = Promise.resolve(result.read)
    if (probe === undefined || result.token === undefined || claims === null) return result.count
    // Auth's preParsing hook answers 401 from this check; a token not counted is counted once it proves good.
    // A counted token's check needs nothing more from PostgreSQL or Redis (its state came with the count),
    // so it cannot fail unawaited when this request is refused with 429 before preParsing.
    const check = tokens.fromProbe(Number(claims.sub), claims.jti, result.token, probe.stamp)
    request.tokenCheck = check
    if (result.count !== null) return result.count
    if (tokenRefusal(await check, claims.ver) !== null) return null
    return (await store.count(key, rule.windowMs, { max: rule.max })).count
  }

  function limitFor (rule: RateLimitRule, namespace: string): onRequestHookHandler {
    /** Sets the limit's headers; the 429 to answer when the hit is over the limit. */
    function answer (reply: FastifyReply, counted: Count | null): HttpError | undefined {
      if (counted === null) return undefined
      const remaining = Math.max(0, rule.max - counted.current)
      reply.header('x-ratelimit-limit', rule.max)
      reply.header('x-ratelimit-remaining', remaining)
      reply.header('x-ratelimit-reset', retryAfterS(counted))
      if (counted.current <= rule.max) return undefined
      reply.header('retry-after', retryAfterS(counted))
      return tooManyRequests(`Rate limit exceeded, retry in ${retryAfterS(counted)} seconds`)
    }
    // A callback hook: most hits are counted from a lease, and an async hook would cost each of them a promise.
    return function rateLimit (request, reply, done) {
      const key = namespace + (rule.keyGenerator ?? clientKey)(request)
      const counted = count(request, key, rule)
      if (counted instanceof Promise) counted.then((hit) => { done(answer(reply, hit)) }, done)
      else done(answer(reply, counted))
    }
  }

  // A route hook, added last: it runs after the hooks that authenticate (the count is per user) and after the
  // route's own onRequest (which may name a key to read along).
  const globalLimit = limitFor(globalRule, 'rate-limit:')
  fastify.addHook('onRoute', (route) => {
    const rule = route.config?.rateLimit
    if (rule === false) return
    const hook = rule === undefined ? globalLimit : limitFor(rule, `rate-limit:${route.method.toString()}${route.url}-`)
    const existing = route.onRequest
    route.onRequest = existing === undefined ? [hook] : [...(Array.isArray(existing) ? existing : [existing]), hook]
  })

  fastify.decorate('rateLimitHit', async (key: string, rule: RateLimitRule) => {
    const { count: counted } = await store.count(`rate-limit:${key}`, rule.windowMs, { countLocallyWithoutRedis: rule.countLocallyWithoutRedis })
    if (counted === null) return { exceeded: false, retryAfterS: 0 }
    return { exceeded: counted.current > rule.max, retryAfterS: retryAfterS(counted) }
  })
}, { name: 'limiter', dependencies: ['config', 'redis', 'auth'] })
