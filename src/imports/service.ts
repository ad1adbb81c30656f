import { randomUUID } from 'node:crypto'
import { and, asc, count, eq, inArray, sql } from 'drizzle-orm'
import type { Database, Transaction } from '../db/client.js'
import {
  taskAudit, taskImportChunks, taskImportErrors, taskImports, tasks, users, type TaskRow
} from '../db/schema.js'
import type { TaskListCache } from '../cache/task-list-cache.js'
import { toTask } from '../tasks/service.js'
import { countDataRows, CsvFileError, readCsv, slices, validateRow, type CsvRecord, type Header } from './csv.js'
import type { ImportStatus } from './schemas.js'

/** Stored pieces of an upload: large enough to keep the row count low, small enough to read one at a time. */
const CHUNK_BYTES = 512 * 1024
/** At most this many row errors are returned by the status route (all are stored; error_count says how many). */
export const MAX_REPORTED_ERRORS = 1000

export interface AcceptedImport { id: string, totalRows: number }

/**
 * Records an upload: checks it is a CSV with a usable header, counts its data rows, and stores the import
 * and the file in one transaction. Throws CsvFileError (a 400 for the client) when the file is unusable.
 */
export async function acceptImport (
  db: Database,
  input: { actorId: number, fileName: string | null, file: Buffer }
): Promise<AcceptedImport> {
  const totalRows = await countDataRows(input.file)
  if (totalRows === 0) throw new CsvFileError('The file has a header but no data rows')
  const id = randomUUID()
  await db.transaction(async (tx) => {
    await tx.insert(taskImports).values({
      id, totalRows, fileName: input.fileName?.slice(0, 255) ?? null, fileBytes: input.file.length, createdBy: input.actorId
    })
    let seq = 0
    for (const piece of slices(input.file, CHUNK_BYTES)) {
      await tx.insert(taskImportChunks).values({ importId: id, seq: seq++, data: piece })
    }
  })
  return { id, totalRows }
}

export async function getImportStatus (db: Database, id: string): Promise<ImportStatus | undefined> {
  const [row] = await db.select().from(taskImports).where(eq(taskImports.id, id))
  if (row === undefined) return undefined
  const [errors, [total]] = await Promise.all([
    db.select({ row: taskImportErrors.row, message: taskImportErrors.message }).from(taskImportErrors)
      .where(eq(taskImportErrors.importId, id)).orderBy(asc(taskImportErrors.row)).limit(MAX_REPORTED_ERRORS),
    db.select({ n: count() }).from(taskImportErrors).where(eq(taskImportErrors.importId, id))
  ])
  return {
    import_id: row.id,
    status: row.status,
    total_rows: row.totalRows,
    processed_rows: row.processedRows,
    imported: row.imported,
    error_count: total?.n ?? 0,
    errors,
    reason: row.failureReason,
    created_at: row.createdAt.toISOString(),
    finished_at: row.finishedAt?.toISOString() ?? null
  }
}

/** The stored file, one piece per query, so a worker never holds more than one piece of it. */
async function * storedFile (db: Database, importId: string): AsyncGenerator<Uint8Array> {
  for (let seq = 0; ; seq++) {
    const [chunk] = await db.select({ data: taskImportChunks.data }).from(taskImportChunks)
      .where(and(eq(taskImportChunks.importId, importId), eq(taskImportChunks.seq, seq)))
    if (chunk === undefined) return
    yield chunk.data
  }
}

/** Another run of the same import advanced the checkpoint first (a stalled job that was handed on): this run stops. */
export class ImportTakenOver extends Error {
  override name = 'ImportTakenOver'
}

export interface ImportDeps {
  db: Database
  cache: TaskListCache
  batchSize: number
}

export type ImportOutcome =
  | { outcome: 'done', imported: number, processed: number }
  | { outcome: 'failed', reason: string }
  | { outcome: 'skipped', reason: string }

export async function markImportFailed (db: Database, importId: string, reason: string): Promise<void> {
  await db.update(taskImports)
    .set({ status: 'failed', failureReason: reason.slice(0, 2000), finishedAt: sql`now()`, updatedAt: sql`now()` })
    .where(and(eq(taskImports.id, importId), inArray(taskImports.status, ['queued', 'running'])))
}

/**
 * Imports a stored CSV, resuming after its checkpoint. Each batch is one transaction that inserts the
 * batch's tasks with their "created" audit rows and its row errors, and advances processed_rows only if no
 * other run advanced it meanwhile: however often the job is retried or handed to another worker, each row
 * is imported at most once, and every row once the import is done.
 */
