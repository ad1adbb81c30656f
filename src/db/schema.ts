import { sql } from 'drizzle-orm'
import {
  bigint, boolean, customType, date, index, integer, jsonb, pgEnum, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid, varchar
} from 'drizzle-orm/pg-core'

export const userRole = pgEnum('user_role', ['user', 'admin'])
export const taskPriority = pgEnum('task_priority', ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'])
export const auditAction = pgEnum('audit_action', ['created', 'updated', 'deleted'])

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}

export const users = pgTable('users', {
  id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
  username: varchar('username', { length: 50 }).notNull(),
  passwordHash: text('password_hash').notNull(),
  role: userRole('role').notNull().default('user'),
  // Bumped to revoke every token issued before (password change, logout everywhere).
  tokenVersion: integer('token_version').notNull().default(0),
  ...timestamps
}, (t) => [
  uniqueIndex('users_username_key').on(t.username)
])

/**
 * Tokens revoked by logout, until they expire: the durable copy of Redis' deny-list, consulted when Redis
 * is away or has lost its data (see src/users/tokens.ts).
 */
export const revokedTokens = pgTable('revoked_tokens', {
  jti: varchar('jti', { length: 64 }).primaryKey(),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull()
}, (t) => [
  index('revoked_tokens_user_idx').on(t.userId, t.expiresAt)
])

export const tasks = pgTable('tasks', {
  id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
  taskName: varchar('task_name', { length: 255 }).notNull(),
  description: text('description'),
  priority: taskPriority('priority').notNull().default('LOW'),
  date: date('date', { mode: 'string' }).notNull(),
  assignedUser: integer('assigned_user').notNull().references(() => users.id),
  isActive: boolean('is_active').notNull().default(true),
  createdBy: integer('created_by').notNull().references(() => users.id),
  // Incremented by every change: the basis for ETags and conditional writes.
  version: integer('version').notNull().default(1),
  ...timestamps,
  /**
   * The task as the API shows it (JSON text, byte for byte JSON.stringify(toTask(row))), kept by PostgreSQL on
   * every insert and update, whatever the write path: a day's list is then one concatenation of stored texts
   * instead of rendering every task again on each cache miss (bench/README.md, tenth pass). task_api_json is
   * created by migration 0003.
   */
  apiJson: text('api_json').notNull().generatedAlwaysAs(sql`task_api_json("id", "task_name", "description", "priority", "date",
    "assigned_user", "is_active", "created_by", "created_at", "updated_at")`)
}, (t) => [
  // The list-by-date queries: a user's view is (assigned to me OR created by me), an admin's is the whole day.
  index('tasks_active_date_assigned_idx').on(t.date, t.assignedUser, t.id).where(sql`${t.isActive}`),
  index('tasks_active_date_creator_idx').on(t.date, t.createdBy, t.id).where(sql`${t.isActive}`)
])

export const taskAudit = pgTable('task_audit', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  taskId: integer('task_id').notNull().references(() => tasks.id),
  action: auditAction('action').notNull(),
  previousState: jsonb('previous_state').$type<Record<string, unknown> | null>(),
  currentState: jsonb('current_state').$type<Record<string, unknown>>().notNull(),
  actionBy: integer('action_by').notNull().references(() => users.id),
  timestamp: timestamp('timestamp', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}, (t) => [
  index('task_audit_task_idx').on(t.taskId, t.id)
])

/** The daily snapshot of active tasks: one row per task per day, whoever runs the job and however often. */
export const taskLogger = pgTable('task_logger', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  taskId: integer('task_id').notNull().references(() => tasks.id),
  logDate: date('log_date', { mode: 'string' }).notNull(),
  taskName: varchar('task_name', { length: 255 }).notNull(),
  priority: taskPriority('priority').notNull(),
  taskDate: date('task_date', { mode: 'string' }).notNull(),
  assignedUser: integer('assigned_user').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}, (t) => [
  uniqueIndex('task_logger_task_day_key').on(t.taskId, t.logDate)
])

export const importStatus = pgEnum('import_status', ['queued', 'running', 'done', 'failed'])
export const dailyRunStatus = pgEnum('daily_run_status', ['pending', 'done'])

// postgres.js hands bytea back as a Buffer, PGlite as a Uint8Array: both are bytes.
const bytea = customType<{ data: Uint8Array, driverData: Uint8Array }>({ dataType: () => 'bytea' })

/**
 * A CSV import, recorded before it is enqueued so no accepted upload is lost. `processed_rows` is the
 * checkpoint: every batch advances it in the transaction that inserts the batch's tasks, so a retried job
 * resumes after it and imports no row twice.
 */
export const taskImports = pgTable('task_imports', {
  id: uuid('id').primaryKey(),
  status: importStatus('status').notNull().default('queued'),
  totalRows: integer('total_rows').notNull(),
  processedRows: integer('processed_rows').notNull().default(0),
  imported: integer('imported').notNull().default(0),
  failureReason: text('failure_reason'),
  fileName: varchar('file_name', { length: 255 }),
  fileBytes: integer('file_bytes').notNull(),
  attempts: integer('attempts').notNull().default(0),
  createdBy: integer('created_by').notNull().references(() => users.id),
  ...timestamps,
  finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' })
}, (t) => [
  // The relay's scan: imports not finished yet.
  index('task_imports_unfinished_idx').on(t.createdAt).where(sql`${t.status} in ('queued', 'running')`)
])

/** The uploaded file, in pieces: workers on other hosts read it from here, a piece at a time. */
export const taskImportChunks = pgTable('task_import_chunks', {
  importId: uuid('import_id').notNull().references(() => taskImports.id, { onDelete: 'cascade' }),
  seq: integer('seq').notNull(),
  data: bytea('data').notNull()
}, (t) => [primaryKey({ columns: [t.importId, t.seq] })])

/** One refused row of an import; `row` as a spreadsheet numbers it (the header is row 1). */
export const taskImportErrors = pgTable('task_import_errors', {
  importId: uuid('import_id').notNull().references(() => taskImports.id, { onDelete: 'cascade' }),
  row: integer('row').notNull(),
  message: text('message').notNull()
}, (t) => [primaryKey({ columns: [t.importId, t.row] })])

/** The daily task log's schedule: a day's run is recorded here before it is enqueued, and marked done after. */
export const dailyTaskLogRuns = pgTable('daily_task_log_runs', {
  logDate: date('log_date', { mode: 'string' }).primaryKey(),
  runAt: timestamp('run_at', { withTimezone: true, mode: 'date' }).notNull(),
  status: dailyRunStatus('status').notNull().default('pending'),
  inserted: integer('inserted'),
  finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' })
}, (t) => [
  index('daily_task_log_runs_pending_idx').on(t.runAt).where(sql`${t.status} = 'pending'`)
])

export type UserRow = typeof users.$inferSelect
export type TaskRow = typeof tasks.$inferSelect
export type TaskAuditRow = typeof taskAudit.$inferSelect
export type TaskImportRow = typeof taskImports.$inferSelect
