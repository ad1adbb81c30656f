import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { errorBody as body, HttpError } from '../src/errors.js'
import { sqlState } from '../src/db/errors.js'
import { isDependencyUnavailable } from '../src/dependency-errors.js'
import type { ErrorResponse } from '../src/schemas/common.js'

/** Which status a thrown error deserves, and what the client may be told about it. */
function describe (error: FastifyError): ErrorResponse {
  if (error.validation !== undefined) {
    const details = error.validation.map((v) => ({
      field: `${error.validationContext ?? ''}${v.instancePath}`.replace(/\//g, '.'),
      message: v.message ?? 'is invalid'
    }))
    return body(400, error.message, details)
  }
  if (error instanceof HttpError) return body(error.statusCode, error.message)
  const state = sqlState(error)
  // Values the schemas let through but PostgreSQL refuses (data exceptions, broken references): the client's input.
  if (state !== undefined && (state.startsWith('22') || state === '23503')) return body(400, 'Invalid value')
  if (isDependencyUnavailable(error)) return body(503, 'Service temporarily unavailable, try again shortly')
  const status = error.statusCode
  // Fastify's own client errors (413 body too large, 415 content type, 400 malformed JSON) carry safe messages.
  if (status !== undefined && status >= 400 && status < 500) return body(status, error.message)
  return body(500, 'Internal Server Error')
}

/** One error shape everywhere: {statusCode, error, message}. 5xx details go to the log, never to the client. */
export default fp(async (fastify) => {
  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    const response = describe(error)
    if (response.statusCode === 503) request.log.warn({ err: error }, 'dependency unavailable')
    else if (response.statusCode >= 500) request.log.error({ err: error }, 'request failed')
    return reply.code(response.statusCode).send(response)
  })

  fastify.setNotFoundHandler((request, reply) => {
    return reply.code(404).send(body(404, `Route ${request.method} ${request.url.split('?')[0] ?? ''} not found`))
  })
}, { name: 'errors', dependencies: ['schemas'] })
