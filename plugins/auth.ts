import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { unauthorized } from '../src/errors.js'
import type { Actor } from '../src/tasks/service.js'

/** What a token carries: `sub` is the user id as a string (RFC 7519), `role` the role at sign-in. */
export interface TokenClaims { sub: string, role: 'user' | 'admin', ver: number }

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: TokenClaims
    user: TokenClaims
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: answers 401 unless the request carries a valid bearer token. */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** Like authenticate, but a request without an Authorization header passes through anonymous. */
    authenticateIfPresent: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
  interface FastifyRequest {
    actor: Actor | null
  }
}

const BEARER = /^Bearer [A-Za-z0-9_.~+/=-]+$/

export default fp(async (fastify) => {
  const { jwt } = fastify.config
  await fastify.register(fastifyJwt, {
    secret: jwt.secret,
    sign: { algorithm: 'HS256', expiresIn: jwt.expiresInS },
    // Verifying is an HMAC over the token on every request; the cache remembers a verified token until its
    // exp (or 10 minutes), keyed by a hash of it. A token's later revocation is checked after this, not cached.
    verify: { algorithms: ['HS256'], ...(jwt.verifyCacheSize > 0 && { cache: jwt.verifyCacheSize }) },
    decoratorName: 'user'
  })
  fastify.decorateRequest('actor', null)

  async function verifyBearer (request: FastifyRequest): Promise<void> {
    const header = request.headers.authorization
    if (header === undefined || header === '') throw unauthorized('Missing bearer token')
    if (!BEARER.test(header)) throw unauthorized('Authorization header must be "Bearer <token>"')
    let claims: TokenClaims
    try {
      claims = await request.jwtVerify<TokenClaims>()
    } catch (error) {
      const expired = (error as { code?: string }).code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED'
      throw unauthorized(expired ? 'Token expired' : 'Invalid token')
    }
    const id = Number(claims.sub)
    if (!Number.isSafeInteger(id) || id < 1 || (claims.role !== 'user' && claims.role !== 'admin')) {
      throw unauthorized('Invalid token')
    }
    request.actor = { id, role: claims.role }
  }

  fastify.decorate('authenticate', async (request: FastifyRequest) => { await verifyBearer(request) })
  fastify.decorate('authenticateIfPresent', async (request: FastifyRequest) => {
    if (request.headers.authorization !== undefined) await verifyBearer(request)
  })
}, { name: 'auth', dependencies: ['config'] })
