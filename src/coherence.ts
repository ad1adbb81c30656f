import { randomBytes } from 'node:crypto'
import { Redis, type RedisOptions, type Result } from 'ioredis'

/**
 * What lets an API process answer from what it holds (cached lists, its users' token state) without asking
 * Redis on every request, and still never serve what a write through another process has changed once that
 * write has been answered.
 *
 * - Every change to shared state is announced on one pub/sub channel (`<prefix>coherence`), by the same Redis
 *   script that makes it where it can be (the list invalidation publishes itself). Each process applies every
 *   announcement, then acknowledges it to its writer.
 * - A process trusts what it holds only while it is a member: listed in `<prefix>coherence:members` with a
 *   lease (`timeoutMs`) it renews a few times per lease. The script that publishes returns the members whose
 *   lease is running, and the writer answers its client only once each has acknowledged, or its lease ran
 *   out. A member's trust always ends before its lease: a renewal is made, THEN a PING is sent on the
 *   subscription, and trust is extended from when the renewal was sent only once that PING is answered.
 *   Redis sends a subscriber its messages and replies in order, so a member that extends its trust has
 *   applied every announcement published before its PING; one published after the renewal waits for the
 *   renewed lease. A process whose subscription dies, even silently, stops trusting before any writer stops
 *   waiting for it.
 *
 * Announcements: `<writer> <kind> <args...>`, where writer is `<process id>:<sequence>`, or `-` when the
 * writer does not wait (a one-off job). Acknowledgements go to `<prefix>coherence:ack:<process id>`.
 */
export interface Coherence {
  /** The channel announcements go to (scripts that publish themselves need it). */
  readonly channel: string
  /** The members' sorted set, as a raw Redis key (no ioredis keyPrefix). */
  readonly membersKey: string
  /** This process's subscription as Redis' CLIENT LIST names it. */
  readonly connectionName: string
  /** Whether state learned from Redis may be used without asking it again. */
  readonly trusted: boolean
  /**
   * Moves on whenever the subscription is lost or made: what a read issued under an older epoch learned is
   * dropped, since an announcement may have been missed meanwhile.
   */
  readonly epoch: number
  /** Registers what to do with an announcement of `kind` (in every process, the writer's included). */
  on: (kind: string, apply: (args: string[]) => void) => void
  /** Registers what to do when trust is lost (drop everything learned). */
  onReset: (reset: () => void) => void
  /** A writer id for an announcement published by a script (PUBLISH_AND_LIST_MEMBERS); hand its reply to `settled`. */
  begin: () => Announcement
  /** Publishes an announcement and waits until it is applied everywhere (see `settled`). */
  announce: (kind: string, ...args: Array<string | number>) => Promise<void>
  close: () => Promise<void>
}

export interface Announcement {
  writer: string
  /**
   * Resolves once every member the publishing script listed has acknowledged, or its lease has run out.
   * `members`: the script's reply, member ids each followed by the milliseconds left on its lease.
   */
  settled: (members: Array<string | number>) => Promise<void>
  /** The announcement was not published (the command failed): stop waiting for it. */
  cancel: () => void
}

export interface CoherenceOptions {
  url: string
  redisOptions: RedisOptions
  keyPrefix: string
  timeoutMs: number
  log: { warn: (obj: object, msg: string) => void, info: (msg: string) => void }
  /**
   * False for a process that only writes (the worker): it hears acknowledgements of its own announcements but is
   * no member, so it holds nothing, trusts nothing, and no write waits for it.
   */
  member?: boolean
}

/**
 * A Lua function for scripts that publish: publishes `message` and returns the members whose lease is running,
 * each followed by the milliseconds left on it (Redis' clock, so the hosts' clocks need not agree).
 */
export const PUBLISH_AND_LIST_MEMBERS = `
local function publish_and_list_members (members_key, channel, message)
  redis.call('PUBLISH', channel, message)
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local live = redis.call('ZRANGEBYSCORE', members_key, '(' .. now, '+inf', 'WITHSCORES')
  for i = 2, #live, 2 do live[i] = tonumber(live[i]) - now end
  return live
end`

