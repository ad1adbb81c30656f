import { Type, type Static } from '@sinclair/typebox'
import { Nullable } from '../schemas/common.js'

export const ImportState = Type.Union(
  [Type.Literal('queued'), Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')],
  { description: 'queued: accepted, waiting for a worker; running: rows being imported; done; failed: see reason' }
)

/**
 * The upload as the document describes it. Only documentation: the route reads the multipart stream itself
 * (request.file()), so Fastify never validates a body against this.
 */
export const UploadCsvBody = Type.Object({
  file: Type.String({ format: 'binary', contentMediaType: 'text/csv', description: 'The CSV file (UTF-8, header row first)' })
})

export const ImportAccepted = Type.Object({
  import_id: Type.String({ format: 'uuid' }),
  status: Type.Literal('queued'),
  total_rows: Type.Integer({ description: 'Data rows in the file (the header and blank lines not counted)' })
})

export const ImportRowError = Type.Object({
  row: Type.Integer({ description: 'The row as a spreadsheet numbers it: the header is row 1, the first data row 2' }),
  message: Type.String()
})

export const ImportStatus = Type.Object({
  import_id: Type.String({ format: 'uuid' }),
  status: ImportState,
  total_rows: Type.Integer(),
  processed_rows: Type.Integer({ description: 'Data rows handled so far, imported or refused' }),
  imported: Type.Integer({ description: 'Tasks created (active or not)' }),
  error_count: Type.Integer({ description: 'Rows refused; `errors` lists the first 1000 of them' }),
  errors: Type.Array(ImportRowError),
  reason: Nullable(Type.String({ description: 'Why a failed import failed' })),
  created_at: Type.String({ format: 'date-time' }),
  finished_at: Nullable(Type.String({ format: 'date-time' }))
}, { title: 'ImportStatus' })
export type ImportStatus = Static<typeof ImportStatus>

export const ImportIdParams = Type.Object({ import_id: Type.String({ format: 'uuid' }) })
