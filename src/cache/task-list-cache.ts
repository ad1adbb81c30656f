import { setImmediate as afterThisTurn } from 'node:timers/promises'
import type { Redis, Result } from 'ioredis'
import { COHERENCE_MEMBERS, coherenceChannel, PUBLISH_AND_LIST_MEMBERS, type Coherence } from '../coherence.js'
import type { ReadAhead, ReadAheadResult } from '../rate-limit/store.js'

/** Who is looking at a day's list: an admin sees the whole day, a user what they created or are assigned. */
export type Viewer = { role: 'admin' } | { role: 'user', userId: number }

/** What a write touched: every list holding the task before or after it must be invalidated. */
export interface TaskListChange {
  dates: readonly string[]
  userIds: readonly number[]
}

/**
 * A cached list is filled only if no write to its date happened since the read that missed:
 * `generation` is what the read saw, and `fill` compares it again before storing.
 */
export interface CachedTaskList {
  /** The cached JSON array of tasks as UTF-8 bytes (sent as they are, never re-encoded), or null on a miss. */
  json: Buffer | null
  /**
   * The date's generation as the read saw it: every write answered before the read had already moved it.
   * '' when the cache cannot tell (bypassed during a Redis outage).
   */
  generation: string
}

/** What a caller read ahead for `read`, in a Redis round trip it made anyway (the rate limiter's). */
export interface ListReadAhead { asked: ReadAhead, found: Promise<ReadAheadResult> }

export interface TaskListCache {
  /**
   * The keys to read ahead for a day's list: its date's generation, and the list itself unless this process
   * holds it at that generation. Undefined: nothing to read ahead (no Redis, the cache is bypassed, or this
   * process holds the list at the generation the coherence channel says is current).
   */
  readAhead?: (date: string, viewer: Viewer) => ReadAhead | undefined
  /**
   * A day's list, when this process holds it at the generation the coherence channel says is current: read
   * without any I/O. Undefined: ask `read`.
   */
  held?: (date: string, viewer: Viewer) => Buffer | undefined
  /**
   * A day's list as the viewer sees it, or a miss. `ahead` is what readAhead's keys held, read after every
   * write that the request follows.
   */
  read: (date: string, viewer: Viewer, ahead?: ListReadAhead) => Promise<CachedTaskList>
  /** Stores `json` (UTF-8 bytes) unless a write touched the date since the read that missed; kept as it is. */
  fill: (date: string, viewer: Viewer, json: Buffer, generation: string) => Promise<void>
  invalidate: (change: TaskListChange) => Promise<void>
  /**
   * Drops the lists held in this process and, with a coherence channel, in every process (after a purge: a
   * generation read before it may match an old copy).
   */
  dropHeldCopies?: () => Promise<void>
}

/** `task:<date>` for the admin view, `task:<date>:user:<id>` for a user's: the old service's key format. */
export function taskListKey (date: string, viewer: Viewer): string {
  return viewer.role === 'admin' ? `task:${date}` : `task:${date}:user:${viewer.userId}`
}

function generationKey (date: string): string {
  return `task-generation:${date}`
}

/** Every list that holds a task of the change: per date, the admin view and the views of its users. */
function listsTouchedBy (change: TaskListChange): string[] {
  const lists: string[] = []
  for (const date of change.dates) {
    lists.push(taskListKey(date, { role: 'admin' }))
    for (const userId of change.userIds) lists.push(taskListKey(date, { role: 'user', userId }))
  }
  return lists
}

// Compare-and-set: store the list only while the date's generation is still the one the reader saw. A date
// without one (never written, or its key expired) gets one here, from Redis' clock as INVALIDATE starts them,
// so this process can keep the list it filled: a copy is never tagged with a missing generation, yet a
// never-written date would otherwise send every read of it to Redis for the whole list. Returns the
// generation the list was stored under, or nil when a write came first.
// KEYS: list, generation; ARGV: list JSON, generation read, list TTL in s, generation TTL in ms.
const FILL_IF_GENERATION_UNCHANGED = `
local current = redis.call('GET', KEYS[2])
if not current then
  if ARGV[2] ~= '0' then return false end
  local now = redis.call('TIME')
  current = now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('SET', KEYS[2], current, 'PX', ARGV[4])
elseif current ~= ARGV[2] then
  return false
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return current`

