import { Readable } from 'node:stream'
import { parse, type Options } from 'csv-parse'
import type { Priority } from '../tasks/schemas.js'

/**
 * The one set of parser options, used both when an upload is accepted (to count its rows) and when the
 * worker imports it: the same bytes then always yield the same records, so row numbers and the
 * processed_rows checkpoint mean the same thing to both.
 */
const PARSER_OPTIONS: Options = {
  bom: true,
  // A row with too few or too many fields is reported as that row's error, not a failure of the file.
  relax_column_count: true,
  // Blank lines are kept so that every record is one spreadsheet row; they are skipped, not counted.
  skip_empty_lines: false
}

export const COLUMNS = ['task_name', 'description', 'status', 'priority', 'created_at', 'assigned_user'] as const
export type Column = typeof COLUMNS[number]
const REQUIRED: readonly Column[] = ['task_name', 'priority', 'created_at', 'assigned_user']

/** Where each known column sits in a record. */
export type Header = Partial<Record<Column, number>>

/** A file the service refuses as a whole: no usable header, not CSV. Its message is for the client. */
export class CsvFileError extends Error {
  override name = 'CsvFileError'
}

/** Reads the header row: names in any order and case; every required column present, no unknown or repeated one. */
export function parseHeader (fields: string[]): Header {
  const header: Header = {}
  const unknown: string[] = []
  fields.forEach((raw, index) => {
    const name = raw.trim().toLowerCase()
    if (!(COLUMNS as readonly string[]).includes(name)) {
      unknown.push(raw.trim())
      return
    }
    if (header[name as Column] !== undefined) throw new CsvFileError(`Column ${name} appears twice in the header`)
    header[name as Column] = index
  })
  const missing = REQUIRED.filter((c) => header[c] === undefined)
  if (missing.length > 0) {
    throw new CsvFileError(`The header row lacks the column(s) ${missing.join(', ')} (it needs ${REQUIRED.join(', ')}; description and status are optional)`)
  }
  if (unknown.length > 0) throw new CsvFileError(`Unknown column(s) in the header: ${unknown.join(', ')} (allowed: ${COLUMNS.join(', ')})`)
  return header
}

export function isBlank (fields: string[]): boolean {
  return fields.every((f) => f.trim() === '')
}

/** A data record with its spreadsheet row number (the header is row 1). */
export interface CsvRecord { row: number, fields: string[] }

/**
 * Streams a CSV source record by record: the header first (as a CsvFileError if unusable), then each
 * non-blank data row. Memory stays at one piece of the file plus the parser's current record.
 */
