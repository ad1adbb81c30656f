import { randomBytes } from 'node:crypto'
import { Redis, type RedisOptions } from 'ioredis'

/**
 * What lets an API process answer from what it holds (cached lists, its users' token state) without asking
 * Redis on every request, and still never serve what a write through another process has changed once that
 * write has been answered.
 *
 * Every change to shared state is announced on one pub/sub channel (`<prefix>coherence`), in the same Redis
 * command that makes it where it can be (the list invalidation script publishes itself). Each process applies
 * every announcement, then acknowledges it to its writer, and the writer answers its client only when every
 * process that received it has acknowledged, or after `timeoutMs`: by then a process that did not answer has
 * stopped trusting what it holds. A process trusts its state only while its subscription is up and Redis has
 * answered a PING on it within the last `timeoutMs` (less a margin), counted from when the PING was sent.
 * Redis sends a subscriber its messages and replies in order, so a PING answered after an announcement was
 * published comes after that announcement: whoever extends its trust has applied what came before.
 *
 * Announcements: `<writer> <kind> <args...>`, where writer is `<process id>:<sequence>`, or `-` when the
 * writer does not wait (a one-off job). Acknowledgements go to `<prefix>coherence:ack:<process id>`.
 */
export interface Coherence {
  /** The channel announcements go to (scripts that publish themselves need it). */
  readonly channel: string
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
  /** A writer id for an announcement published by a script; hand the script's PUBLISH count to `settled`. */
  begin: () => Announcement
  /** Publishes an announcement and waits until it is applied everywhere (see `settled`). */
  announce: (kind: string, ...args: Array<string | number>) => Promise<void>
  close: () => Promise<void>
}

export interface Announcement {
  writer: string
  /** Resolves once `receivers` processes have applied it, or after the timeout. */
  settled: (receivers: number) => Promise<void>
  /** The announcement was not published (the command failed): stop waiting for it. */
  cancel: () => void
}

export interface CoherenceOptions {
  url: string
  redisOptions: RedisOptions
  keyPrefix: string
  timeoutMs: number
  log: { warn: (obj: object, msg: string) => void, info: (msg: string) => void }
}

interface Pending { acks: number, needed: number, resolve: () => void, timer: NodeJS.Timeout | undefined }

/** Where announcements are published: one channel per key prefix (channels ignore ioredis' keyPrefix). */
export const coherenceChannel = (keyPrefix: string): string => `${keyPrefix}coherence`

/** Opens the subscription; the returned object is usable at once (untrusted until Redis has answered). */
export function createCoherence ({ url, redisOptions, keyPrefix, timeoutMs, log }: CoherenceOptions): Coherence {
  const id = randomBytes(6).toString('hex')
  const channel = coherenceChannel(keyPrefix)
  const ackChannel = `${channel}:ack:${id}`
  // Trust ends a little before a writer stops waiting: timers fire late, and clocks drift.
  const trustMs = timeoutMs * 0.8
  const pingEveryMs = Math.max(10, Math.floor(timeoutMs / 4))

  const subscriber = new Redis(url, { ...redisOptions, keyPrefix: undefined, enableOfflineQueue: true, autoResubscribe: false })
  const publisher = new Redis(url, { ...redisOptions, keyPrefix: undefined })
  const appliers = new Map<string, Array<(args: string[]) => void>>()
  const resets: Array<() => void> = []
  const pending = new Map<number, Pending>()
  let sequence = 0
  let subscribed = false
  let trustedUntil = 0
  let heardAt = 0
  let epoch = 0
  let pinging = false
  let closed = false
  let down = false

  function loseTrust (): void {
    subscribed = false
    trustedUntil = 0
    epoch++
    for (const reset of resets) reset()
  }

  function ping (): void {
    if (pinging || !subscribed || closed) return
    pinging = true
    const sentAt = performance.now()
    subscriber.ping().then(() => {
      // Replies come in order: every announcement published before this PING has been applied by now.
      heardAt = performance.now()
      if (subscribed) trustedUntil = sentAt + trustMs
    }, () => {}).finally(() => { pinging = false })
  }

  function settle (seq: number): void {
    const entry = pending.get(seq)
    if (entry === undefined || entry.acks < entry.needed) return
    pending.delete(seq)
    if (entry.timer !== undefined) clearTimeout(entry.timer)
    entry.resolve()
  }

  function acknowledged (seq: number): void {
    const entry = pending.get(seq)
    if (entry === undefined) return
    entry.acks++
    settle(seq)
  }

  function onAnnouncement (message: string): void {
    const parts = message.split(' ')
    const writer = parts[0] as string
    const args = parts.slice(2)
    for (const apply of appliers.get(parts[1] as string) ?? []) apply(args)
    if (writer === '-') return
    const colon = writer.indexOf(':')
    const seq = Number(writer.slice(colon + 1))
    if (writer.slice(0, colon) === id) acknowledged(seq)
    else publisher.publish(`${channel}:ack:${writer.slice(0, colon)}`, String(seq)).catch(() => {})
  }

  subscriber.on('message', (from: string, message: string) => {
    if (from === channel) onAnnouncement(message)
    else if (from === ackChannel) acknowledged(Number(message))
  })
  subscriber.on('ready', () => {
    subscriber.subscribe(channel, ackChannel).then(() => {
      if (down) log.info('coherence channel subscribed again: in-process state trusted again')
      down = false
      subscribed = true
      heardAt = performance.now()
      // Reads issued before the subscription could have missed an announcement: what they learn is dropped.
      epoch++
      ping()
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

  const pinger = setInterval(() => {
    ping()
    // A subscription that stopped answering (a silent connection): reconnect, as the main client's watchdog does.
    if (subscribed && performance.now() - heardAt > 2 * timeoutMs) subscriber.disconnect(true)
  }, pingEveryMs)
  pinger.unref()

  function begin (): Announcement {
    const seq = ++sequence
    let resolve: () => void = () => {}
    const done = new Promise<void>((_resolve) => { resolve = _resolve })
    const entry: Pending = { acks: 0, needed: Infinity, resolve, timer: undefined }
    pending.set(seq, entry)
    return {
      writer: `${id}:${seq}`,
      settled: async (receivers) => {
        entry.needed = receivers
        if (entry.acks < receivers) {
          entry.timer = setTimeout(() => { pending.delete(seq); resolve() }, timeoutMs)
          entry.timer.unref()
        }
        settle(seq)
        await done
      },
      cancel: () => { pending.delete(seq); resolve() }
    }
  }

  return {
    channel,
    get trusted () { return trustedUntil > performance.now() },
    get epoch () { return epoch },
    on: (kind, apply) => { appliers.set(kind, [...(appliers.get(kind) ?? []), apply]) },
    onReset: (reset) => { resets.push(reset) },
    begin,
    async announce (kind, ...args) {
      const announcement = begin()
      let receivers: number
      try {
        receivers = await publisher.publish(channel, [announcement.writer, kind, ...args].join(' '))
      } catch (error) {
        announcement.cancel()
        throw error
      }
      await announcement.settled(receivers)
    },
    async close () {
      closed = true
      clearInterval(pinger)
      loseTrust()
      for (const entry of pending.values()) entry.resolve()
      pending.clear()
      subscriber.disconnect()
      if (publisher.status === 'ready') await publisher.quit().catch(() => { publisher.disconnect() })
      else publisher.disconnect()
    }
  }
}