/**
 * Moves each date's generation on, deletes the lists and announces the new generations to every process
 * (src/coherence.ts: `<writer> lists <date>=<generation>...`), in one step. A generation is a counter, but one
 * that never starts again from 1: generation keys expire, and a restarted counter could bring back the very
 * value an old in-process copy is tagged with (ABA). A missing key starts from Redis' clock in microseconds,
 * above any value it held before. A release without the coherence channel does not announce its writes:
 * it must not share a key prefix with this one (README, "Caching and rate limits").
 * KEYS: the coherence members, the generation keys, then the list keys; ARGV: how many generation keys, their
 * TTL in ms, the coherence channel, the writer, then the dates of the generation keys. Returns the new
 * generations as announced, and the members to wait for (src/coherence.ts).
 */
const INVALIDATE = `${PUBLISH_AND_LIST_MEMBERS}
local generations = tonumber(ARGV[1])
local announced = {}
for i = 2, generations + 1 do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    local now = redis.call('TIME')
    -- Seconds and microseconds as digits: Lua would print the sum of them in exponent notation.
    redis.call('SET', KEYS[i], now[1] .. string.format('%06d', tonumber(now[2])))
  end
  redis.call('INCR', KEYS[i])
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
  announced[#announced + 1] = ARGV[3 + i] .. '=' .. redis.call('GET', KEYS[i])
end
if #KEYS > generations + 1 then redis.call('DEL', unpack(KEYS, generations + 2)) end
local changes = table.concat(announced, ' ')
return {changes, publish_and_list_members(KEYS[1], ARGV[3], ARGV[4] .. ' lists ' .. changes)}`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    fillTaskList: (listKey: string, generationKey: string, json: Buffer, generation: string, ttlS: number, generationTtlMs: number) => Result<string | null, Context>
    invalidateTaskLists: (numberOfKeys: number, ...keysThenArgs: Array<string | number>) => Result<[string, Array<string | number>], Context>
  }
}

/**
 * Lists this process has read from Redis, tagged with the generation they were read under and bounded in bytes.
 * An entry is used only while Redis still holds that generation for its date, so a write through any
 * process is seen by the next read through every process; the bytes no longer cross the network.
 */
class LocalLists {
  private readonly entries = new Map<string, { json: Buffer, generation: string, expiresAt: number }>()
  private bytes = 0

  constructor (private readonly maxBytes: number, private readonly ttlMs: number) {}

  /** The generation the list at `key` is held at, if it is held. */
  generationOf (key: string): string | undefined {
    const entry = this.entries.get(key)
    return entry !== undefined && entry.expiresAt > Date.now() ? entry.generation : undefined
  }

  get (key: string, generation: string): Buffer | null {
    const entry = this.entries.get(key)
    if (entry === undefined) return null
    if (entry.generation !== generation || entry.expiresAt <= Date.now()) {
      this.delete(key)
      return null
    }
    return entry.json
  }

  set (key: string, json: Buffer, generation: string): void {
    if (json.length > this.maxBytes / 4) return
    this.delete(key)
    // Oldest first: Map keeps insertion order.
    for (const [oldest] of this.entries) {
      if (this.bytes + json.length <= this.maxBytes) break
      this.delete(oldest)
    }
    // The entry lives no longer than the Redis copy would, so its generation key always outlives it.
    this.entries.set(key, { json, generation, expiresAt: Date.now() + this.ttlMs })
    this.bytes += json.length
  }

  clear (): void {
    this.entries.clear()
    this.bytes = 0
  }

  delete (key: string): void {
    const entry = this.entries.get(key)
    if (entry === undefined) return
    this.entries.delete(key)
    this.bytes -= entry.json.length
  }
}

export interface RedisTaskListCacheOptions {
  /** Bytes of lists kept in this process (0: none, every read fetches the list from Redis). */
  localMaxBytes?: number
  /**
   * With it, a list this process holds is served without asking Redis while the channel is trusted and no
   * write was announced for its date since; invalidations wait until every process has applied them.
   * Without it, every read asks Redis for the date's generation (one command, read along with the limiter's).
   */
  coherence?: Coherence
}

/** What the writes of one turn of the event loop invalidate, and its one script (sent right after the turn). */
interface InvalidationBatch { dates: Set<string>, lists: Set<string>, sent: Promise<void> }
/** Keys one batch of invalidations gathers before the next starts (Redis' Lua unpacks up to ~8,000 values). */
const MAX_KEYS_PER_INVALIDATION = 1000
/** Whether generation `a` is newer than `b` (integers as digits, without leading zeros). */
const newer = (a: string, b: string): boolean => a.length !== b.length ? a.length > b.length : a > b
const MAX_KNOWN_DATES = 100_000

