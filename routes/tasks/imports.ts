import multipart from '@fastify/multipart'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../../src/schemas/common.js'
import { HttpError, badRequest, forbidden, notFound } from '../../src/errors.js'
import { CsvFileError } from '../../src/imports/csv.js'
import { ImportAccepted, ImportIdParams, ImportStatus, UploadCsvBody } from '../../src/imports/schemas.js'
import { acceptImport, getImportStatus } from '../../src/imports/service.js'
import type { Actor } from '../../src/tasks/service.js'
import { findUser } from '../../src/users/service.js'

const security = [{ bearerAuth: [] }]

// What browsers, curl and spreadsheet programs send for a .csv file; octet-stream and text/plain only with a .csv name.
const CSV_TYPES = new Set(['text/csv', 'application/csv', 'text/x-csv', 'application/x-csv', 'application/vnd.ms-excel'])
const GENERIC_TYPES = new Set(['application/octet-stream', 'text/plain'])
const unsupported = (message: string): HttpError => new HttpError(415, message)

function assertCsvPart (mimetype: string, filename: string): void {
  const type = mimetype.split(';')[0]?.trim().toLowerCase() ?? ''
  if (CSV_TYPES.has(type)) return
  if (GENERIC_TYPES.has(type) && /\.csv$/i.test(filename)) return
  throw unsupported(`The file must be a CSV (text/csv or a .csv file), not ${type === '' ? 'an unknown type' : type}`)
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function assertText (file: Buffer): void {
  if (file.includes(0)) throw unsupported('The file is binary, not a CSV text file')
  try {
    utf8.decode(file)
  } catch {
    throw unsupported('The file is not UTF-8 text')
  }
}

/** CSV bulk import: the upload is stored and answered at once; the worker imports the rows. Admins only. */
const imports: FastifyPluginAsyncTypebox = async (fastify) => {
  const { config, db } = fastify
  // Registered here, not app-wide: no other route accepts multipart bodies.
  await fastify.register(multipart, {
    limits: { fileSize: config.imports.maxBytes, files: 1, fields: 10, parts: 20, fieldSize: 1024 }
  })
  // Admin actions re-read the role from the database: a demoted admin's token (or its cached state) is not enough.
  const adminOf = async (request: { actor: Actor | null }): Promise<Actor> => {
    const actor = request.actor as Actor
    if (actor.role !== 'admin' || (await findUser(db, actor.id))?.role !== 'admin') {
      throw forbidden('Only an admin may import tasks')
    }
    return actor
  }

  fastify.post('/upload-csv', {
    // Document the multipart body for clients and SDKs; a `body` schema on the route itself would make
    // Fastify validate (and so buffer) the stream that the handler reads part by part.
    config: { swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, body: UploadCsvBody }, url }) },
    schema: {
      operationId: 'uploadTasksCsv',
      tags: ['imports'],
      summary: 'Import tasks from a CSV file (admin)',
      description: [
        'multipart/form-data with the file in the field `file` (text/csv, or any .csv file name), UTF-8, at most',
        `IMPORT_MAX_BYTES (${config.imports.maxBytes} bytes). Header row, any order and case: task_name, priority,`,
        'created_at, assigned_user (required), description, status (optional). The file is stored and answered',
        'with 202 at once; a worker imports the rows. Follow it with GET /tasks/imports/{import_id}.',
        '400: no usable header, no data rows, not valid CSV; 413: too large; 415: not a CSV file or not multipart.'
      ].join(' '),
      consumes: ['multipart/form-data'],
      security,
      response: { 202: ImportAccepted, ...errorResponses(400, 401, 403, 413, 415, 429, 503) }
    }
  }, async (request, reply) => {
    const actor = await adminOf(request)
    if (!request.isMultipart()) throw unsupported('Send the file as multipart/form-data in the field "file"')
    const part = await request.file()
    if (part === undefined || part.fieldname !== 'file') throw badRequest('The multipart body needs the CSV file in the field "file"')
    assertCsvPart(part.mimetype, part.filename)
    // At most IMPORT_MAX_BYTES; past that toBuffer throws a 413.
    const file = await part.toBuffer()
    assertText(file)

    let accepted
    try {
      accepted = await acceptImport(db, { actorId: actor.id, fileName: part.filename, file })
    } catch (error) {
      if (error instanceof CsvFileError) throw badRequest(error.message)
      throw error
    }
    // Recorded first, enqueued second: if Redis cannot take the job now, the relay enqueues it later.
    try {
      await fastify.jobs.enqueue('csv-import', { importId: accepted.id }, { jobId: accepted.id })
    } catch (err) {
      request.log.warn({ err, importId: accepted.id }, 'import recorded but not enqueued yet: the relay will enqueue it')
    }
    return await reply.code(202).header('location', `/tasks/imports/${accepted.id}`)
      .send({ import_id: accepted.id, status: 'queued', total_rows: accepted.totalRows })
  })

  fastify.get('/imports/:import_id', {
    schema: {
      operationId: 'getImport',
      tags: ['imports'],
      summary: 'Progress and outcome of a CSV import (admin)',
      description: 'Live while it runs: processed_rows of total_rows, tasks imported so far, and each refused row with its reason.',
      security,
      params: ImportIdParams,
      response: { 200: ImportStatus, ...errorResponses(400, 401, 403, 404, 429, 503) }
    }
  }, async (request) => {
    await adminOf(request)
    const status = await getImportStatus(db, request.params.import_id)
    if (status === undefined) throw notFound('Import not found')
    return status
  })
}

export default imports
