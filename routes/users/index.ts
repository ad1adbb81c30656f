import type { FastifyReply } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { errorResponses, MessageResponse } from '../../src/schemas/common.js'
import { forbidden, tooManyRequests, unauthorized } from '../../src/errors.js'
import { ChangePasswordBody, LoginBody, LoginResponse, RegisterBody, RegisterResponse, User } from '../../src/users/schemas.js'
import { changePassword, findUser, registerUser, toUser, verifyCredentials } from '../../src/users/service.js'

/**
 * Aborts when the client goes away before its answer is sent, so that a password hash still waiting its turn is
 * never started for it. Not request.signal: on Node 20 that aborts as soon as a request body has been read.
 */
function clientGone (reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  reply.raw.once('close', () => { if (!reply.raw.writableFinished) controller.abort() })
  return controller.signal
}

const users: FastifyPluginAsyncTypebox = async (fastify) => {
  const { config, passwords } = fastify
  // Brute-force guard per account: counted per username whatever the client IP (a botnet spreading its
  // guesses over many addresses still hits it). The per-IP limit below stops one client trying many names.
  const perUsername = { max: config.rateLimit.loginPerUsernameMax, windowMs: config.rateLimit.login.windowMs, countLocallyWithoutRedis: true }

  fastify.post('/register', {
    onRequest: fastify.authenticateIfPresent,
    schema: {
      operationId: 'registerUser',
      tags: ['users'],
      summary: 'Register a user',
      description: 'Creates a user. role "admin" needs an admin bearer token, except for the very first admin of a new install.',
      security: [{}, { bearerAuth: [] }],
      body: RegisterBody,
      response: { 201: RegisterResponse, ...errorResponses(400, 401, 403, 409, 413, 415, 429, 503) }
    }
  }, async (request, reply) => {
    const user = await registerUser(fastify.db, passwords, request.body, request.actor, clientGone(reply))
    return await reply.code(201).send({ message: 'User registered successfully', user })
  })

  fastify.post('/login', {
    config: {
      // Brute-force guard: counted per client IP, whoever the request claims to be.
      rateLimit: {
        ...config.rateLimit.login,
        keyGenerator: (request) => `login:ip:${request.ip}`,
        countLocallyWithoutRedis: true
      }
    },
    preHandler: async (request, reply) => {
      const limit = await fastify.rateLimitHit(`login:user:${request.body.username}`, perUsername)
      if (!limit.exceeded) return
      reply.header('retry-after', limit.retryAfterS)
      throw tooManyRequests(`Too many login attempts for this account, retry in ${limit.retryAfterS} seconds`)
    },
    schema: {
      operationId: 'login',
      tags: ['users'],
      summary: 'Exchange a username and password for a bearer token',
      body: LoginBody,
      response: { 200: LoginResponse, ...errorResponses(400, 401, 413, 415, 429, 503) }
    }
  }, async (request, reply) => {
    const user = await verifyCredentials(fastify.db, passwords, request.body.username, request.body.password, clientGone(reply))
    if (user === null) throw unauthorized('Invalid username or password')
    const accessToken = fastify.signToken(user)
    return { message: 'Login successful', access_token: accessToken, token_type: 'Bearer' as const, expires_in: config.jwt.expiresInS }
  })

  fastify.get('/profile', {
    onRequest: fastify.authenticate,
    schema: {
      operationId: 'getProfile',
      tags: ['users'],
      summary: 'The signed-in user',
      security: [{ bearerAuth: [] }],
      response: { 200: Type.Ref(User), ...errorResponses(401, 429, 503) }
    }
  }, async (request) => {
    const user = request.actor === null ? undefined : await findUser(fastify.db, request.actor.id)
    if (user === undefined) throw unauthorized('Invalid token')
    return toUser(user)
  })

  fastify.post('/logout', {
    onRequest: fastify.authenticate,
    schema: {
      operationId: 'logout',
      tags: ['users'],
      summary: 'Revoke the bearer token of this request',
      description: 'The token is refused from then on, by every API process, until it would have expired.',
      security: [{ bearerAuth: [] }],
      response: { 200: MessageResponse, ...errorResponses(400, 401, 413, 415, 429, 503) }
    }
  }, async (request) => {
    const { actor, token } = request
    if (actor === null || token === null) throw unauthorized('Invalid token')
    const expiresAt = new Date((token.exp ?? Math.floor(Date.now() / 1000) + config.jwt.expiresInS) * 1000)
    await fastify.tokens.revoke(actor.id, token.jti, expiresAt)
    return { message: 'Logged out' }
  })

  fastify.post('/change-password', {
    onRequest: fastify.authenticate,
    schema: {
      operationId: 'changePassword',
      tags: ['users'],
      summary: 'Change the password and revoke every token issued before',
      description: 'Answers a fresh token: all earlier ones, this request\'s included, are refused from then on.',
      security: [{ bearerAuth: [] }],
      body: ChangePasswordBody,
      response: { 200: LoginResponse, ...errorResponses(400, 401, 403, 413, 415, 429, 503) }
    }
  }, async (request, reply) => {
    const { actor } = request
    if (actor === null) throw unauthorized('Invalid token')
    const { current_password: current, new_password: next } = request.body
    const tokenVersion = await changePassword(fastify.db, passwords, actor.id, current, next, clientGone(reply))
    if (tokenVersion === null) throw forbidden('Current password is incorrect')
    await fastify.tokens.forget(actor.id)
    const accessToken = fastify.signToken({ id: actor.id, role: actor.role, tokenVersion })
    return { message: 'Password changed', access_token: accessToken, token_type: 'Bearer' as const, expires_in: config.jwt.expiresInS }
  })
}

export default users
