import { Type, type TSchema, type Static } from '@sinclair/typebox'

/** The one error shape every route answers with. */
export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  message: Type.String(),
  details: Type.Optional(Type.Array(Type.Object({
    field: Type.String(),
    message: Type.String()
  })))
}, { $id: 'ErrorResponse', title: 'Error' })
export type ErrorResponse = Static<typeof ErrorResponse>

const STATUS_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input',
  401: 'Missing, invalid or expired bearer token',
  403: 'Not allowed for this user',
  404: 'Not found',
  409: 'Conflicts with existing data',
  413: 'Request body too large',
  415: 'Unsupported content type',
  429: 'Rate limit exceeded',
  503: 'A dependency is unavailable'
}

/** Response schemas for the error statuses a route can send, all in the shared error shape. */
export function errorResponses<const Codes extends readonly number[]> (...codes: Codes): Record<Codes[number], typeof ErrorResponse> {
  const responses: Record<number, TSchema> = {}
  for (const code of codes) {
    responses[code] = Type.Ref(ErrorResponse, { description: STATUS_DESCRIPTIONS[code] ?? 'Error' })
  }
  return responses as Record<Codes[number], typeof ErrorResponse>
}

/** A nullable value as OpenAPI 3.1 and fast-json-stringify both read it best: a type array, not anyOf. */
export function Nullable<T extends TSchema> (schema: T): ReturnType<typeof Type.Unsafe<Static<T> | null>> {
  const { type, ...rest } = schema as unknown as { type: string } & Record<string, unknown>
  return Type.Unsafe<Static<T> | null>({ ...rest, type: [type, 'null'] })
}

/** A calendar day, YYYY-MM-DD, years 1000-9999; the `date` format rejects days that do not exist (2025-02-30). */
export const CalendarDate = Type.String({
  format: 'date',
  pattern: '^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}$',
  description: 'A calendar day, YYYY-MM-DD',
  examples: ['2025-04-06']
})

/** Database ids are 32-bit integers; anything larger cannot exist and must not reach a query. */
export const Id = Type.Integer({ minimum: 1, maximum: 2_147_483_647 })

export const MessageResponse = Type.Object({ message: Type.String() })