export async function processImport (deps: ImportDeps, importId: string): Promise<ImportOutcome> {
  const { db } = deps
  const [claimed] = await db.update(taskImports)
    .set({ status: 'running', attempts: sql`${taskImports.attempts} + 1`, updatedAt: sql`now()` })
    .where(and(eq(taskImports.id, importId), inArray(taskImports.status, ['queued', 'running'])))
    .returning()
  if (claimed === undefined) return { outcome: 'skipped', reason: 'unknown or already finished import' }

  let checkpoint = claimed.processedRows
  let imported = claimed.imported
  let seen = 0
  let header: Header = {}
  let width = 0
  let batch: CsvRecord[] = []
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return
    imported += await importBatch(deps, { importId, createdBy: claimed.createdBy, header, width, checkpoint, batch })
    checkpoint += batch.length
    batch = []
  }

  try {
    for await (const item of readCsv(storedFile(db, importId))) {
      if ('header' in item) {
        ({ header, width } = item)
        continue
      }
      // Rows before the checkpoint were imported (or refused) by an earlier run.
      if (seen++ < checkpoint) continue
      batch.push(item)
      if (batch.length >= deps.batchSize) await flush()
    }
    await flush()
  } catch (error) {
    if (error instanceof CsvFileError) {
      await markImportFailed(db, importId, error.message)
      return { outcome: 'failed', reason: error.message }
    }
    throw error
  }

  await db.transaction(async (tx) => {
    await tx.update(taskImports)
      .set({ status: 'done', finishedAt: sql`now()`, updatedAt: sql`now()` })
      .where(and(eq(taskImports.id, importId), eq(taskImports.processedRows, checkpoint), eq(taskImports.status, 'running')))
    // The rows are in the tasks now; the file has served its purpose.
    await tx.delete(taskImportChunks).where(eq(taskImportChunks.importId, importId))
  })
  return { outcome: 'done', imported, processed: checkpoint }
}

interface Batch {
  importId: string
  createdBy: number
  header: Header
  width: number
  /** processed_rows as this run believes it to be: the batch commits only if it still is. */
  checkpoint: number
  batch: CsvRecord[]
}

/** One batch in one transaction; resolves to the number of tasks it inserted. */
async function importBatch ({ db, cache }: ImportDeps, b: Batch): Promise<number> {
  const checked = b.batch.map((r) => ({ row: r.row, result: validateRow(b.header, b.width, r.fields) }))
  const usernames = [...new Set(checked.flatMap((c) => 'error' in c.result ? [] : [c.result.assignedUsername]))]

  const inserted = await db.transaction(async (tx: Transaction) => {
    const [current] = await tx.select({ processed: taskImports.processedRows, status: taskImports.status })
      .from(taskImports).where(eq(taskImports.id, b.importId)).for('update')
    if (current?.status !== 'running' || current.processed !== b.checkpoint) {
      throw new ImportTakenOver(`import ${b.importId} moved on to row ${current?.processed ?? '?'} elsewhere`)
    }
    const found = usernames.length === 0
      ? []
      : await tx.select({ id: users.id, username: users.username }).from(users).where(inArray(users.username, usernames))
    const userIds = new Map(found.map((u) => [u.username, u.id]))

    const errors: Array<{ importId: string, row: number, message: string }> = []
    const values: Array<typeof tasks.$inferInsert> = []
    for (const { row, result } of checked) {
      if ('error' in result) {
        errors.push({ importId: b.importId, row, message: result.error })
        continue
      }
      const assignee = userIds.get(result.assignedUsername)
      if (assignee === undefined) {
        errors.push({ importId: b.importId, row, message: `assigned_user ${JSON.stringify(result.assignedUsername)} does not exist` })
        continue
      }
      values.push({
        taskName: result.taskName,
        description: result.description,
        priority: result.priority,
        date: result.date,
        assignedUser: assignee,
        isActive: result.isActive,
        createdBy: b.createdBy
      })
    }

    const rows: TaskRow[] = values.length === 0 ? [] : await tx.insert(tasks).values(values).returning()
    if (rows.length > 0) {
      await tx.insert(taskAudit).values(rows.map((task) => ({
        taskId: task.id, action: 'created' as const, previousState: null, currentState: toTask(task), actionBy: b.createdBy
      })))
    }
    if (errors.length > 0) await tx.insert(taskImportErrors).values(errors).onConflictDoNothing()
    await tx.update(taskImports).set({
      processedRows: b.checkpoint + b.batch.length,
      imported: sql`${taskImports.imported} + ${rows.length}`,
      updatedAt: sql`now()`
    }).where(eq(taskImports.id, b.importId))
    // Also before the commit: a cache that cannot be invalidated rolls the batch back (the retry redoes it).
    await invalidateListsOf(cache, rows)
    return rows
  })
  // After the commit, so no reader refills a list from before it.
  await invalidateListsOf(cache, inserted)
  return inserted.length
}

/** Every cached list by date that now holds one of these tasks: per date, the admin view and its users' views. */
async function invalidateListsOf (cache: TaskListCache, rows: TaskRow[]): Promise<void> {
  const usersByDate = new Map<string, Set<number>>()
  for (const row of rows) {
    if (!row.isActive) continue
    const ids = usersByDate.get(row.date) ?? new Set<number>()
    ids.add(row.createdBy).add(row.assignedUser)
    usersByDate.set(row.date, ids)
  }
  await Promise.all([...usersByDate].map(async ([date, ids]) => {
    await cache.invalidate({ dates: [date], userIds: [...ids] })
  }))
}
