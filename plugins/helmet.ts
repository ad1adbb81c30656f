import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

const OPTIONS: Readonly<HelmetOptions> = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] }
  },
  // Cross-origin isolation headers are for documents; CORS (plugins/cors.ts) governs who may call the API.
  crossOriginEmbedderPolicy: false,
  crossOriginOpenerPolicy: false,
  crossOriginResourcePolicy: { policy: 'same-site' },
  // Headers that only mean something to a browser rendering a document (DNS prefetching of its links, IE8's
  // download prompt, Flash/PDF cross-domain policies, the legacy XSS auditor, origin-keyed agent clusters) are
  // not sent: the API answers JSON, and OWASP's REST Security Cheat Sheet lists them as not relevant for APIs.
  // Each costs every response its bytes and the client its parsing (bench/README.md).
  dnsPrefetchControl: false,
  ieNoOpen: false,
  permittedCrossDomainPolicies: false,
  xXssProtection: false,
  originAgentCluster: false
}

/** The headers helmet sets with these options: none of them depends on the request, so they are computed once. */
export function securityHeaders (options: Readonly<HelmetOptions> = OPTIONS): Record<string, string> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader (name: string, value: unknown) { headers[name.toLowerCase()] = String(value) },
    removeHeader (name: string) { Reflect.deleteProperty(headers, name.toLowerCase()) }
  }
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, () => {})
  return headers
}

/**
 * Security headers on every response (helmet's choice of headers). The API answers JSON only, so its content
 * security policy allows nothing to load or frame it; the /docs UI sends its own, wider policy
 * (@fastify/swagger-ui's staticCSP, set later, in onSend) for its own scripts and styles.
 * Not @fastify/helmet: it builds a new helmet middleware, parsing the policy again, for every request
 * (~5% of a cached read's CPU in the profile, bench/README.md); the headers are the same for every request.
 */
export default fp(async (fastify) => {
  const headers = Object.entries(securityHeaders())
  fastify.addHook('onRequest', (_request, reply, done) => {
    for (const [name, value] of headers) reply.header(name, value)
    done()
  })
}, { name: 'helmet', dependencies: ['config'] })
