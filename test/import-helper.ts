import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'

/** A multipart/form-data body holding one file, as curl -F 'file=@name;type=...' sends it. */
export function multipart (content: string | Buffer, options: { filename?: string, type?: string, field?: string } = {}): {
  payload: Buffer, headers: Record<string, string>
} {
  const { filename = 'tasks.csv', type = 'text/csv', field = 'file' } = options
  const boundary = `----test${randomBytes(8).toString('hex')}`
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`),
    Buffer.isBuffer(content) ? content : Buffer.from(content),
    Buffer.from(`\r\n--${boundary}--\r\n`)
  ])
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}

export async function upload (
  app: FastifyInstance, auth: Record<string, string>, content: string | Buffer, options: Parameters<typeof multipart>[1] = {}
): Promise<Awaited<ReturnType<FastifyInstance['inject']>>> {
  const { payload, headers } = multipart(content, options)
  return await app.inject({ method: 'POST', url: '/tasks/upload-csv', payload, headers: { ...auth, ...headers } })
}

export interface ImportStatusBody {
  import_id: string
  status: 'queued' | 'running' | 'done' | 'failed'
  total_rows: number
  processed_rows: number
  imported: number
  error_count: number
  errors: Array<{ row: number, message: string }>
  reason: string | null
}

/** Polls an import until it is done or failed (or the deadline passes); calls `each` with every status seen. */
export async function waitForImport (
  app: FastifyInstance, auth: Record<string, string>, id: string,
  { each, deadlineMs = 120_000, pollMs = 25 }: { each?: (s: ImportStatusBody) => void, deadlineMs?: number, pollMs?: number } = {}
): Promise<ImportStatusBody> {
  const deadline = Date.now() + deadlineMs
  for (;;) {
    const response = await app.inject({ method: 'GET', url: `/tasks/imports/${id}`, headers: auth })
    if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}: ${response.body}`)
    const status = response.json<ImportStatusBody>()
    each?.(status)
    if (status.status === 'done' || status.status === 'failed') return status
    if (Date.now() > deadline) throw new Error(`import ${id} still ${status.status} (${status.processed_rows}/${status.total_rows})`)
    await new Promise((resolve) => setTimeout(resolve, pollMs))
  }
}

/** A CSV of `n` valid rows assigned to `username`, every one on `date`. */
export function bigCsv (n: number, username: string, date = '2025-05-01'): string {
  const lines = ['task_name,description,status,priority,created_at,assigned_user']
  for (let i = 1; i <= n; i++) lines.push(`Task ${i},"row ${i}, bulk",TRUE,${['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'][i % 4] ?? 'LOW'},${date},${username}`)
  return lines.join('\n') + '\n'
}
