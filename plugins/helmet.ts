import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'

/**
 * Security headers on every response (@fastify/helmet). The API answers JSON only, so its content
 * security policy allows nothing to load or frame it; the /docs UI sends its own, wider policy
 * (@fastify/swagger-ui's staticCSP) for its own scripts and styles.
 */
export default fp(async (fastify) => {
  await fastify.register(helmet, {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] }
    },
    // Cross-origin isolation headers are for documents; CORS (plugins/cors.ts) governs who may call the API.
    crossOriginEmbedderPolicy: false,
    crossOriginResourcePolicy: { policy: 'same-site' }
  })
}, { name: 'helmet', dependencies: ['config'] })
