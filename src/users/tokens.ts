import { randomUUID } from 'node:crypto'
import { and, eq, gt, lte, sql } from 'drizzle-orm'
import type { Redis } from 'ioredis'
import type { Coherence } from '../coherence.js'
import type { Database } from '../db/client.js'
import { revokedTokens, users } from '../db/schema.js'
import type { TokenProbe, TokenProbeAnswer } from '../rate-limit/store.js'
import type { Role } from './schemas.js'

/**
 * What a token carries: `sub` the user id as a string (RFC 7519), `role` the role at sign-in, `ver` the
 * user's token version at sign-in (a password change bumps it), `jti` its own id (logout revokes it).
 */
export interface TokenClaims { sub: string, role: Role, ver: number, jti: string, exp?: number }

export const newTokenId = (): string => randomUUID()

export interface TokenStateDeps {
  db: Database
  /** Absent without REDIS_URL: every check then reads PostgreSQL. */
  redis?: Redis
  /** How long a user's state is cached in Redis: bounds how late an edit made directly in SQL is seen. */
  stateTtlS: number
  /** With it, good tokens' state is also held in this process, dropped everywhere when a user's state changes. */
  coherence?: Coherence
}

/** The user behind a token as the database has it now; null when the user no longer exists. */
export interface TokenState { revoked: boolean, user: { tokenVersion: number, role: Role } | null }

/** Why a token in this state is refused (the 401's message), or null when it is good. */
export function tokenRefusal (state: TokenState, tokenVersion: number): string | null {
  if (state.revoked) return 'Token revoked'
  if (state.user === null) return 'Invalid token'
  if (state.user.tokenVersion !== tokenVersion) return 'Token revoked'
  return null
}

const revokedKey = (jti: string): string => `revoked-token:${jti}`
const stateKey = (userId: number): string => `user-auth:${userId}`
const GONE = 'gone'

function parseState (value: string): TokenState['user'] {
  if (value === GONE) return null
  const [version, role] = value.split(':')
  return { tokenVersion: Number(version), role: role === 'admin' ? 'admin' : 'user' }
}

async function loadFromDatabase (db: Database, userId: number, jti: string) {
  const [user] = await db.select({ tokenVersion: users.tokenVersion, role: users.role }).from(users).where(eq(users.id, userId))
  const revocations = user === undefined
    ? []
    : await db.select({ jti: revokedTokens.jti, expiresAt: revokedTokens.expiresAt }).from(revokedTokens)
      .where(and(eq(revokedTokens.userId, userId), gt(revokedTokens.expiresAt, sql`now()`)))
  return { revoked: revocations.some((r) => r.jti === jti), user: user ?? null, revocations }
}

export interface TokenStore {
  /**
   * A token's state as this process holds it, without asking anyone: only good tokens (not revoked, of the
   * user's current version) are held, and only while the coherence channel is trusted. Undefined: ask Redis.
   */
  known?: (userId: number, jti: string, tokenVersion: number) => TokenState | undefined
  /**
   * Whether a token is still good, at the cost of one Redis round trip (MGET of the token's deny-list
   * entry and its user's cached state). On a miss, or while Redis is away, PostgreSQL answers; a miss
   * then caches the user's state AFTER the user's revoked tokens, so a cached state implies its
   * revocations are in Redis too, even after Redis lost its data. Without REDIS_URL (one process) the
   * state is cached in this process, where every change to it is made.
   */
  check: (userId: number, jti: string) => Promise<TokenState>
  /**
   * With Redis: the keys to check a token by, for the rate limiter's command to read along with its count
   * (one round trip for both); hand what it found to `fromProbe`. Absent without Redis.
   */
  probe?: (userId: number, jti: string, tokenVersion: number) => TokenProbe
  /** A token's state from what the probe found in Redis; PostgreSQL answers when Redis held no state. */
  fromProbe: (userId: number, jti: string, answer: TokenProbeAnswer, stamp: number) => Promise<TokenState>
  /** Revokes one token until it expires: durably in PostgreSQL, then in Redis' deny-list. */
  revoke: (userId: number, jti: string, expiresAt: Date) => Promise<void>
  /** Forgets a user's cached state, so the next request reads PostgreSQL (after a password change). */
  forget: (userId: number) => Promise<void>
}

const MAX_LOCAL = 10_000
const MAX_HELD_TOKENS_PER_USER = 64

/**
 * Good tokens' state held in this process in front of Redis. Every change to a user's state or tokens is
 * announced (src/coherence.ts) and drops the user here; a state read before an announcement (or before the
 * channel was trusted) is not kept, since it may be what the announcement replaced.
 */
