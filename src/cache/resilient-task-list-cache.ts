import type { Redis } from 'ioredis'
import { scanKeys } from '../redis.js'
import type { CachedTaskList, TaskListCache } from './task-list-cache.js'

export interface CacheLogger {
  warn: (obj: object, msg: string) => void
  info: (msg: string) => void
}

export interface ResilientTaskListCache extends TaskListCache {
  /** True while lists may be stale in Redis (an invalidation failed or the connection dropped) and are not yet purged. */
  readonly purgePending: boolean
  close: () => void
}

// A read that bypassed the cache: no generation vouched for, so its fill stores nothing and no other read shares it.
const BYPASS = ''
const PURGE_RETRY_MS = 1000

/**
 * Keeps the Redis task list cache correct through a Redis outage without ever failing a request:
 *
 * - a read that cannot reach Redis is served from PostgreSQL (a miss whose fill is skipped);
 * - a write whose invalidation fails is still committed and answered, but the failure is remembered:
 *   from then on every read bypasses the cache until every task list in Redis has been purged, which
 *   happens as soon as Redis answers again (on reconnect, then retried every second until it succeeds);
 * - losing the connection counts as a failed invalidation too, because another process may have written
 *   (and failed to invalidate) meanwhile, then died before it could purge;
 * - a local epoch, bumped by every failure, voids the fills of reads that started before it, so a list
 *   read before the write cannot be stored after the purge.
 *
 * After an outage the cache therefore starts cold, and no stale list is served once Redis is back.
 */
export function createResilientTaskListCache (
  inner: TaskListCache,
  redis: Redis,
  log: CacheLogger
): ResilientTaskListCache {
  let epoch = 0
  let dirty = false
  let purging = false
  let retry: NodeJS.Timeout | undefined
  let closed = false
  const keyPrefix = redis.options.keyPrefix ?? ''

  async function purgeTaskLists (): Promise<number> {
    // SCAN's pattern and answers ignore ioredis' keyPrefix: add it to the pattern, strip it before DEL.
    // Every date's generation moves on first: each process's in-process copies are tagged with one, so
    // this voids them everywhere (a copy is never tagged with a missing generation, see task-list-cache.ts).
    for await (const keys of scanKeys(redis, `${keyPrefix}task-generation:*`)) {
      const pipeline = redis.pipeline()
      for (const key of keys) pipeline.incr(key.slice(keyPrefix.length))
      await pipeline.exec()
    }
    let purged = 0
    for await (const keys of scanKeys(redis, `${keyPrefix}task:[0-9][0-9][0-9][0-9]-*`)) {
      purged += await redis.del(...keys.map((key) => key.slice(keyPrefix.length)))
    }
    return purged
  }

  function schedulePurge (delayMs: number): void {
    if (closed || retry !== undefined) return
    retry = setTimeout(() => {
      retry = undefined
      purge().catch(() => {})
    }, delayMs)
    retry.unref()
  }

  async function purge (): Promise<void> {
    if (!dirty || purging || closed) return
    if (redis.status !== 'ready') return // the 'ready' listener starts it again
    purging = true
    const startedAt = epoch
    try {
      const purged = await purgeTaskLists()
      // A failure during the purge may have left another stale list behind: go round again.
      if (epoch === startedAt) {
        // A generation read just before the purge may still match a copy held from before the outage, here or in
        // another process.
        await inner.dropHeldCopies?.()
        dirty = false
        log.info(`task list cache purged after a Redis failure (${purged} lists)`)
      }
    } catch (err) {
      log.warn({ err }, 'could not purge the task list cache yet; retrying')
    } finally {
      purging = false
    }
    if (dirty) schedulePurge(PURGE_RETRY_MS)
  }

  function markStale (): void {
    epoch++
    dirty = true
    purge().catch(() => {})
    schedulePurge(PURGE_RETRY_MS)
  }

  const onClose = (): void => { if (!dirty) markStale() }
  const onReady = (): void => { purge().catch(() => {}) }
  redis.on('close', onClose)
  redis.on('ready', onReady)

  return {
    get purgePending () { return dirty },

    held (date, viewer) {
      if (dirty || redis.status !== 'ready') return undefined
      return inner.held?.(date, viewer)
    },

    readAhead (date, viewer) {
      // While bypassed, nothing is worth reading ahead: read() answers a miss.
      if (dirty || redis.status !== 'ready') return undefined
      return inner.readAhead?.(date, viewer)
    },

    async read (date, viewer, readAhead): Promise<CachedTaskList> {
      if (dirty || redis.status !== 'ready') return { json: null, generation: BYPASS }
      const readAt = epoch
      try {
        const cached = await inner.read(date, viewer, readAhead)
        return { json: cached.json, generation: `${readAt}/${cached.generation}` }
      } catch {
        return { json: null, generation: BYPASS }
      }
    },

    async fill (date, viewer, json, generation) {
      const slash = generation.indexOf('/')
      if (dirty || slash < 0 || generation.slice(0, slash) !== String(epoch)) return
      try {
        await inner.fill(date, viewer, json, generation.slice(slash + 1))
      } catch {
        // A list not cached is only a miss for the next reader.
      }
    },

    async invalidate (change) {
      try {
        await inner.invalidate(change)
      } catch (err) {
        log.warn({ err, dates: change.dates }, 'task list invalidation failed: lists bypass the cache until Redis is purged')
        markStale()
      }
    },

    close () {
      closed = true
      if (retry !== undefined) clearTimeout(retry)
      redis.off('close', onClose)
      redis.off('ready', onReady)
    }
  }
}
