import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

/** The OpenAPI 3.1 document built from the routes' schemas, at /openapi.json, and a browsable UI at /docs. */
export default fp(async (fastify) => {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Task Management API',
        description: 'Tasks by date with priorities, owners and an audit trail, behind JWT authentication.',
        version: '1.0.0'
      },
      tags: [
        { name: 'users', description: 'Registration, login and profile' },
        { name: 'tasks', description: 'Tasks by date, their changes and audit trail' },
        { name: 'health', description: 'Liveness of the service and its dependencies' }
      ],
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } }
      }
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}`
    }
  })
  // staticCSP: the UI's own content security policy, wider than the API's (plugins/helmet.ts).
  await fastify.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })

  fastify.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () => fastify.swagger())
}, { name: 'swagger', dependencies: ['config', 'helmet'] })
