import fp from 'fastify-plugin'
import cors from '@fastify/cors'

/**
 * CORS is off unless CORS_ORIGINS lists the browser origins allowed to call the API: without it no
 * Access-Control-* header is ever sent, so browsers keep other sites from reading its answers.
 * Tokens travel in the Authorization header, never in cookies, so credentials stay off.
 */
export default fp(async (fastify) => {
  const { corsOrigins } = fastify.config
  if (corsOrigins.length === 0) return
  await fastify.register(cors, {
    origin: corsOrigins,
    methods: ['GET', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type'],
    credentials: false,
    maxAge: 600
  })
}, { name: 'cors', dependencies: ['config'] })
