import type { FastifyInstance } from 'fastify'
import { createTaskService, type TaskService } from '../../src/tasks/service.js'

declare module 'fastify' {
  interface FastifyInstance { taskService: TaskService }
  interface FastifyRequest {
    /** The list cache's generation check, started before the limiter (GET /tasks/task/:date). */
    listGeneration: Promise<string> | null
  }
}

/** Every /tasks route needs a signed-in user, and works through the task service. */
export default async function (fastify: FastifyInstance): Promise<void> {
  fastify.decorate('taskService', createTaskService({ db: fastify.db, cache: fastify.taskListCache }))
  fastify.decorateRequest('listGeneration', null)
  fastify.addHook('onRequest', fastify.authenticate)
}
