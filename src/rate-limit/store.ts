import type { Redis, Result } from 'ioredis'

/** One hit counted in a fixed window: the hits so far, and the time left until the window ends. */
export interface Count { current: number, ttlMs: number }

/**
 * A bearer token to check in the same Redis command as its count (keys from src/users/tokens.ts); `stamp` is the
 * token store's own, handed back with the answer.
 */
export interface TokenProbe { revokedKey: string, stateKey: string, version: number, stamp: number }

/** What Redis holds about a probed token: whether it is on the deny-list, and its user's cached state. */
export interface TokenProbeAnswer { revoked: boolean, state: string | null }

/**
 * Keys a route reads in the same command, sharing the request's one round trip: `key`, and `second` too
 * unless `key` holds `unless` (a list's bytes, unless the generation is the one this process holds it at).
 */
export interface ReadAhead {
  key: string
  second?: string
  unless?: string
  /** The asker's own, handed back with what was read. */
  stamp?: number
}

/** What a read-ahead found; `second` is absent when it was not read (`key` held `unless`), null when missing. */
export interface ReadAheadResult { value: string | null, second?: Buffer | null }

export interface CountResult {
  /** null when not counted: the probed token is revoked, outdated or of a user Redis holds no state for. */
  count: Count | null
  token?: TokenProbeAnswer
  read?: ReadAheadResult
}

export interface CountOptions {
  token?: TokenProbe
  read?: ReadAhead
  /** Go on counting in this process while Redis is away (brute-force guards), rather than fail. */
  countLocallyWithoutRedis?: boolean
  /** The limit: given, the store may take a lease of several hits at once, to count the next ones locally. */
  max?: number
}

export interface RateLimitStore {
  /** Counts one hit on `key`; a store that cannot probe or read along answers without `token` and `read`. */
  count: (key: string, windowMs: number, options?: CountOptions) => Promise<CountResult>
  /** Counts one hit on `key` from a lease this process holds, without asking anyone; undefined: none left. */
  leased?: (key: string) => Count | undefined
}

export interface StoreLogger {
  warn: (obj: object, msg: string) => void
  info: (msg: string) => void
}

/**
 * INCR, starting the window on the first hit; before it, the token's deny-list entry and its user's state
 * (a token revoked, of an older version or of an unknown user is not counted: whoever holds a revoked
 * token must not use up its user's limit) and the route's read-ahead. One command, one round trip.
 * A lease: INCRBY of `want` hits rather than 1, unless that would go over the limit (then exactly this one),
 * so the hits counted never exceed what was granted; the process counts the rest of its lease itself.
 * `want` 0: the hit comes from a lease, nothing is counted (the token is still checked, the keys read).
 * KEYS: counter, [deny-list entry, user state,] [read-ahead key, [its second key]];
 * ARGV: window ms, '1' if probing a token, its version, the value of the read-ahead key that spares
 * reading the second, hits wanted, the limit.
 * Returns this hit's count, the window's time left, what the probe and read-ahead found, the hits granted.
 */
const COUNT = `
local next_key = 2
local revoked, state = 0, false
if ARGV[2] == '1' then
  revoked = redis.call('EXISTS', KEYS[2])
  state = redis.call('GET', KEYS[3])
  next_key = 4
end
local read, also = false, false
if #KEYS >= next_key then
  read = redis.call('GET', KEYS[next_key])
  if #KEYS > next_key and read ~= ARGV[4] then also = redis.call('GET', KEYS[next_key + 1]) end
end
if ARGV[2] == '1' and (revoked == 1 or not state or string.match(state, '^%-?%d+') ~= ARGV[3]) then
  return {0, 0, revoked, state, read, also, 0}
end
local want = tonumber(ARGV[5])
if want == 0 then return {-1, 0, revoked, state, read, also, 0} end
if want > 1 and tonumber(redis.call('GET', KEYS[1]) or '0') + want > tonumber(ARGV[6]) then want = 1 end
local total = redis.call('INCRBY', KEYS[1], want)
local ttl = redis.call('PTTL', KEYS[1])
if total == want or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {total - want + 1, ttl, revoked, state, read, also, want}`

type CountReply = [number, number, number, string | null, string | null, string | null, number]
// When the second key is expected back (no `unless` given) the reply comes as bytes: they are sent as they
// are, never decoded. With `unless`, bytes would cost every read converting the rest, for a second key rarely read.
type CountReplyBytes = [number, number, number, Buffer | null, Buffer | null, Buffer | null, number]

declare module 'ioredis' {
  interface RedisCommander<Context> {
    rateLimitCount: (numberOfKeys: number, ...keysThenArgs: Array<string | number>) => Result<CountReply, Context>
    rateLimitCountBuffer: (numberOfKeys: number, ...keysThenArgs: Array<string | number>) => Result<CountReplyBytes, Context>
  }
}

