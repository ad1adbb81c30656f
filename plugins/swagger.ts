import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { finishDocument, type OpenApiDocument } from '../src/openapi/document.js'

/**
 * The OpenAPI 3.1 document built from the routes' schemas, at /openapi.json, and a browsable UI at /docs.
 * The same document is committed as openapi.json (npm run openapi) and the SDK in sdk/ is generated from it.
 */
export default fp(async (fastify) => {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Task Management API',
        description: 'Tasks by date with priorities, owners and an audit trail, behind JWT authentication. ' +
          'Every error is {statusCode, error, message} (plus details[] for invalid input). ' +
          'A 429 carries retry-after and x-ratelimit-limit/-remaining/-reset headers. Failures before a request ' +
          'reaches an operation (not sent within REQUEST_TIMEOUT_MS: 408, oversized headers: 431, malformed ' +
          'HTTP: 400) close the connection with the same error shape and are not listed per operation.',
        version: '1.0.0'
      },
      // Relative: the document describes the server that serves it, wherever that runs.
      servers: [{ url: '/', description: 'The server that serves this document' }],
      tags: [
        { name: 'users', description: 'Registration, login and profile' },
        { name: 'tasks', description: 'Tasks by date, their changes and audit trail' },
        { name: 'imports', description: 'CSV bulk import of tasks, run by the worker' },
        { name: 'health', description: 'Liveness of the service and its dependencies' }
      ],
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } }
      }
    },
    // The OpenAPI branch is the only one here: this plugin configures `openapi`, never Swagger 2.
    transformObject: (documentObject) => finishDocument((documentObject as { openapiObject: OpenApiDocument }).openapiObject),
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}`
    }
  })
  // staticCSP: the UI's own content security policy, wider than the API's (plugins/helmet.ts).
  await fastify.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })

  fastify.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () => fastify.swagger())
}, { name: 'swagger', dependencies: ['config', 'helmet'] })