const ANNOUNCE = `${PUBLISH_AND_LIST_MEMBERS}
return publish_and_list_members(KEYS[1], ARGV[1], ARGV[2])`

// KEYS: members; ARGV: this process's id, its lease in ms. Drops the members whose lease ran out; the set itself
// goes when no process has renewed for two leases (a prefix no longer served leaves nothing behind).
const RENEW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return 1`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    coherenceAnnounce: (membersKey: string, channel: string, message: string) => Result<Array<string | number>, Context>
    coherenceRenew: (membersKey: string, id: string, leaseMs: number) => Result<number, Context>
  }
}

/** An announcement being waited for: who acknowledged before the member list came back, then who is awaited. */
interface Pending { early: Set<string>, awaited: Set<string> | null, resolve: () => void, timer: NodeJS.Timeout | undefined }

/** Where announcements are published: one channel per key prefix (channels ignore ioredis' keyPrefix). */
export const coherenceChannel = (keyPrefix: string): string => `${keyPrefix}coherence`
/** The members' sorted set, without the key prefix (for clients that add it themselves). */
export const COHERENCE_MEMBERS = 'coherence:members'

/** Opens the subscription; the returned object is usable at once (untrusted until its first renewal). */
export function createCoherence ({ url, redisOptions, keyPrefix, timeoutMs, log, member = true }: CoherenceOptions): Coherence {
  const id = randomBytes(6).toString('hex')
  const channel = coherenceChannel(keyPrefix)
  const membersKey = `${keyPrefix}${COHERENCE_MEMBERS}`
  const ackChannel = `${channel}:ack:${id}`
  // Trust ends a little before the lease: timers fire late, and clocks drift.
  const trustMs = timeoutMs * 0.8
  const renewEveryMs = Math.max(10, Math.floor(timeoutMs / 4))

  // Named, so that an operator's CLIENT LIST shows which connections are which process's channel.
  const connectionName = `${channel}:${id}`
  const subscriber = new Redis(url, { ...redisOptions, keyPrefix: undefined, enableOfflineQueue: true, autoResubscribe: false, connectionName })
  const publisher = new Redis(url, { ...redisOptions, keyPrefix: undefined })
  publisher.defineCommand('coherenceAnnounce', { numberOfKeys: 1, lua: ANNOUNCE })
  publisher.defineCommand('coherenceRenew', { numberOfKeys: 1, lua: RENEW })
  const appliers = new Map<string, Array<(args: string[]) => void>>()
  const resets: Array<() => void> = []
  const pending = new Map<number, Pending>()
  let sequence = 0
  let subscribed = false
  let trustedUntil = 0
  let heardAt = 0
  let epoch = 0
  let renewing = false
  let closed = false
  let down = false

  function loseTrust (): void {
    subscribed = false
    trustedUntil = 0
    epoch++
    for (const reset of resets) reset()
    // Its own announcements' echo may never come now, and it no longer holds anything they could make stale.
    for (const seq of [...pending.keys()]) acknowledged(seq, id)
  }

  async function renew (): Promise<void> {
    const startedIn = epoch
    const sentAt = performance.now()
    await publisher.coherenceRenew(membersKey, id, timeoutMs)
    // Answered after every announcement published before it, and those after it wait for the renewed lease.
    await subscriber.ping()
    heardAt = performance.now()
    if (subscribed && epoch === startedIn && !closed) trustedUntil = sentAt + trustMs
  }

  function renewNow (): void {
    if (renewing || !subscribed || closed || !member) return
    renewing = true
    renew().catch(() => {}).finally(() => { renewing = false })
  }

  function finish (seq: number, entry: Pending): void {
    pending.delete(seq)
    if (entry.timer !== undefined) clearTimeout(entry.timer)
    entry.resolve()
  }

  function acknowledged (seq: number, member: string): void {
    const entry = pending.get(seq)
    if (entry === undefined) return
    if (entry.awaited === null) entry.early.add(member)
    else if (entry.awaited.delete(member) && entry.awaited.size === 0) finish(seq, entry)
  }

  function onAnnouncement (message: string): void {
    const parts = message.split(' ')
    const writer = parts[0] as string
    const args = parts.slice(2)
    for (const apply of appliers.get(parts[1] as string) ?? []) apply(args)
    if (writer === '-') return
    const colon = writer.indexOf(':')
    const seq = Number(writer.slice(colon + 1))
    const writerId = writer.slice(0, colon)
    if (writerId === id) acknowledged(seq, id)
    else publisher.publish(`${channel}:ack:${writerId}`, `${seq} ${id}`).catch(() => {})
  }

  subscriber.on('message', (from: string, message: string) => {
    if (from === channel) {
      onAnnouncement(message)
    } else if (from === ackChannel) {
      const space = message.indexOf(' ')
      acknowledged(Number(message.slice(0, space)), message.slice(space + 1))
    }
  })
  subscriber.on('ready', () => {
    subscriber.subscribe(...(member ? [channel, ackChannel] : [ackChannel])).then(() => {
      if (down) log.info('coherence channel subscribed again: in-process state trusted again')
      down = false
      subscribed = true
      heardAt = performance.now()
      // Reads issued before the subscription could have missed an announcement: what they learn is dropped.
      epoch++
      renewNow()
    }, () => { subscriber.disconnect(true) })
  })
  subscriber.on('close', () => {
    if (subscribed && !closed) {
      down = true
      log.warn({}, 'coherence channel lost: every read asks Redis until it is back')
    }
    loseTrust()
  })
  subscriber.on('error', () => {}) // the main client logs the outage; 'close' does the rest
  publisher.on('error', () => {})

  const renewer = setInterval(() => {
    renewNow()
    // A subscription that stopped answering (a silent connection): reconnect, as the main client's watchdog does.
    if (member && subscribed && performance.now() - heardAt > 2 * timeoutMs) subscriber.disconnect(true)
  }, renewEveryMs)
  renewer.unref()

  function begin (): Announcement {
    const seq = ++sequence
    let resolve: () => void = () => {}
    const done = new Promise<void>((_resolve) => { resolve = _resolve })
    // Acknowledgements may come before the script's reply: they are kept until the members are known.
    const entry: Pending = { early: new Set(), awaited: null, resolve, timer: undefined }
    pending.set(seq, entry)
    return {
      writer: `${id}:${seq}`,
      settled: async (members) => {
        const awaited = new Set<string>()
        let longestMs = 0
        for (let i = 0; i < members.length; i += 2) {
          const memberId = String(members[i])
          if (!entry.early.has(memberId) && (memberId !== id || subscribed)) awaited.add(memberId)
          longestMs = Math.max(longestMs, Number(members[i + 1]))
        }
        entry.awaited = awaited
        if (awaited.size === 0) {
          finish(seq, entry)
        } else {
          entry.timer = setTimeout(() => { finish(seq, entry) }, longestMs)
          entry.timer.unref()
        }
        await done
      },
      cancel: () => { finish(seq, entry) }
    }
  }

  return {
    channel,
    membersKey,
    connectionName,
    get trusted () { return trustedUntil > performance.now() },
    get epoch () { return epoch },
    on: (kind, apply) => { appliers.set(kind, [...(appliers.get(kind) ?? []), apply]) },
    onReset: (reset) => { resets.push(reset) },
    begin,
    async announce (kind, ...args) {
      const announcement = begin()
      let members: Array<string | number>
      try {
        members = await publisher.coherenceAnnounce(membersKey, channel, [announcement.writer, kind, ...args].join(' '))
      } catch (error) {
        announcement.cancel()
        throw error
      }
      await announcement.settled(members)
    },
    async close () {
      closed = true
      clearInterval(renewer)
      loseTrust()
      for (const entry of pending.values()) entry.resolve()
      pending.clear()
      subscriber.disconnect()
      await publisher.zrem(membersKey, id).catch(() => {})
      if (publisher.status === 'ready') await publisher.quit().catch(() => { publisher.disconnect() })
      else publisher.disconnect()
    }
  }
}