/**
 * A date no write or fill has touched yet (or whose key expired). No in-process copy is tagged with it: a purge
 * after a Redis outage voids copies by moving every existing generation on, and cannot move a missing one.
 */
const NO_GENERATION = '0'

export function createRedisTaskListCache (redis: Redis, ttlS: number, options: RedisTaskListCacheOptions = {}): TaskListCache {
  if (typeof redis.fillTaskList !== 'function') {
    redis.defineCommand('fillTaskList', { numberOfKeys: 2, lua: FILL_IF_GENERATION_UNCHANGED })
    // The number of keys varies per call: it is the command's first argument.
    redis.defineCommand('invalidateTaskLists', { lua: INVALIDATE })
  }
  // A generation must outlive every list it guards (in Redis and in each process).
  const generationTtlMs = ttlS * 2 * 1000
  const local = (options.localMaxBytes ?? 0) > 0 ? new LocalLists(options.localMaxBytes as number, ttlS * 1000) : undefined
  const { coherence } = options
  const channel = coherenceChannel(redis.options.keyPrefix ?? '')
  // Each date's generation as last heard, while the coherence channel is trusted: from a read, a fill, or an
  // announced write. A held list at this generation is current: any later write would have been announced.
  const known = new Map<string, string>()
  coherence?.onReset(() => { known.clear() })
  coherence?.on('lists', learnAnnounced)
  coherence?.on('purged', () => {
    known.clear()
    local?.clear()
  })

  /** Takes in announced generations (`<date>=<generation>`). */
  function learnAnnounced (changes: readonly string[]): void {
    for (const change of changes) {
      const equals = change.indexOf('=')
      learn(change.slice(0, equals), change.slice(equals + 1))
    }
  }

  /** Takes in a generation heard of; `stamp` is the coherence epoch when the read that found it was sent. */
  function learn (date: string, generation: string, stamp = coherence?.epoch): void {
    if (coherence === undefined || generation === NO_GENERATION || stamp !== coherence.epoch) return
    const current = known.get(date)
    if (current !== undefined && !newer(generation, current)) return
    if (current === undefined && known.size >= MAX_KNOWN_DATES) known.delete(known.keys().next().value as string)
    known.set(date, generation)
  }

  /** The list at `listKey` if this process holds it at its date's current generation, as far as it has heard. */
  function heldCurrent (date: string, listKey: string): CachedTaskList | undefined {
    if (local === undefined || coherence === undefined || !coherence.trusted) return undefined
    const generation = known.get(date)
    const json = generation !== undefined ? local.get(listKey, generation) : null
    return json !== null ? { json, generation: generation as string } : undefined
  }

  /** Invalidations asked for in this turn of the event loop, sent together after it (see invalidate). */
  let unsent: InvalidationBatch | undefined

  /** One script moves every date's generation on and deletes every list; then waits as the announcement says. */
  async function invalidateNow (dates: readonly string[], lists: readonly string[]): Promise<void> {
    const generations = dates.map(generationKey)
    // A writer without a coherence channel (a one-off job) announces too, but does not wait.
    const announcement = coherence?.begin()
    let changes: string
    let members: Array<string | number>
    try {
      [changes, members] = await redis.invalidateTaskLists(1 + generations.length + lists.length, COHERENCE_MEMBERS, ...generations, ...lists,
        generations.length, generationTtlMs, coherence?.channel ?? channel, announcement?.writer ?? '-', ...dates)
    } catch (error) {
      announcement?.cancel()
      throw error
    }
    // Here at once, whatever becomes of the announcement's echo.
    learnAnnounced(changes.split(' '))
    await announcement?.settled(members)
  }

  return {
    held (date, viewer) {
      return heldCurrent(date, taskListKey(date, viewer))?.json ?? undefined
    },
    readAhead (date, viewer) {
      const listKey = taskListKey(date, viewer)
      // Held and current: nothing to read (read() serves it).
      if (heldCurrent(date, listKey) !== undefined) return undefined
      const held = local?.generationOf(listKey)
      return { key: generationKey(date), second: listKey, ...(held !== undefined && { unless: held }), stamp: coherence?.epoch }
    },
    async read (date, viewer, ahead) {
      const listKey = taskListKey(date, viewer)
      if (ahead === undefined) {
        const held = heldCurrent(date, listKey)
        if (held !== undefined) return held
        const stamp = coherence?.epoch
        const [json = null, found] = await redis.mgetBuffer(listKey, generationKey(date))
        const generation = found?.toString() ?? NO_GENERATION
        learn(date, generation, stamp)
        // A list read with its generation is at least as new as it (a write deletes the list when it moves the
        // generation on), so tagging it with that generation can only cause an extra miss, never a stale hit.
        if (json !== null && generation !== NO_GENERATION) local?.set(listKey, json, generation)
        return { json, generation }
      }
      // The generation came with the limiter's command, and the list too unless this process holds it at that
      // generation. A list read ahead for another viewer (the token's role changed since sign-in) is not this one.
      const found = await ahead.found
      const generation = found.value ?? NO_GENERATION
      learn(date, generation, ahead.asked.stamp)
      const held = local?.get(listKey, generation) ?? null
      if (held !== null) return { json: held, generation }
      const json = found.second !== undefined && ahead.asked.second === listKey ? found.second : await redis.getBuffer(listKey)
      // Read with or after the generation: see above.
      if (json !== null && generation !== NO_GENERATION) local?.set(listKey, json, generation)
      return { json, generation }
    },
    async fill (date, viewer, json, generation) {
      const stamp = coherence?.epoch
      const stored = await redis.fillTaskList(taskListKey(date, viewer), generationKey(date), json, generation, ttlS, generationTtlMs)
      // Not kept here yet: a list enters this process's copies on its next read, from Redis. Many lists are
      // read once between two writes, and holding every list filled made a miss cost ~20% more CPU in GC
      // (bench/README.md, seventh pass); a list read again costs one Redis read more, once per generation.
      if (stored !== null) learn(date, stored, stamp)
    },
    async invalidate (change) {
      if (change.dates.length === 0) return
      // The writes that finish in one turn of the event loop (under load, several: each PostgreSQL reply resumes
      // its own) are invalidated together right after it, in one script and one announcement: each Redis
      // command costs the server ~40 µs of CPU and Redis ~25 µs (bench/README.md, tenth pass). Each writer
      // still waits until its lists are invalidated and every process has applied that.
      // A batch is capped so that its script stays well within what Lua can unpack into one DEL.
      if (unsent === undefined || unsent.dates.size + unsent.lists.size >= MAX_KEYS_PER_INVALIDATION) {
        const batch: InvalidationBatch = {
          dates: new Set(),
          lists: new Set(),
          sent: afterThisTurn().then(async () => {
            if (unsent === batch) unsent = undefined
            await invalidateNow([...batch.dates], [...batch.lists])
          })
        }
        unsent = batch
      }
      for (const date of change.dates) unsent.dates.add(date)
      for (const list of listsTouchedBy(change)) unsent.lists.add(list)
      await unsent.sent
    },
    async dropHeldCopies () {
      known.clear()
      local?.clear()
      await coherence?.announce('purged')
    }
  }
}

