import { sql } from 'drizzle-orm'
import {
  bigint, boolean, date, index, integer, jsonb, pgEnum, pgTable, text, timestamp, uniqueIndex, varchar
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
  ...timestamps
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

export type UserRow = typeof users.$inferSelect
export type TaskRow = typeof tasks.$inferSelect
export type TaskAuditRow = typeof taskAudit.$inferSelect
