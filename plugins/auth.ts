import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
import type { FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler } from 'fastify'
import { unauthorized } from '../src/errors.js'
import type { Actor } from '../src/tasks/service.js'
import { createTokenStore, newTokenId, tokenRefusal, type TokenClaims, type TokenState, type TokenStore } from '../src/users/tokens.js'
import type { Role } from '../src/users/schemas.js'

export type { TokenClaims }

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: TokenClaims
    user: TokenClaims
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * onRequest hook: answers 401 unless the request carries a validly signed bearer token, and starts the check
     * that it is not revoked (401 in preParsing if it is).
     */
    authenticate: onRequestHookHandler
    /** Like authenticate, but a request without an Authorization header passes through anonymous. */
    authenticateIfPresent: onRequestHookHandler
    /** Signs a token for a user as the database has it now. */
    signToken: (user: { id: number, role: 'user' | 'admin', tokenVersion: number }) => string
    tokens: TokenStore
  }
  interface FastifyRequest {
    /** The signed-in user, with the role the database gives them now (not the one in the token). */
    actor: Actor | null
    /** The verified claims of the bearer token (the limiter counts per `sub`; logout revokes its `jti`). */
    token: TokenClaims | null
    /**
     * The token's revocation / user-state check: what this process holds of it, or started by the limiter in its
     * Redis command; awaited (or, if nothing started it, made) in preParsing.
     */
    tokenCheck: TokenState | Promise<TokenState> | null
  }
}

const BEARER = /^Bearer [A-Za-z0-9_.~+/=-]+$/

/**
 * Bearer authentication: HS256 only (alg "none" and every other algorithm are refused), exp and nbf
 * enforced, and every failure is a 401 in the one error shape. A verified token is then checked against
 * the user's current state (src/users/tokens.ts): revoked by logout, issued before a password change,
 * or its user gone -> 401, in preParsing. The limiter (plugins/limiter.ts) runs in between: it takes the
 * token's state from what this process holds (good tokens, kept coherent across processes: src/coherence.ts),
 * or reads it in its own Redis command, so checking a token costs no round trip of its own.
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
    ...(config.redis.url !== undefined && { redis: fastify.redis, coherence: fastify.coherence }),
    stateTtlS: config.jwt.authStateTtlS
  })
  fastify.decorate('tokens', tokens)
  fastify.decorate('signToken', (user: { id: number, role: 'user' | 'admin', tokenVersion: number }) =>
    fastify.jwt.sign({ sub: String(user.id), role: user.role, ver: user.tokenVersion, jti: newTokenId() }))
  fastify.decorateRequest('actor', null)
  fastify.decorateRequest('token', null)

  // Verifying is an HMAC over the token; a header whose token verified once is remembered, keyed by its exact
  // text, until the token's exp (so a hit needs neither the HMAC nor the syntax and claim checks). Revocation
  // is checked after this (src/users/tokens.ts), never cached here. Not fast-jwt's own verify cache: it
  // hashes the token and decodes it again on every hit, and @fastify/jwt's request.jwtVerify re-reads the
  // header and merges its options per request (~8% of a cached read in the profile).
  const verified = new Map<string, { claims: TokenClaims, expiresAtMs: number }>()
  const verifyCacheSize = config.jwt.verifyCacheSize

  /** The claims of an `Authorization: Bearer <token>` header value, or a 401. */
  function verifyHeader (header: string): TokenClaims {
    const hit = verified.get(header)
    if (hit !== undefined) {
      if (hit.expiresAtMs > Date.now()) return hit.claims
      verified.delete(header)
    }
    if (!BEARER.test(header)) throw unauthorized('Authorization header must be "Bearer <token>"')
    let claims: TokenClaims
    try {
      claims = fastify.jwt.verify<TokenClaims>(header.slice(7))
    } catch (error) {
      const expired = (error as { code?: string }).code === 'FAST_JWT_EXPIRED'
      throw unauthorized(expired ? 'Token expired' : 'Invalid token')
    }
    const id = Number(claims.sub)
    if (!Number.isSafeInteger(id) || id < 1 || typeof claims.jti !== 'string' || claims.jti.length > 64 ||
      !Number.isSafeInteger(claims.ver)) {
      throw unauthorized('Invalid token')
    }
    // Signed tokens always carry exp; one without it is checked every time rather than remembered forever.
    if (verifyCacheSize > 0 && typeof claims.exp === 'number') {
      if (verified.size >= verifyCacheSize) verified.delete(verified.keys().next().value as string)
      verified.set(header, { claims, expiresAtMs: claims.exp * 1000 })
    }
    return claims
  }

  function verifyBearer (request: FastifyRequest): void {
    const header = request.headers.authorization
    if (header === undefined || header === '') throw unauthorized('Missing bearer token')
    request.token = verifyHeader(header)
  }

  function settle (request: FastifyRequest, claims: TokenClaims, state: TokenState): void {
    const refusal = tokenRefusal(state, claims.ver)
    if (refusal !== null) throw unauthorized(refusal)
    request.actor = { id: Number(claims.sub), role: (state.user as { role: Role }).role }
  }

  fastify.decorateRequest('tokenCheck', null)
  // Callback hooks: verifying is synchronous, and an async hook would cost every request a promise.
  function authenticated (request: FastifyRequest, done: HookHandlerDoneFunction): void {
    try {
      verifyBearer(request)
    } catch (error) {
      done(error as Error)
      return
    }
    done()
  }
  fastify.decorate('authenticate', ((request, _reply, done) => { authenticated(request, done) }) satisfies onRequestHookHandler)
  fastify.decorate('authenticateIfPresent', ((request, _reply, done) => {
    if (request.headers.authorization === undefined) done()
    else authenticated(request, done)
  }) satisfies onRequestHookHandler)
  // A callback hook: most checks are settled already (a token this process holds as good), and an async hook
  // would cost every request a promise.
  fastify.addHook('preParsing', (request, _reply, payload, done) => {
    const claims = request.token
    if (claims === null) return done(null, payload)
    const check = request.tokenCheck ?? tokens.check(Number(claims.sub), claims.jti)
    if (!(check instanceof Promise)) {
      try {
        settle(request, claims, check)
      } catch (error) {
        return done(error as Error)
      }
      return done(null, payload)
    }
    check.then((state) => { settle(request, claims, state) }).then(() => { done(null, payload) }, (error: Error) => { done(error) })
  })
}, { name: 'auth', dependencies: ['config', 'db', 'redis', 'coherence'] })