/**
 * The embedded default's cache: one process, so a plain map suffices; bounded so it cannot grow without limit.
 * Everything happens synchronously inside one event-loop turn, so fills never race invalidations.
 */
export function createMemoryTaskListCache (ttlS: number, maxEntries = 10_000): TaskListCache {
  const entries = new Map<string, { json: Buffer, expiresAt: number }>()
  const generations = new Map<string, number>()
  const generationOf = (date: string): string => String(generations.get(date) ?? 0)

  return {
    held (date, viewer) {
      const entry = entries.get(taskListKey(date, viewer))
      return entry !== undefined && entry.expiresAt > Date.now() ? entry.json : undefined
    },
    async read (date, viewer) {
      const key = taskListKey(date, viewer)
      const entry = entries.get(key)
      if (entry !== undefined && entry.expiresAt <= Date.now()) entries.delete(key)
      const json = entry !== undefined && entry.expiresAt > Date.now() ? entry.json : null
      return { json, generation: generationOf(date) }
    },
    async fill (date, viewer, json, generation) {
      if (generationOf(date) !== generation) return
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string)
      entries.set(taskListKey(date, viewer), { json, expiresAt: Date.now() + ttlS * 1000 })
    },
    async invalidate (change) {
      for (const date of change.dates) generations.set(date, (generations.get(date) ?? 0) + 1)
      for (const key of listsTouchedBy(change)) entries.delete(key)
    }
  }
}