export async function * readCsv (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<
  { header: Header, width: number } | CsvRecord
> {
  const parser = Readable.from(source).pipe(parse(PARSER_OPTIONS))
  let rowNumber = 0
  let headerSeen = false
  try {
    for await (const fields of parser as AsyncIterable<string[]>) {
      rowNumber++
      if (!headerSeen) {
        // Blank lines before the header are rows too, as a spreadsheet shows them.
        if (isBlank(fields)) continue
        headerSeen = true
        yield { header: parseHeader(fields), width: fields.length }
        continue
      }
      if (isBlank(fields)) continue
      yield { row: rowNumber, fields }
    }
  } catch (error) {
    if (error instanceof CsvFileError) throw error
    // csv-parse describes the input (an unclosed quote at line N), never our internals.
    if ((error as { code?: unknown }).code !== undefined && typeof (error as { code?: unknown }).code === 'string' &&
      ((error as { code: string }).code).startsWith('CSV_')) {
      throw new CsvFileError(`Not a valid CSV file: ${(error as Error).message}`)
    }
    throw error
  }
  if (!headerSeen) throw new CsvFileError('The file is empty: it needs a header row (task_name, priority, created_at, assigned_user, ...)')
}

/** Counts the data rows of an uploaded file, checking its header and its CSV syntax on the way. */
export async function countDataRows (file: Buffer): Promise<number> {
  let rows = 0
  for await (const item of readCsv(slices(file))) if ('row' in item) rows++
  return rows
}

/** Hands a buffer to the parser in pieces, so a large file is parsed without one long synchronous stretch. */
export function * slices (buffer: Buffer, size = 64 * 1024): Generator<Buffer> {
  for (let start = 0; start < buffer.length; start += size) yield buffer.subarray(start, start + size)
}

// ---- one row's values ----

const PRIORITIES: Record<string, Priority> = {
  LOW: 'LOW', MEDIUM: 'MEDIUM', MED: 'MEDIUM', HIGH: 'HIGH', CRITICAL: 'CRITICAL', CRIT: 'CRITICAL', URGENT: 'CRITICAL'
}
const ACTIVE = new Set(['TRUE', 'YES', 'Y', '1', 'ACTIVE'])
const INACTIVE = new Set(['FALSE', 'NO', 'N', '0', 'INACTIVE'])

/** A calendar day as YYYY-MM-DD, or null when these numbers are not a real day (years 1000-9999). */
function calendarDay (year: number, month: number, day: number): string | null {
  if (year < 1000 || year > 9999 || month < 1 || month > 12 || day < 1) return null
  const moment = new Date(Date.UTC(year, month - 1, day))
  if (moment.getUTCMonth() !== month - 1 || moment.getUTCDate() !== day) return null
  return `${String(year)}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`
}

/**
 * YYYY-MM-DD, DD-MM-YYYY, MM/DD/YYYY or DD/MM/YYYY. With slashes, a date that reads as a real day both
 * ways (04/06/2025) is refused as ambiguous rather than guessed; one real reading (13/04/2025) is taken.
 */
export function parseTaskDate (text: string): string | { error: string } {
  let m = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(text)
  if (m !== null) return calendarDay(Number(m[1]), Number(m[2]), Number(m[3])) ?? { error: `created_at ${text} is not a real day` }
  m = /^(\d{1,2})-(\d{1,2})-(\d{4})$/.exec(text)
  if (m !== null) return calendarDay(Number(m[3]), Number(m[2]), Number(m[1])) ?? { error: `created_at ${text} is not a real day (DD-MM-YYYY)` }
  m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(text)
  if (m !== null) {
    const [a, b, year] = [Number(m[1]), Number(m[2]), Number(m[3])]
    const monthFirst = calendarDay(year, a, b)
    const dayFirst = calendarDay(year, b, a)
    if (monthFirst !== null && dayFirst !== null && monthFirst !== dayFirst) {
      return { error: `created_at ${text} is ambiguous: it could be MM/DD/YYYY or DD/MM/YYYY (use YYYY-MM-DD)` }
    }
    return monthFirst ?? dayFirst ?? { error: `created_at ${text} is not a real day` }
  }
  return { error: `created_at ${JSON.stringify(text)} is not a date (YYYY-MM-DD, MM/DD/YYYY, DD-MM-YYYY or DD/MM/YYYY)` }
}

/** A row's values once checked; the assignee is still a username, resolved against the users table by batch. */
export interface RowValues {
  taskName: string
  description: string | null
  isActive: boolean
  priority: Priority
  date: string
  assignedUsername: string
}

const MAX_TASK_NAME = 255
const MAX_DESCRIPTION = 5000

/** Checks one data row: its values, or every problem found, in one message. */
export function validateRow (header: Header, width: number, fields: string[]): RowValues | { error: string } {
  if (fields.length !== width) return { error: `has ${fields.length} fields, the header has ${width}` }
  const at = (column: Column): string | undefined => {
    const index = header[column]
    return index === undefined ? undefined : fields[index]
  }
  const problems: string[] = []

  const taskName = (at('task_name') ?? '').trim()
  if (taskName === '') problems.push('task_name is empty')
  else if (taskName.length > MAX_TASK_NAME) problems.push(`task_name is longer than ${MAX_TASK_NAME} characters`)

  const rawDescription = at('description')
  const description = rawDescription === undefined || rawDescription.trim() === '' ? null : rawDescription.trim()
  if (description !== null && description.length > MAX_DESCRIPTION) problems.push(`description is longer than ${MAX_DESCRIPTION} characters`)
  if (taskName.includes('\u0000') || (description ?? '').includes('\u0000')) problems.push('text contains a NUL character')

  // Without a status column every task is active; with one, each value must say which.
  const rawStatus = at('status')
  let isActive = true
  if (rawStatus !== undefined) {
    const status = rawStatus.trim().toUpperCase()
    if (ACTIVE.has(status)) isActive = true
    else if (INACTIVE.has(status)) isActive = false
    else problems.push(status === '' ? 'status is empty' : `status ${JSON.stringify(rawStatus.trim())} is not TRUE/YES/Y/1/ACTIVE or FALSE/NO/N/0/INACTIVE`)
  }

  const rawPriority = (at('priority') ?? '').trim()
  const priority = PRIORITIES[rawPriority.toUpperCase()]
  if (priority === undefined) {
    problems.push(rawPriority === '' ? 'priority is empty' : `priority ${JSON.stringify(rawPriority)} is not LOW, MEDIUM, HIGH or CRITICAL`)
  }

  const rawDate = (at('created_at') ?? '').trim()
  const date = rawDate === '' ? { error: 'created_at is empty' } : parseTaskDate(rawDate)
  if (typeof date !== 'string') problems.push(date.error)

  const assignedUsername = (at('assigned_user') ?? '').trim()
  if (assignedUsername === '') problems.push('assigned_user is empty')

  if (problems.length > 0 || priority === undefined || typeof date !== 'string') return { error: problems.join('; ') }
  return { taskName, description, isActive, priority, date, assignedUsername }
}
