import fp from 'fastify-plugin'
import { createPasswordHasher, type PasswordHasher } from '../src/users/passwords.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** argon2id hashing and verifying, at most one hash per libuv pool thread at a time (src/users/passwords.ts). */
    passwords: PasswordHasher
  }
}

export default fp(async (fastify) => {
  fastify.decorate('passwords', createPasswordHasher(fastify.config.passwordHashConcurrency))
}, { name: 'passwords', dependencies: ['config'] })
