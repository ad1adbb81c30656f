import type { FastifyReply } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses, MessageResponse } from '../../src/schemas/common.js'
import { notFound } from '../../src/errors.js'
import type { Actor } from '../../src/tasks/service.js'
import {
  CreateTaskBody, DateParams, TaskIdParams, TaskListResponse, TaskLogResponse, TaskResponse, UpdateTaskBody
} from '../../src/tasks/schemas.js'
import importRoutes from './imports.js'
import taskRecordRoutes from './task-records.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** GET /tasks/task/:date: the list this process held current when the request came (set in its onRequest). */
    heldTaskList: Buffer | null
  }
}

const security = [{ bearerAuth: [] }]
const CLOSE = Buffer.from('}')
// A payload that is already JSON (the tasks come rendered from PostgreSQL, src/tasks/service.ts) is sent as it
// is when its content type says JSON: spliced into the envelope rather than parsed and serialised again. The
// type provider only knows the object form, hence the casts.
const JSON_TYPE = 'application/json; charset=utf-8'

const tasks: FastifyPluginAsyncTypebox = async (fastify) => {
  const { config, taskService } = fastify
  // The autohook authenticated every request that reaches a handler.
  const actorOf = (request: { actor: Actor | null }): Actor => request.actor as Actor

  // Autoload loads only index.ts from a folder that has one: the other route files of /tasks are registered here.
  await fastify.register(importRoutes)
  await fastify.register(taskRecordRoutes)

  fastify.post('/create-task', {
    schema: {
      operationId: 'createTask',
      tags: ['tasks'],
      summary: 'Create a task',
      description: 'A user may assign a task only to themselves; an admin to any existing user.',
      security,
      body: CreateTaskBody,
      response: { 201: TaskResponse, ...errorResponses(400, 401, 403, 413, 415, 429, 503) }
    }
  }, async (request, reply) => {
    const task = await taskService.create(actorOf(request), request.body)
    return await reply.code(201).type(JSON_TYPE).send(`{"message":"Task created successfully","task":${task}}` as never)
  })

  // The full response body for each cached list, built once: the cache hands out the same bytes for as long
  // as it holds a list, and the entry goes when those bytes are dropped. Not for a list just queried, which no
  // later read gets again: its body would only wait in the map for a full collection to prove it dead (~20 MB
  // of RSS in the miss scenario, bench/README.md, tenth pass).
  const bodies = new WeakMap<Buffer, Buffer>()
  const LOOKS_LIKE_A_DATE = /^\d{4}-\d{2}-\d{2}$/
  fastify.decorateRequest('heldTaskList', null)

  function sendList (reply: FastifyReply, date: string, json: Buffer, fromCache: boolean): void {
    if (json.length === 2) throw notFound(`No tasks found for ${date}`) // '[]'
    // The list is already JSON bytes (as cached): splice them in rather than parse, serialise and encode again.
    let body = fromCache ? bodies.get(json) : undefined
    if (body === undefined) {
      body = Buffer.concat([Buffer.from(`{"message":"Tasks retrieved successfully","date":"${date}","task_list":`), json, CLOSE])
      if (fromCache) bodies.set(json, body)
    }
    reply.type(JSON_TYPE).send(body as never)
  }

  fastify.get('/task/:date', {
    config: { rateLimit: config.rateLimit.taskList },
    // Runs after authentication and before the limiter. A list this process holds and knows current is taken
    // now and needs no Redis at all; otherwise the limiter's command reads the cache's keys too: one round trip
    // for the token check, the count and the cache. The token's role picks the list; should the user's role
    // have changed since, the handler reads the right one.
    onRequest: (request, _reply, done) => {
      const { date } = request.params as { date?: string }
      const claims = request.token
      if (claims !== null && date !== undefined && LOOKS_LIKE_A_DATE.test(date)) {
        const viewer = { id: Number(claims.sub), role: claims.role }
        request.heldTaskList = taskService.heldListJson(viewer, date) ?? null
        if (request.heldTaskList === null) request.limiterReadAhead = taskService.listReadAhead(viewer, date) ?? null
      }
      done()
    },
    schema: {
      operationId: 'listTasksByDate',
      tags: ['tasks'],
      summary: "The caller's active tasks of a day (every user's for an admin)",
      security,
      params: DateParams,
      response: { 200: TaskListResponse, ...errorResponses(400, 401, 404, 429, 503) }
    }
  }, (request, reply) => {
    const { date } = request.params
    const held = request.heldTaskList
    // A list held for the token's role is the actor's while that is still their role: answered at once, with
    // no promise to settle (a synchronous handler).
    if (held !== null && actorOf(request).role === request.token?.role) {
      sendList(reply, date, held, true)
      return
    }
    const { limiterReadAhead: asked, limiterRead: found } = request
    const ahead = asked !== null && found !== null ? { asked, found } : undefined
    return taskService.listJsonForDate(actorOf(request), date, ahead).then(({ json, fromCache }) => { sendList(reply, date, json, fromCache) })
  })

  fastify.put('/update-task/:task_id', {
    schema: {
      operationId: 'updateTask',
      tags: ['tasks'],
      summary: 'Change some fields of a task',
      description: 'Only an admin may change assigned_user. A task the caller may not see answers 404.',
      security,
      params: TaskIdParams,
      body: UpdateTaskBody,
      response: { 200: TaskResponse, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503) }
    }
  }, async (request, reply) => {
    const task = await taskService.update(actorOf(request), request.params.task_id, request.body)
    return await reply.type(JSON_TYPE).send(`{"message":"Task updated successfully","task":${task}}` as never)
  })

  fastify.delete('/delete/:task_id', {
    schema: {
      operationId: 'deleteTask',
      tags: ['tasks'],
      summary: 'Soft-delete a task (is_active becomes false)',
      security,
      params: TaskIdParams,
      // A DELETE may carry a body: Fastify parses it, so a wrong content type or an oversized one is refused.
      response: { 200: MessageResponse, ...errorResponses(400, 401, 404, 413, 415, 429, 503) }
    }
  }, async (request) => {
    await taskService.softDelete(actorOf(request), request.params.task_id)
    return { message: 'Task deleted successfully' }
  })

  fastify.get('/task-log/:task_id', {
    schema: {
      operationId: 'getTaskLog',
      tags: ['tasks'],
      summary: 'The audit trail of a task, newest first',
      security,
      params: TaskIdParams,
      response: { 200: TaskLogResponse, ...errorResponses(400, 401, 404, 429, 503) }
    }
  }, async (request) => {
    const { task_id: taskId } = request.params
    return { task_id: taskId, logs: await taskService.auditLog(actorOf(request), taskId) }
  })
}

export default tasks
