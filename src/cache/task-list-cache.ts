import type { Redis, Result } from 'ioredis'

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
  /** The cached JSON array of tasks, or null on a miss. */
  json: string | null
  generation: string
}

export interface TaskListCache {
  read: (date: string, viewer: Viewer) => Promise<CachedTaskList>
  fill: (date: string, viewer: Viewer, json: string, generation: string) => Promise<void>
  invalidate: (change: TaskListChange) => Promise<void>
}

/** `task:<date>` for the admin view, `task:<date>:user:<id>` for a user's: the old service's key format. */
export function taskListKey (date: string, viewer: Viewer): string {
  return viewer.role === 'admin' ? `task:${date}` : `task:${date}:user:${viewer.userId}`
}

function generationKey (date: string): string {
  return `task-generation:${date}`
}

function keysTouchedBy (change: TaskListChange): { lists: string[], generations: string[] } {
  const lists = new Set<string>()
  const generations = new Set<string>()
  for (const date of change.dates) {
    generations.add(generationKey(date))
    lists.add(taskListKey(date, { role: 'admin' }))
    for (const userId of change.userIds) lists.add(taskListKey(date, { role: 'user', userId }))
  }
  return { lists: [...lists], generations: [...generations] }
}

// Compare-and-set: store the list only while the date's generation is still the one the reader saw.
const FILL_IF_GENERATION_UNCHANGED = `
if (redis.call('GET', KEYS[2]) or '0') == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
end
return 1`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    fillTaskList: (listKey: string, generationKey: string, json: string, generation: string, ttlS: number) => Result<number, Context>
  }
}

export function createRedisTaskListCache (redis: Redis, ttlS: number): TaskListCache {
  if (typeof redis.fillTaskList !== 'function') {
    redis.defineCommand('fillTaskList', { numberOfKeys: 2, lua: FILL_IF_GENERATION_UNCHANGED })
  }
  // A generation must outlive every list it guards.
  const generationTtlMs = ttlS * 2 * 1000

  return {
    async read (date, viewer) {
      const [json, generation] = await redis.mget(taskListKey(date, viewer), generationKey(date))
      return { json: json ?? null, generation: generation ?? '0' }
    },
    async fill (date, viewer, json, generation) {
      await redis.fillTaskList(taskListKey(date, viewer), generationKey(date), json, generation, ttlS)
    },
    async invalidate (change) {
      const { lists, generations } = keysTouchedBy(change)
      if (generations.length === 0) return
      const transaction = redis.multi()
      for (const key of generations) transaction.incr(key).pexpire(key, generationTtlMs)
      transaction.del(...lists)
      const results = await transaction.exec()
      const failed = results?.find(([error]) => error !== null)
      if (results === null || failed !== undefined) throw failed?.[0] ?? new Error('cache invalidation aborted')
    }
  }
}

/**
 * The embedded default's cache: one process, so a plain map suffices; bounded so it cannot grow without limit.
 * Everything happens synchronously inside one event-loop turn, so fills never race invalidations.
 */
export function createMemoryTaskListCache (ttlS: number, maxEntries = 10_000): TaskListCache {
  const entries = new Map<string, { json: string, expiresAt: number }>()
  const generations = new Map<string, number>()
  const generationOf = (date: string): string => String(generations.get(date) ?? 0)

  return {
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
      const { lists } = keysTouchedBy(change)
      for (const date of change.dates) generations.set(date, (generations.get(date) ?? 0) + 1)
      for (const key of lists) entries.delete(key)
    }
  }
}
