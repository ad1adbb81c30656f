import { Ajv, type Options } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifySchemaCompiler } from 'fastify'

function buildAjv (coerceTypes: Options['coerceTypes']): Ajv {
  const ajv = new Ajv({
    coerceTypes,
    useDefaults: true,
    // Unknown properties are refused with 400 (schemas say additionalProperties: false), never silently dropped.
    removeAdditional: false,
    allErrors: false,
    strict: false
  })
  addFormats.default(ajv)
  return ajv
}

/**
 * JSON bodies are validated as sent: a number is not a task name. Params, query strings and headers
 * arrive as text, so those are coerced to the types their schemas declare.
 */
export function createValidatorCompiler (): FastifySchemaCompiler<unknown> {
  const strict = buildAjv(false)
  const coercing = buildAjv('array')
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema as object)
}
