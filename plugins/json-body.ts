import fp from 'fastify-plugin'
import { HttpError } from '../src/errors.js'

/**
 * The deepest nesting in a JSON text, counted on the raw text before it is parsed, stopping as soon as
 * `limit` is passed: a deeply nested body costs a linear scan, never a deep object graph.
 */
export function exceedsJsonDepth (text: string, limit: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) {
      inString = true
    } else if (c === 91 || c === 123) {
      if (++depth > limit) return true
    } else if (c === 93 || c === 125) {
      depth--
    }
  }
  return false
}

/**
 * JSON bodies: Fastify's own parser (prototype-poisoning protection: __proto__ and constructor.prototype
 * keys are refused with 400), behind a nesting limit (JSON_MAX_DEPTH) that answers 400 too.
 */
export default fp(async (fastify) => {
  const { jsonMaxDepth } = fastify.config
  const parse = fastify.getDefaultJsonParser('error', 'error')
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (exceedsJsonDepth(body as string, jsonMaxDepth)) {
      done(new HttpError(400, `JSON body nested deeper than ${jsonMaxDepth} levels`), undefined)
      return
    }
    parse(request, body as string, done)
  })
}, { name: 'json-body', dependencies: ['config'] })
