import { and, desc, eq, getTableColumns, or, sql, type AnyColumn, type SQL } from 'drizzle-orm'
import type { Database, Transaction } from '../db/client.js'
import { taskAudit, tasks, users, type TaskRow } from '../db/schema.js'
import { taskListKey, type ListReadAhead, type TaskListCache, type Viewer } from '../cache/task-list-cache.js'
import type { ReadAhead } from '../rate-limit/store.js'
import { badRequest, forbidden, notFound } from '../errors.js'
import type { AuditEntry, CreateTaskBody, Task, UpdateTaskBody } from './schemas.js'

export interface Actor { id: number, role: 'user' | 'admin' }

export interface TaskServiceDeps {
  db: Database
  cache: TaskListCache
  /** The day a new task belongs to when the client names none (UTC). */
  today?: () => string
}

const NOT_FOUND = 'Task not found'

export function toTask (row: TaskRow): Task {
  return {
    id: row.id,
    task_name: row.taskName,
    description: row.description,
    priority: row.priority,
    date: row.date,
    assigned_user: row.assignedUser,
    is_active: row.isActive,
    created_by: row.createdBy,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString()
  }
}

function viewerOf (actor: Actor): Viewer {
  return actor.role === 'admin' ? { role: 'admin' } : { role: 'user', userId: actor.id }
}

/** Tasks an actor may act on: their own (created or assigned), or any for an admin. */
function visibleTo (actor: Actor): ReturnType<typeof or> {
  return actor.role === 'admin' ? undefined : or(eq(tasks.createdBy, actor.id), eq(tasks.assignedUser, actor.id))
}

const utcToday = (): string => new Date().toISOString().slice(0, 10)

// Tasks are rendered to JSON by PostgreSQL (the generated column api_json, src/db/schema.ts), byte for byte what
// JSON.stringify(toTask(row)) gives: a cache miss costs one query concatenating stored texts, and a write returns
// its task's text and the few fields its invalidation needs, instead of mapping every column (timestamps through
// Date) and serialising in JS (bench/README.md, eighth and tenth passes). A created task's audit row holds the
// same text as jsonb.
type TaskColumns = { [K in keyof TaskRow]: AnyColumn | SQL.Aliased }
const LIST_JSON = sql<string>`coalesce('[' || string_agg(${tasks.apiJson}, ',' order by ${tasks.id}) || ']', '[]')`

/**
 * A day's list as one JSON text: the whole day (admin) or what a user created or is assigned, with
 * placeholders `date` and `user`. `is_active` is a literal condition, not `= $n`: a generic plan of the
 * prepared statement can then still use the partial indexes (WHERE is_active), which a parameter would
 * not let the planner prove. bench/ EXPLAINs these.
 */
export function dayListQueries (db: Database) {
  const activeOn = and(eq(tasks.date, sql.placeholder('date')), sql`${tasks.isActive}`)
  return {
    admin: db.select({ json: LIST_JSON }).from(tasks).where(activeOn),
    user: db.select({ json: LIST_JSON }).from(tasks)
      .where(and(activeOn, or(eq(tasks.createdBy, sql.placeholder('user')), eq(tasks.assignedUser, sql.placeholder('user')))))
  }
}

const param = (name: string): SQL => sql`${sql.placeholder(name)}`

/** What says which cached lists hold a task: its date and the users who see it. */
type ListFields = 'date' | 'createdBy' | 'assignedUser'
/** What a write returns about a task to invalidate the lists holding it. */
const listsOf = <T extends Pick<TaskColumns, ListFields>>(t: T): Pick<T, ListFields> =>
  ({ date: t.date, createdBy: t.createdBy, assignedUser: t.assignedUser })

/**
 * The task and its audit row in one statement: atomic on its own (one implicit transaction), and one round
 * trip to PostgreSQL instead of four (BEGIN, two INSERTs, COMMIT).
 */
function createTaskQuery (db: Database) {
  const inserted = db.$with('inserted').as(db.insert(tasks).values({
    taskName: param('taskName'),
    description: param('description'),
    priority: param('priority'),
    date: param('date'),
    assignedUser: param('assignedUser'),
    createdBy: param('actor')
  }).returning())
  const audit = db.$with('audit', { id: sql<number>`id` }).as(sql`
    insert into ${taskAudit} (task_id, action, previous_state, current_state, action_by)
    select ${inserted.id}, 'created', null, ${inserted.apiJson}::jsonb, ${param('actor')} from ${inserted}
    returning id`)
  return db.with(inserted, audit).select({ json: inserted.apiJson, ...listsOf(inserted) }).from(inserted)
}