const text = (value: string | Buffer | null): string | null => value === null ? null : value.toString()
const bytes = (value: string | Buffer | null): Buffer | null => value === null || Buffer.isBuffer(value) ? value : Buffer.from(value)

/** A fixed-window counter in this process: bounded, oldest keys dropped first. */
export class MemoryCounter implements RateLimitStore {
  private readonly windows = new Map<string, { count: number, resetAt: number }>()
  constructor (private readonly maxKeys = 10_000) {}

  increment (key: string, windowMs: number, now = Date.now()): Count {
    let entry = this.windows.get(key)
    if (entry === undefined || entry.resetAt <= now) {
      this.windows.delete(key)
      if (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value as string)
      entry = { count: 0, resetAt: now + windowMs }
      this.windows.set(key, entry)
    }
    entry.count++
    return { current: entry.count, ttlMs: entry.resetAt - now }
  }

  async count (key: string, windowMs: number): Promise<CountResult> {
    return { count: this.increment(key, windowMs) }
  }
}

/** What is left of a lease: the counts this process may still give out itself, until the window ends. */
interface Lease { next: number, last: number, resetAt: number }
const MAX_LEASES = 10_000

/**
 * Counts in Redis, shared by every API process. A limit of at least 32 hits is leased: up to `leaseMax` hits,
 * a sixteenth of the limit at most, are counted in Redis at once and given out by this process, so most
 * requests cost no Redis command. The total never goes over the limit (near it, hits are counted one by one);
 * the price is that hits another process has leased and not used are not available to this one until the
 * window ends, and that x-ratelimit-remaining is exact per process, not across them.
 * When Redis fails, counts marked countLocallyWithoutRedis
 * (login's brute-force guards) go on in this process and any other count fails: the limiter then fails
 * open or closed (RATE_LIMIT_FAIL_OPEN). The outage is logged once, and its end once.
 */
export function createRedisStore (redis: Redis, log: StoreLogger, leaseMax = 1): RateLimitStore {
  if (typeof redis.rateLimitCount !== 'function') {
    // The number of keys varies per call: it is the command's first argument.
    redis.defineCommand('rateLimitCount', { lua: COUNT })
  }
  const local = new MemoryCounter()
  const leases = new Map<string, Lease>()
  let degraded = false

  function leased (key: string): Count | undefined {
    const lease = leases.get(key)
    if (lease === undefined) return undefined
    const now = Date.now()
    if (lease.next > lease.last || lease.resetAt <= now) {
      leases.delete(key)
      return undefined
    }
    return { current: lease.next++, ttlMs: lease.resetAt - now }
  }

  return {
    leased,

    async count (key, windowMs, options = {}) {
      const { token, read, max } = options
      // A hit from a lease still held: the command only checks the token and reads ahead (0 hits wanted).
      const fromLease = max !== undefined ? leased(key) : undefined
      const want = fromLease !== undefined ? 0 : max === undefined ? 1 : Math.max(1, Math.min(leaseMax, Math.floor(max / 16)))
      const keys = token === undefined ? [key] : [key, token.revokedKey, token.stateKey]
      if (read !== undefined) keys.push(read.key)
      if (read?.second !== undefined) keys.push(read.second)
      const args = [...keys, windowMs, token === undefined ? '0' : '1', token?.version ?? 0, read?.unless ?? '', want, max ?? 0]
      let reply: CountReply | CountReplyBytes
      try {
        reply = read?.second !== undefined && read.unless === undefined
          ? await redis.rateLimitCountBuffer(keys.length, ...args)
          : await redis.rateLimitCount(keys.length, ...args)
      } catch (error) {
        if (!degraded) {
          degraded = true
          log.warn({ err: error }, 'rate limit store unavailable: login counted in-process, other limits per RATE_LIMIT_FAIL_OPEN')
        }
        if (fromLease !== undefined) return { count: fromLease }
        if (options.countLocallyWithoutRedis === true) return { count: local.increment(key, windowMs) }
        throw error
      }
      if (degraded) {
        degraded = false
        log.info('rate limits are counted in Redis again')
      }
      const [current, ttlMs, revoked, state, value, second, granted] = reply
      // A token refused is not counted: the lease gets its hit back.
      if (fromLease !== undefined && current === 0) {
        const lease = leases.get(key)
        if (lease !== undefined && lease.next === fromLease.current + 1) lease.next--
      }
      if (granted > 1) {
        if (leases.size >= MAX_LEASES) leases.delete(leases.keys().next().value as string)
        leases.set(key, { next: current + 1, last: current + granted - 1, resetAt: Date.now() + ttlMs })
      }
      return {
        count: current === 0 ? null : fromLease ?? { current, ttlMs },
        ...(token !== undefined && { token: { revoked: revoked === 1, state: text(state) } }),
        ...(read !== undefined && {
          read: {
            value: text(value),
            ...(read.second !== undefined && text(value) !== read.unless && { second: bytes(second) })
          }
        })
      }
    }
  }
}
