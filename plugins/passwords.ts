import fp from 'fastify-plugin'
import { createPasswordHasher, type PasswordHasher } from '../src/users/passwords.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** argon2id hashing and verifying, at most two hashes per libuv pool thread handed over at a time (src/users/passwords.ts). */
    passwords: PasswordHasher
  }
}

export default fp(async (fastify) => {
  // Two per pool thread: one hashing, the next already waiting in libuv's queue, so a thread that finishes starts
  // again at once instead of idling until the event loop hands it more (logins 0.81-0.84 -> 0.87-0.88 of raw
  // argon2 throughput, bench/README.md). Only a running hash holds its 19 MiB.
  fastify.decorate('passwords', createPasswordHasher(fastify.config.passwordHashConcurrency * 2))
}, { name: 'passwords', dependencies: ['config'] })