/**
 * An update in one statement: lock the task if the actor may see it, change the fields the patch gives with a
 * new value (a null parameter leaves its column alone; description has a flag, null being a value it may
 * take), write the audit row of exactly those fields. Returns the task before and after (after is null when
 * nothing changed); no row when there is no such task for the actor. Concurrent updates queue on the lock.
 */
function updateTaskQuery (db: Database) {
  const before = db.$with('before').as(db.select().from(tasks).where(and(
    eq(tasks.id, param('id')),
    sql`${tasks.isActive}`,
    sql`(${param('admin')}::boolean or ${tasks.createdBy} = ${param('actor')} or ${tasks.assignedUser} = ${param('actor')})`
  )).for('update'))
  const changes = db.$with('changes').as(db.select({
    id: before.id,
    taskName: sql<boolean>`${param('taskName')}::varchar is not null and ${param('taskName')}::varchar is distinct from ${before.taskName}`.as('task_name_changes'),
    description: sql<boolean>`${param('setDescription')}::boolean and ${param('description')}::text is distinct from ${before.description}`.as('description_changes'),
    priority: sql<boolean>`${param('priority')}::task_priority is not null and ${param('priority')}::task_priority is distinct from ${before.priority}`.as('priority_changes'),
    date: sql<boolean>`${param('date')}::date is not null and ${param('date')}::date is distinct from ${before.date}`.as('date_changes'),
    assignedUser: sql<boolean>`${param('assignedUser')}::integer is not null and ${param('assignedUser')}::integer is distinct from ${before.assignedUser}`
      .as('assigned_user_changes')
  }).from(before))
  const updated = db.$with('updated').as(db.update(tasks).set({
    taskName: sql`case when ${changes.taskName} then ${param('taskName')}::varchar else ${tasks.taskName} end`,
    description: sql`case when ${changes.description} then ${param('description')}::text else ${tasks.description} end`,
    priority: sql`case when ${changes.priority} then ${param('priority')}::task_priority else ${tasks.priority} end`,
    date: sql`case when ${changes.date} then ${param('date')}::date else ${tasks.date} end`,
    assignedUser: sql`case when ${changes.assignedUser} then ${param('assignedUser')}::integer else ${tasks.assignedUser} end`,
    version: sql`${tasks.version} + 1`,
    updatedAt: sql`now()`
  }).from(changes).where(and(eq(tasks.id, changes.id),
    sql`(${changes.taskName} or ${changes.description} or ${changes.priority} or ${changes.date} or ${changes.assignedUser})`))
    .returning(getTableColumns(tasks)))
  // The audit row holds the changed fields only, before and after.
  const fieldsOf = (row: typeof before | typeof updated): SQL => sql`
    (case when ${changes.taskName} then jsonb_build_object('task_name', ${row.taskName}) else '{}'::jsonb end) ||
    (case when ${changes.description} then jsonb_build_object('description', ${row.description}) else '{}'::jsonb end) ||
    (case when ${changes.priority} then jsonb_build_object('priority', ${row.priority}) else '{}'::jsonb end) ||
    (case when ${changes.date} then jsonb_build_object('date', ${row.date}) else '{}'::jsonb end) ||
    (case when ${changes.assignedUser} then jsonb_build_object('assigned_user', ${row.assignedUser}) else '{}'::jsonb end)`
  const audit = db.$with('audit', { id: sql<number>`id` }).as(sql`
    insert into ${taskAudit} (task_id, action, previous_state, current_state, action_by)
    select ${updated.id}, 'updated', ${fieldsOf(before)}, ${fieldsOf(updated)}, ${param('actor')}
    from ${updated} join ${before} on ${before.id} = ${updated.id} join ${changes} on ${changes.id} = ${updated.id}
    returning id`)
  // The task as it is now (as it was, when nothing changed: the left join leaves updated's columns null, and so
  // its JSON), with the lists that held it before and hold it after.
  return db.with(before, changes, updated, audit).select({
    json: sql<string>`coalesce(${updated.apiJson}, ${before.apiJson})`,
    changed: sql<boolean>`${updated.id} is not null`,
    before: listsOf(before),
    after: listsOf(updated)
  }).from(before).leftJoin(updated, eq(updated.id, before.id))
}

