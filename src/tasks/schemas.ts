import { Type, type Static } from '@sinclair/typebox'
import { CalendarDate, Id, Nullable } from '../schemas/common.js'

export const Priority = Type.Union(
  [Type.Literal('LOW'), Type.Literal('MEDIUM'), Type.Literal('HIGH'), Type.Literal('CRITICAL')],
  { description: 'Task priority' }
)
export type Priority = Static<typeof Priority>

// Text PostgreSQL can store: no NUL characters.
const StoredText = { pattern: '^[^\\u0000]*$' }
const TaskName = Type.String({ minLength: 1, maxLength: 255, ...StoredText })
const Description = Nullable(Type.String({ maxLength: 5000, ...StoredText }))

export const Task = Type.Object({
  id: Id,
  task_name: Type.String(),
  description: Nullable(Type.String()),
  priority: Priority,
  date: Type.String({ format: 'date' }),
  assigned_user: Id,
  is_active: Type.Boolean(),
  created_by: Id,
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' })
}, { $id: 'Task', title: 'Task' })
export type Task = Static<typeof Task>

export const CreateTaskBody = Type.Object({
  task_name: TaskName,
  description: Type.Optional(Description),
  priority: Type.Optional(Priority),
  date: Type.Optional(CalendarDate),
  assigned_user: Type.Optional(Id)
}, { additionalProperties: false })
export type CreateTaskBody = Static<typeof CreateTaskBody>

export const UpdateTaskBody = Type.Object({
  task_name: Type.Optional(TaskName),
  description: Type.Optional(Description),
  priority: Type.Optional(Priority),
  date: Type.Optional(CalendarDate),
  assigned_user: Type.Optional(Id)
}, { additionalProperties: false, minProperties: 1 })
export type UpdateTaskBody = Static<typeof UpdateTaskBody>

export const TaskIdParams = Type.Object({ task_id: Id })
export const DateParams = Type.Object({ date: CalendarDate })

export const TaskResponse = Type.Object({ message: Type.String(), task: Type.Ref(Task) })
export const TaskListResponse = Type.Object({
  message: Type.String(),
  date: Type.String({ format: 'date' }),
  task_list: Type.Array(Type.Ref(Task))
})

export const AuditAction = Type.Union([Type.Literal('created'), Type.Literal('updated'), Type.Literal('deleted')])
export const AuditEntry = Type.Object({
  id: Type.Integer(),
  action: AuditAction,
  previous_state: Nullable(Type.Object({}, { additionalProperties: true })),
  current_state: Type.Object({}, { additionalProperties: true }),
  action_by: Id,
  timestamp: Type.String({ format: 'date-time' })
})
export type AuditEntry = Static<typeof AuditEntry>
export const TaskLogResponse = Type.Object({ task_id: Id, logs: Type.Array(AuditEntry) })

export const TaskRecordsQuery = Type.Object({
  page: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1, description: 'From 1' }),
  per_page: Type.Integer({ minimum: 1, maximum: 100, default: 20, description: '1 to 100' })
}, { additionalProperties: false })

export const TaskLoggerEntry = Type.Object({
  log_date: Type.String({ format: 'date', description: 'The day of the snapshot' }),
  task_name: Type.String(),
  priority: Priority,
  task_date: Type.String({ format: 'date' }),
  assigned_user: Id,
  logged_at: Type.String({ format: 'date-time' })
})

export const TaskRecord = Type.Composite([
  Type.Omit(Task, []),
  Type.Object({ logs: Type.Array(TaskLoggerEntry, { description: 'The latest daily snapshots, newest first' }) })
])

export const TaskRecordsResponse = Type.Object({
  page: Type.Integer(),
  per_page: Type.Integer(),
  total: Type.Integer({ description: 'Active tasks the caller can see, across all pages' }),
  records: Type.Array(TaskRecord)
})
export type TaskRecordsResponse = Static<typeof TaskRecordsResponse>
