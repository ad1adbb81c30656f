import argon2 from 'argon2'
import fastq from 'fastq'
import { HttpError } from '../errors.js'

// OWASP's argon2id parameters: 19 MiB, 2 iterations, 1 lane. Each hash holds its memory on a libuv thread.
const OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

export interface PasswordHasher {
  /** Rejects with 499 when `signal` aborts (the client went away) before the hash started. */
  hash: (password: string, signal?: AbortSignal) => Promise<string>
  /** False for a wrong password or an unreadable hash; rejects with 499 as hash does. */
  verify: (hash: string, password: string, signal?: AbortSignal) => Promise<boolean>
  /** A hash to verify against when the user does not exist, so an unknown name costs what a wrong password does. */
  dummyHash: () => Promise<string>
}

interface Job { run: () => Promise<unknown>, signal: AbortSignal | undefined }

/**
 * Each hash takes a libuv pool thread for tens of milliseconds. Handed to libuv all at once, a storm of logins
 * would wait in libuv's queue, out of reach: one whose client gave up (timed out, retried) would still cost its
 * hash, and the pool would spend itself on answers nobody reads. Here at most `concurrency` are handed to libuv
 * at a time; the rest wait in order, and one whose request was abandoned meanwhile is dropped unstarted.
 */
export function createPasswordHasher (concurrency: number): PasswordHasher {
  const queue = fastq.promise(async ({ run, signal }: Job) => {
    if (signal?.aborted === true) throw new HttpError(499, 'The client closed the request')
    return await run()
  }, concurrency)
  // Runs `work` in its turn, unless `signal` aborted while it waited.
  const inTurn = async <T>(work: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> =>
    await (queue.push({ run: work, signal }) as Promise<T>)
  const hash = async (password: string, signal?: AbortSignal): Promise<string> =>
    await inTurn(async () => await argon2.hash(password, OPTIONS), signal)

  let dummy: Promise<string> | undefined
  return {
    hash,
    async verify (hashed, password, signal) {
      return await inTurn(async () => await argon2.verify(hashed, password).catch(() => false), signal)
    },
    async dummyHash () {
      dummy ??= hash('not-a-real-password-just-for-timing')
      return await dummy
    }
  }
}
