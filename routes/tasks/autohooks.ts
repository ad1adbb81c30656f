import type { FastifyInstance } from 'fastify'
import { createTaskService, type TaskService } from '../../src/tasks/service.js'

declare module 'fastify' {
  interface FastifyInstance { taskService: TaskService }
}

/** Every /tasks route needs a signed-in user, and works through the task service. */
export default async function (fastify: FastifyInstance): Promise<void> {
  fastify.decorate('taskService', createTaskService({ db: fastify.db, cache: fastify.taskListCache }))
  fastify.addHook('onRequest', fastify.authenticate)
}
