import fp from 'fastify-plugin'
import { ErrorResponse } from '../src/schemas/common.js'
import { Task } from '../src/tasks/schemas.js'
import { User } from '../src/users/schemas.js'

/** The shapes routes refer to by $ref: defined once, validated, serialised and documented from one place. */
export default fp(async (fastify) => {
  for (const schema of [ErrorResponse, Task, User]) fastify.addSchema(schema)
}, { name: 'schemas' })
