import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { HTTP_METHODS, type OpenApiDocument } from '../src/openapi/document.js'

export const COMMITTED_DOCUMENT_PATH = fileURLToPath(new URL('../openapi.json', import.meta.url))

export async function readCommittedDocument (): Promise<{ text: string, document: OpenApiDocument }> {
  const text = await readFile(COMMITTED_DOCUMENT_PATH, 'utf8')
  return { text, document: JSON.parse(text) as OpenApiDocument }
}

export interface DocumentedResponse {
  description: string
  content?: Record<string, { schema?: object }>
}

export interface Operation {
  operationId: string
  method: string
  path: string
  security?: Array<Record<string, string[]>>
  requestBody?: unknown
  responses: Record<string, DocumentedResponse>
}

/** Every operation of a document, in its path order. */
export function listOperations (document: OpenApiDocument): Operation[] {
  const operations: Operation[] = []
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of HTTP_METHODS) {
      const operation = item[method] as Omit<Operation, 'method' | 'path'> | undefined
      if (operation !== undefined) operations.push({ ...operation, method, path })
    }
  }
  return operations
}

/** True when calling the operation needs a bearer token (no alternative without one). */
export function requiresBearer (operation: Operation): boolean {
  const security = operation.security ?? []
  return security.length > 0 && security.every((requirement) => 'bearerAuth' in requirement)
}

/** A URL matches an operation's path template ({param} is one segment). */
export function matchesPath (operation: Operation, url: string): boolean {
  const pattern = operation.path.split(/\{[^}]+\}/).map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')).join('[^/?]+')
  return new RegExp(`^${pattern}(\\?.*)?$`).test(url)
}

/** The documented response for a status: exact code first, then a range such as 4XX, then default. */
export function documentedResponse (operation: Operation, status: number): DocumentedResponse | undefined {
  return operation.responses[String(status)] ?? operation.responses[`${String(status)[0] ?? ''}XX`] ?? operation.responses.default
}

const COMPONENTS_ID = 'https://openapi.invalid/components'

function pointRefsAtComponents (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(pointRefsAtComponents)
  if (node === null || typeof node !== 'object') return node
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [
    key,
    key === '$ref' && typeof value === 'string' && value.startsWith('#/components/schemas/')
      ? `${COMPONENTS_ID}#/$defs/${value.slice('#/components/schemas/'.length)}`
      : pointRefsAtComponents(value)
  ]))
}

/**
 * Validates bodies against the document's schemas as OpenAPI 3.1 reads them: JSON Schema 2020-12, with the
 * formats asserted (date, date-time...), and strict, so a keyword no validator knows fails rather than passing.
 */
export function createSchemaValidator (document: OpenApiDocument): (schema: object) => ValidateFunction {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false })
  addFormats.default(ajv)
  // OpenAPI's own schema keywords: annotations, nothing to validate.
  ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs'])
  ajv.addSchema({ $id: COMPONENTS_ID, $defs: pointRefsAtComponents(document.components?.schemas ?? {}) as object })
  const compiled = new Map<object, ValidateFunction>()
  return (schema) => {
    let validate = compiled.get(schema)
    if (validate === undefined) {
      validate = ajv.compile(pointRefsAtComponents(schema) as object)
      compiled.set(schema, validate)
    }
    return validate
  }
}
