import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { unauthorized } from '../src/errors.js'
import type { Actor } from '../src/tasks/service.js'
import { createTokenStore, newTokenId, type TokenClaims, type TokenStore } from '../src/users/tokens.js'

export type { TokenClaims }

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: TokenClaims
    user: TokenClaims
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: answers 401 unless the request carries a valid, unrevoked bearer token. */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** Like authenticate, but a request without an Authorization header passes through anonymous. */
    authenticateIfPresent: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** Signs a token for a user as the database has it now. */
    signToken: (user: { id: number, role: 'user' | 'admin', tokenVersion: number }) => string
    tokens: TokenStore
  }
  interface FastifyRequest {
    /** The signed-in user, with the role the database gives them now (not the one in the token). */
    actor: Actor | null
    /** The verified claims of the bearer token, for logout. */
    token: TokenClaims | null
  }
}

const BEARER = /^Bearer [A-Za-z0-9_.~+/=-]+$/

/**
 * Bearer authentication: HS256 only (alg "none" and every other algorithm are refused), exp and nbf
 * enforced, and every failure is a 401 in the one error shape. A verified token is then checked against
 * the user's current state (src/users/tokens.ts): revoked by logout, issued before a password change,
 * or its user gone -> 401. That check costs one Redis MGET per request.
 */
export default fp(async (fastify) => {
  const { config } = fastify
  await fastify.register(fastifyJwt, {
    secret: config.jwt.secret,
    sign: { algorithm: 'HS256', expiresIn: config.jwt.expiresInS },
    verify: { algorithms: ['HS256'] },
    decoratorName: 'user'
  })
  const tokens = createTokenStore({
    db: fastify.db,
    ...(config.redis.url !== undefined && { redis: fastify.redis }),
    stateTtlS: config.jwt.authStateTtlS
  })
  fastify.decorate('tokens', tokens)
  fastify.decorate('signToken', (user: { id: number, role: 'user' | 'admin', tokenVersion: number }) =>
    fastify.jwt.sign({ sub: String(user.id), role: user.role, ver: user.tokenVersion, jti: newTokenId() }))
  fastify.decorateRequest('actor', null)
  fastify.decorateRequest('token', null)

  // Verifying is an HMAC over the token; a token verified once is remembered, keyed by its exact text, until
  // its exp. Revocation is checked after this (src/users/tokens.ts), never cached here. Not fast-jwt's own
  // verify cache: it hashes the token and decodes it again on every hit, and @fastify/jwt's request.jwtVerify
  // re-reads the header and merges its options per request (~8% of a cached read in the profile).
  const verified = new Map<string, { claims: TokenClaims, expiresAtMs: number }>()
  const verifyCacheSize = config.jwt.verifyCacheSize

  function verifyToken (token: string): TokenClaims {
    const hit = verified.get(token)
    if (hit !== undefined) {
      if (hit.expiresAtMs > Date.now()) return hit.claims
      verified.delete(token)
    }
    let claims: TokenClaims
    try {
      claims = fastify.jwt.verify<TokenClaims>(token)
    } catch (error) {
      const expired = (error as { code?: string }).code === 'FAST_JWT_EXPIRED'
      throw unauthorized(expired ? 'Token expired' : 'Invalid token')
    }
    // Signed tokens always carry exp; one without it is checked every time rather than remembered forever.
    if (verifyCacheSize > 0 && typeof claims.exp === 'number') {
      if (verified.size >= verifyCacheSize) verified.delete(verified.keys().next().value as string)
      verified.set(token, { claims, expiresAtMs: claims.exp * 1000 })
    }
    return claims
  }

  async function verifyBearer (request: FastifyRequest): Promise<void> {
    const header = request.headers.authorization
    if (header === undefined || header === '') throw unauthorized('Missing bearer token')
    if (!BEARER.test(header)) throw unauthorized('Authorization header must be "Bearer <token>"')
    const claims = verifyToken(header.slice(7))
    const id = Number(claims.sub)
    if (!Number.isSafeInteger(id) || id < 1 || typeof claims.jti !== 'string' || claims.jti.length > 64 ||
      !Number.isSafeInteger(claims.ver)) {
      throw unauthorized('Invalid token')
    }
    const state = await tokens.check(id, claims.jti)
    if (state.revoked) throw unauthorized('Token revoked')
    if (state.user === null) throw unauthorized('Invalid token')
    if (state.user.tokenVersion !== claims.ver) throw unauthorized('Token revoked')
    request.actor = { id, role: state.user.role }
    request.token = claims
  }

  fastify.decorate('authenticate', async (request: FastifyRequest) => { await verifyBearer(request) })
  fastify.decorate('authenticateIfPresent', async (request: FastifyRequest) => {
    if (request.headers.authorization !== undefined) await verifyBearer(request)
  })
}, { name: 'auth', dependencies: ['config', 'db', 'redis'] })
