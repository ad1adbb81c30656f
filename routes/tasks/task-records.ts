import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../../src/schemas/common.js'
import { listTaskRecords } from '../../src/tasks/records.js'
import { TaskRecordsQuery, TaskRecordsResponse } from '../../src/tasks/schemas.js'
import type { Actor } from '../../src/tasks/service.js'

const taskRecords: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/task-records', {
    schema: {
      operationId: 'listTaskRecords',
      tags: ['tasks'],
      summary: 'Active tasks with their recent daily snapshots, a page at a time',
      description: 'An admin sees every active task, a user those they created or are assigned. page from 1, per_page 1-100 (outside: 400).',
      security: [{ bearerAuth: [] }],
      querystring: TaskRecordsQuery,
      response: { 200: TaskRecordsResponse, ...errorResponses(400, 401, 429, 503) }
    }
  }, async (request) => {
    const { page, per_page: perPage } = request.query
    return await listTaskRecords(fastify.db, request.actor as Actor, page, perPage)
  })
}

export default taskRecords
