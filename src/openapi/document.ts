import { STATUS_CODES } from 'node:http'

/** The parts of an OpenAPI 3.1 document this module reads or rewrites; the rest passes through untouched. */
export interface OpenApiDocument {
  openapi: string
  paths?: Record<string, Record<string, unknown>>
  components?: { schemas?: Record<string, unknown>, [key: string]: unknown }
  [key: string]: unknown
}

interface Operation {
  security?: unknown[]
  responses?: Record<string, { description?: string, [key: string]: unknown }>
  [key: string]: unknown
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const
const TOP_LEVEL_ORDER = ['openapi', 'info', 'servers', 'tags', 'security', 'paths', 'components']

const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

function sortedObject<T> (object: Record<string, T>, compare: (a: string, b: string) => number = byKey): Record<string, T> {
  return Object.fromEntries(Object.keys(object).sort(compare).map((key) => [key, object[key] as T]))
}

/**
 * TypeBox writes a union of literals as anyOf [{type, enum:[one]}...]. Clients, SDK generators and the UI
 * all read one `enum` better, and it validates the same values.
 */
function collapseLiteralUnions (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(collapseLiteralUnions)
  if (node === null || typeof node !== 'object') return node
  const object = Object.fromEntries(Object.entries(node).map(([key, value]) => [key, collapseLiteralUnions(value)]))
  const branches = object.anyOf
  if (!Array.isArray(branches) || branches.length < 2) return object
  const literals = branches.every((b: Record<string, unknown>) =>
    Object.keys(b).length === 2 && typeof b.type === 'string' && b.type === branches[0].type &&
    Array.isArray(b.enum) && b.enum.length === 1)
  if (!literals) return object
  const { anyOf: _anyOf, ...rest } = object
  return { ...rest, type: branches[0].type, enum: branches.map((b: { enum: unknown[] }) => b.enum[0]) }
}

/**
 * Makes the generated document exact and its text stable:
 * - an operation without `security` is public and says so (`security: []`), rather than leaving clients to guess;
 * - a response without a description gets its status text instead of @fastify/swagger's "Default Response";
 * - unions of literals become one `enum`;
 * - paths, methods, responses and component schemas are sorted, so routes registered in any order (or
 *   added by anyone) give the same text and a readable diff. Schema properties keep their declared order.
 */
export function finishDocument (generated: OpenApiDocument): OpenApiDocument {
  const document = collapseLiteralUnions(structuredClone(generated)) as OpenApiDocument

  const paths: Record<string, Record<string, unknown>> = {}
  for (const [path, item] of Object.entries(sortedObject(document.paths ?? {}))) {
    const methods = Object.keys(item).sort((a, b) => HTTP_METHODS.indexOf(a as never) - HTTP_METHODS.indexOf(b as never))
    paths[path] = Object.fromEntries(methods.map((method) => {
      if (!(HTTP_METHODS as readonly string[]).includes(method)) return [method, item[method]]
      const operation = item[method] as Operation
      if (operation.security === undefined) operation.security = []
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (response.description === 'Default Response') response.description = STATUS_CODES[Number(status)] ?? 'Response'
      }
      if (operation.responses !== undefined) operation.responses = sortedObject(operation.responses)
      return [method, operation]
    }))
  }
  document.paths = paths
  if (document.components?.schemas !== undefined) document.components.schemas = sortedObject(document.components.schemas)

  const rank = (key: string): number => {
    const index = TOP_LEVEL_ORDER.indexOf(key)
    return index === -1 ? TOP_LEVEL_ORDER.length : index
  }
  return sortedObject(document, (a, b) => rank(a) - rank(b) || byKey(a, b)) as OpenApiDocument
}

/** The committed text of a document: two-space JSON and a trailing newline. */
export function documentText (document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`
}