function createHeldTokens (coherence: Coherence, stateTtlS: number) {
  const held = new Map<number, { state: TokenState, jtis: Set<string>, expiresAt: number }>()
  let changes = 0
  coherence.onReset(() => { held.clear(); changes++ })

  function drop (userId: number): void {
    held.delete(userId)
    changes++
  }
  coherence.on('user', ([userId]) => { drop(Number(userId)) })

  return {
    /** Dropped here at once, whatever becomes of the announcement that drops it everywhere. */
    drop,
    /** Taken before asking Redis or PostgreSQL; `remember` keeps the answer only if nothing changed since. */
    stamp: (): number => coherence.trusted ? changes : -1,
    known (userId: number, jti: string, tokenVersion: number): TokenState | undefined {
      if (!coherence.trusted) return undefined
      const entry = held.get(userId)
      if (entry === undefined || !entry.jtis.has(jti) || entry.state.user?.tokenVersion !== tokenVersion) return undefined
      if (entry.expiresAt > Date.now()) return entry.state
      held.delete(userId)
      return undefined
    },
    remember (userId: number, jti: string, state: TokenState, stamp: number): void {
      if (stamp !== changes || !coherence.trusted || state.revoked || state.user === null) return
      const entry = held.get(userId)
      if (entry !== undefined && entry.state.user?.tokenVersion === state.user.tokenVersion &&
        entry.state.user.role === state.user.role && entry.jtis.size < MAX_HELD_TOKENS_PER_USER) {
        entry.jtis.add(jti)
        return
      }
      if (held.size >= MAX_LOCAL) held.delete(held.keys().next().value as number)
      held.set(userId, { state, jtis: new Set([jti]), expiresAt: Date.now() + stateTtlS * 1000 })
    }
  }
}

export function createTokenStore ({ db, redis, stateTtlS, coherence }: TokenStateDeps): TokenStore {
  const local = new Map<number, { state: TokenState['user'], revoked: Set<string>, expiresAt: number }>()
  const held = redis !== undefined && coherence !== undefined ? createHeldTokens(coherence, stateTtlS) : undefined
  // Tells every process to drop what it holds of the user; Redis being away is dealt with by the callers.
  const announce = async (userId: number): Promise<void> => {
    held?.drop(userId)
    await coherence?.announce('user', userId).catch(() => {})
  }

  async function checkWithoutRedis (userId: number, jti: string): Promise<TokenState> {
    const hit = local.get(userId)
    if (hit !== undefined && hit.expiresAt > Date.now()) return { revoked: hit.revoked.has(jti), user: hit.state }
    const loaded = await loadFromDatabase(db, userId, jti)
    if (local.size >= MAX_LOCAL) local.delete(local.keys().next().value as number)
    local.set(userId, { state: loaded.user, revoked: new Set(loaded.revocations.map((r) => r.jti)), expiresAt: Date.now() + stateTtlS * 1000 })
    return loaded
  }

  async function forget (userId: number): Promise<void> {
    local.delete(userId)
    await redis?.del(stateKey(userId)).catch(() => {})
    await announce(userId)
  }

  // What Redis answered (deny-list entry, cached state) -> the token's state; a miss loads PostgreSQL and caches
  // the user's state AFTER their revoked tokens.
  async function resolve (redis: Redis, userId: number, jti: string, revoked: boolean, cached: string | null, stamp: number): Promise<TokenState> {
    if (revoked) return { revoked: true, user: null }
    if (cached !== null) {
      const state = { revoked: false, user: parseState(cached) }
      held?.remember(userId, jti, state, stamp)
      return state
    }
    const loaded = await loadFromDatabase(db, userId, jti)
    const transaction = redis.multi()
    for (const { jti: revokedJti, expiresAt } of loaded.revocations) {
      transaction.set(revokedKey(revokedJti), '1', 'PX', Math.max(1, expiresAt.getTime() - Date.now()))
    }
    const value = loaded.user === null ? GONE : `${loaded.user.tokenVersion}:${loaded.user.role}`
    transaction.set(stateKey(userId), value, 'EX', stateTtlS)
    await transaction.exec().catch(() => {})
    held?.remember(userId, jti, { revoked: loaded.revoked, user: loaded.user }, stamp)
    return loaded
  }

  return {
    async check (userId, jti) {
      if (redis === undefined) return await checkWithoutRedis(userId, jti)
      if (redis.status !== 'ready') return await loadFromDatabase(db, userId, jti)
      const stamp = held?.stamp() ?? -1
      let found: Array<string | null>
      try {
        found = await redis.mget(revokedKey(jti), stateKey(userId))
      } catch {
        return await loadFromDatabase(db, userId, jti)
      }
      return await resolve(redis, userId, jti, typeof found[0] === 'string', found[1] ?? null, stamp)
    },

    ...(held !== undefined && { known: held.known }),

    ...(redis !== undefined && {
      probe: (userId, jti, tokenVersion) => ({
        revokedKey: revokedKey(jti), stateKey: stateKey(userId), version: tokenVersion, stamp: held?.stamp() ?? -1
      })
    }),

    async fromProbe (userId, jti, answer, stamp) {
      if (redis === undefined) return await checkWithoutRedis(userId, jti)
      return await resolve(redis, userId, jti, answer.revoked, answer.state, stamp)
    },

    async revoke (userId, jti, expiresAt) {
      await db.transaction(async (tx) => {
        await tx.insert(revokedTokens).values({ jti, userId, expiresAt }).onConflictDoNothing()
        // Housekeeping: the user's revocations that have expired are of no use any more.
        await tx.delete(revokedTokens).where(and(eq(revokedTokens.userId, userId), lte(revokedTokens.expiresAt, sql`now()`)))
      })
      local.get(userId)?.revoked.add(jti)
      if (redis === undefined) return
      try {
        await redis.set(revokedKey(jti), '1', 'PX', Math.max(1, expiresAt.getTime() - Date.now()))
        await announce(userId)
      } catch {
        // The durable copy is in PostgreSQL; dropping the cached state sends the next check there.
        // Should that fail too, the token may pass until the state expires (AUTH_STATE_TTL_S).
        await forget(userId)
      }
    },

    forget
  }
}