export function createTaskService ({ db, cache, today = utcToday }: TaskServiceDeps) {
  // The hot statements are built and prepared once: drizzle's query builder was 40% of a create's CPU and a
  // fifth of a cache miss's in the profiles (bench/README.md).
  const dayLists = dayListQueries(db)
  const dayListForAdmin = dayLists.admin.prepare('day_list_admin')
  const dayListForUser = dayLists.user.prepare('day_list_user')
  const createStatement = createTaskQuery(db).prepare('create_task')
  const updateStatement = updateTaskQuery(db).prepare('update_task')
  const activeTask = and(eq(tasks.id, param('id')), sql`${tasks.isActive}`)
  const readForAdmin = db.select().from(tasks).where(activeTask).prepare('read_task_admin')
  const readForUser = db.select().from(tasks)
    .where(and(activeTask, or(eq(tasks.createdBy, param('actor')), eq(tasks.assignedUser, param('actor')))))
    .prepare('read_task_user')

  async function assertAssignable (tx: Database | Transaction, actor: Actor, assignee: number): Promise<void> {
    if (assignee === actor.id) return
    if (actor.role !== 'admin') throw forbidden('Only an admin may assign a task to another user')
    // An admin action: the role is re-read from the database, not trusted from a token or a cache.
    const [current] = await tx.select({ role: users.role }).from(users).where(eq(users.id, actor.id))
    if (current?.role !== 'admin') throw forbidden('Only an admin may assign a task to another user')
    const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.id, assignee))
    if (user === undefined) throw badRequest(`assigned_user ${assignee} does not exist`)
  }

  const queriesInFlight = new Map<string, Promise<Buffer>>()

  async function queryAndFill (actor: Actor, date: string, viewer: Viewer, generation: string): Promise<Buffer> {
    const [row] = actor.role === 'admin'
      ? await dayListForAdmin.execute({ date })
      : await dayListForUser.execute({ date, user: actor.id })
    // Encoded once: the same bytes go to Redis and to the client.
    const json = Buffer.from(row?.json ?? '[]')
    await cache.fill(date, viewer, json, generation)
    return json
  }

  /** Invalidates, before the caller answers, every cached list that held or now holds these tasks. */
  async function invalidateListsOf (...rows: Array<Pick<TaskRow, ListFields>>): Promise<void> {
    await cache.invalidate({
      dates: [...new Set(rows.map((r) => r.date))],
      userIds: [...new Set(rows.flatMap((r) => [r.createdBy, r.assignedUser]))]
    })
  }

  async function lockVisibleActiveTask (tx: Transaction, actor: Actor, taskId: number): Promise<TaskRow> {
    const [row] = await tx.select().from(tasks)
      .where(and(eq(tasks.id, taskId), eq(tasks.isActive, true), visibleTo(actor)))
      .for('update')
    if (row === undefined) throw notFound(NOT_FOUND)
    return row
  }

  return {
    /** Creates the task with its audit row; returns it as JSON text (toTask's fields). */
    async create (actor: Actor, input: CreateTaskBody): Promise<string> {
      const assignee = input.assigned_user ?? actor.id
      // Users are never deleted, and the foreign key still guards the insert: checking first is safe.
      await assertAssignable(db, actor, assignee)
      const [row] = await createStatement.execute({
        taskName: input.task_name,
        description: input.description ?? null,
        priority: input.priority ?? 'LOW',
        date: input.date ?? today(),
        assignedUser: assignee,
        actor: actor.id
      })
      const created = row as NonNullable<typeof row>
      await invalidateListsOf(created)
      return created.json
    },

    /**
     * The actor's active tasks of a day as a JSON array, when this process holds them current: no I/O (the
     * cache's own bytes, as listJsonForDate's `fromCache`). Undefined: ask listJsonForDate.
     */
    heldListJson (actor: Actor, date: string): Buffer | undefined {
      return cache.held?.(date, viewerOf(actor))
    },

    /** The keys to read in the request's Redis round trip and hand to listJsonForDate (undefined: none). */
    listReadAhead (actor: Actor, date: string): ReadAhead | undefined {
      return cache.readAhead?.(date, viewerOf(actor))
    },

    /**
     * The actor's active tasks of a day as a JSON array (UTF-8 bytes), from the cache when it holds them.
     * `fromCache`: the cache's own bytes, the same for as long as it holds the list, so callers may memoise on
     * them; a list just queried is not held here yet (it enters this process's copies on its next read).
     */
    async listJsonForDate (actor: Actor, date: string, ahead?: ListReadAhead): Promise<{ json: Buffer, fromCache: boolean }> {
      const viewer = viewerOf(actor)
      const cached = await cache.read(date, viewer, ahead)
      if (cached.json !== null) return { json: cached.json, fromCache: true }
      if (cached.generation === '') return { json: await queryAndFill(actor, date, viewer, cached.generation), fromCache: false }
      // Misses of one list at one generation share one query: the readers of a busy day who miss together
      // after a write cost PostgreSQL one query, not one each. Sharing only within a generation keeps
      // read-your-write: a write answered before this read moved the generation first, so a query started
      // under the generation this read saw started after that write committed.
      const key = `${taskListKey(date, viewer)} ${cached.generation}`
      let query = queriesInFlight.get(key)
      if (query === undefined) {
        query = queryAndFill(actor, date, viewer, cached.generation).finally(() => { queriesInFlight.delete(key) })
        queriesInFlight.set(key, query)
      }
      return { json: await query, fromCache: false }
    },

    /**
     * One statement (updateTaskQuery): lock the task if the actor may see it, change only the fields whose value
     * differs, write the audit row of exactly those; concurrent updates of a task serialise on its row lock.
     * A reassignment is checked first (one more round trip), then made by the same statement.
     * Returns the task as it is now, as JSON text (toTask's fields).
     */
    async update (actor: Actor, taskId: number, patch: UpdateTaskBody): Promise<string> {
      let assignee = patch.assigned_user
      if (assignee !== undefined) {
        // A reassignment is checked against the task first: 404 before 403 or 400, as for any other update.
        const [current] = actor.role === 'admin'
          ? await readForAdmin.execute({ id: taskId })
          : await readForUser.execute({ id: taskId, actor: actor.id })
        if (current === undefined) throw notFound(NOT_FOUND)
        if (assignee === current.assignedUser) {
          // Not a reassignment: left out, so a user's update never changes the assignee, even one changed since.
          assignee = undefined
        } else {
          if (actor.role !== 'admin') throw forbidden('Only an admin may reassign a task')
          await assertAssignable(db, actor, assignee)
        }
      }
      const [row] = await updateStatement.execute({
        id: taskId,
        admin: actor.role === 'admin',
        actor: actor.id,
        taskName: patch.task_name ?? null,
        setDescription: patch.description !== undefined,
        description: patch.description ?? null,
        priority: patch.priority ?? null,
        date: patch.date ?? null,
        assignedUser: assignee ?? null
      })
      if (row === undefined) throw notFound(NOT_FOUND)
      if (row.changed) await invalidateListsOf(row.before, row.after as NonNullable<typeof row.after>)
      return row.json
    },

    async softDelete (actor: Actor, taskId: number): Promise<void> {
      const row = await db.transaction(async (tx) => {
        await lockVisibleActiveTask(tx, actor, taskId)
        const [deleted] = await tx.update(tasks)
          .set({ isActive: false, version: sql`${tasks.version} + 1`, updatedAt: sql`now()` })
          .where(eq(tasks.id, taskId)).returning()
        await tx.insert(taskAudit).values({
          taskId, action: 'deleted', previousState: { is_active: true }, currentState: { is_active: false }, actionBy: actor.id
        })
        return deleted as TaskRow
      })
      await invalidateListsOf(row)
    },

    /** The audit trail, newest first; deleted tasks keep theirs. */
    async auditLog (actor: Actor, taskId: number): Promise<AuditEntry[]> {
      const [task] = await db.select({ id: tasks.id }).from(tasks).where(and(eq(tasks.id, taskId), visibleTo(actor)))
      if (task === undefined) throw notFound(NOT_FOUND)
      const rows = await db.select().from(taskAudit).where(eq(taskAudit.taskId, taskId)).orderBy(desc(taskAudit.id))
      return rows.map((r) => ({
        id: r.id,
        action: r.action,
        previous_state: r.previousState ?? null,
        current_state: r.currentState,
        action_by: r.actionBy,
        timestamp: r.timestamp.toISOString()
      }))
    }
  }
}

export type TaskService = ReturnType<typeof createTaskService>
