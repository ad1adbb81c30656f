import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { createConfig, lintFromString } from '@redocly/openapi-core'
import { documentText } from '../src/openapi/document.js'
import { build } from './helper.js'
import { COMMITTED_DOCUMENT_PATH, listOperations, readCommittedDocument, requiresBearer } from './openapi.js'

const app = await build(t)
const served = await app.inject({ method: 'GET', url: '/openapi.json' })
const committed = await readCommittedDocument()

/** The JSON pointer of the first place two documents differ, to say where, not just that. */
function firstDifference (a: unknown, b: unknown, pointer = ''): string | undefined {
  if (a === b) return undefined
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) {
    return pointer === '' ? '/' : pointer
  }
  const keysA = Object.keys(a)
  const keysB = Object.keys(b)
  for (const key of new Set([...keysA, ...keysB])) {
    const here = firstDifference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key],
      `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`)
    if (here !== undefined) return here
  }
  if (keysA.join('\0') !== keysB.join('\0')) return `${pointer === '' ? '/' : pointer} (key order)`
  return undefined
}

await t.test('the served document is the committed openapi.json, byte for byte', async (t) => {
  t.equal(served.statusCode, 200)
  t.match(served.headers['content-type'], /^application\/json/)
  const servedText = documentText(served.json())
  const where = firstDifference(served.json(), committed.document)
  t.ok(servedText === committed.text,
    `openapi.json is current${where !== undefined ? ` (it is NOT: first difference at ${where})` : ''}; ` +
    'after changing a route, run npm run openapi, then npm run sdk, and commit both')
})

await t.test('the committed document passes Redocly lint with the recommended rules', async (t) => {
  const config = await createConfig({
    extends: ['recommended'],
    // A private service: there is no licence to state.
    rules: { 'info-license': 'off' }
  })
  // Health checks take no input and are never rate limited: 200 or 503 is all they can answer.
  const accepted = [
    { ruleId: 'operation-4xx-response', pointer: '#/paths/~1api~1health~1db/get/responses' },
    { ruleId: 'operation-4xx-response', pointer: '#/paths/~1api~1health~1redis/get/responses' }
  ]
  const problems = (await lintFromString({ source: committed.text, absoluteRef: COMMITTED_DOCUMENT_PATH, config }))
    .filter((p) => !accepted.some((a) => a.ruleId === p.ruleId && p.location.some((l) => l.pointer === a.pointer)))
    .map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location.map((l) => l.pointer).join(', ')}`)
  t.same(problems, [], 'Redocly reports no problems (fix the route schema that the pointer names)')
})

await t.test('every operation is named, tagged, summarised and answers errors in the shared shape', async (t) => {
  const declaredTags = new Set(((committed.document.tags ?? []) as Array<{ name: string }>).map((tag) => tag.name))
  const operations = listOperations(committed.document)
  t.ok(operations.length > 0)
  for (const operation of operations) {
    const name = `${operation.method.toUpperCase()} ${operation.path}`
    const raw = operation as unknown as { summary?: string, tags?: string[] }
    t.match(operation.operationId, /^[a-z][A-Za-z0-9]+$/, `${name} has a camelCase operationId`)
    t.ok(raw.summary !== undefined && raw.summary !== '', `${name} has a summary`)
    t.ok(raw.tags !== undefined && raw.tags.length > 0 && raw.tags.every((tag) => declaredTags.has(tag)),
      `${name} has tags declared at the top of the document (plugins/swagger.ts)`)
    t.ok(Object.keys(operation.responses).some((status) => status.startsWith('2')), `${name} documents its success`)
    if (requiresBearer(operation)) t.ok(operation.responses['401'] !== undefined, `${name} needs a token, so documents 401`)
    if (operation.requestBody !== undefined) {
      for (const status of ['400', '413', '415']) t.ok(operation.responses[status] !== undefined, `${name} takes a body, so documents ${status}`)
    }
    for (const [status, response] of Object.entries(operation.responses)) {
      // Health checks answer 503 with their own {status: "error"}, which load balancers read.
      if (Number(status) < 400 || operation.path.startsWith('/api/health/')) continue
      t.same(response.content?.['application/json']?.schema, { $ref: '#/components/schemas/ErrorResponse' },
        `${name} answers ${status} in the shared error shape`)
    }
  }
})

/** Every METHOD path the app routes, from Fastify's route tree (children print their path relative to the parent). */
function servedRoutes (tree: string): string[] {
  const routes: string[] = []
  const parents: string[] = []
  for (const line of tree.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (\S+) \(([A-Z, ]+)\)$/.exec(line)
    if (match === null) continue
    const depth = (match[1] ?? '').length / 4
    const path = (parents[depth - 1] ?? '') + (match[2] ?? '')
    parents[depth] = path
    for (const method of (match[3] ?? '').split(', ')) routes.push(`${method} ${path}`)
  }
  return routes
}

await t.test('every route the app serves is in the document, except the document and its UI', async (t) => {
  const documented = new Set(listOperations(served.json()).map((o) => `${o.method.toUpperCase()} ${o.path}`))
  const routes = servedRoutes(app.printRoutes({ commonPrefix: false }))
    // HEAD mirrors GET and OPTIONS answers CORS preflights: neither is an operation of its own.
    .filter((route) => !/^(HEAD|OPTIONS) /.test(route) && !/^GET \/(docs|openapi\.json)/.test(route))
    .map((route) => route.replace(/:([A-Za-z0-9_]+)/g, '{$1}'))
  t.ok(routes.length >= documented.size, 'the route tree was read')
  for (const route of routes) {
    t.ok(documented.has(route), `${route} is documented (a route must not be hidden with schema.hide)`)
  }
})

await t.test('the committed SDK types are what openapi-typescript makes of the committed document', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sdk-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const output = join(dir, 'schema.ts')
  const cli = fileURLToPath(new URL('../node_modules/openapi-typescript/bin/cli.js', import.meta.url))
  await promisify(execFile)(process.execPath, [cli, COMMITTED_DOCUMENT_PATH, '--output', output])
  const committedSdk = await readFile(new URL('../sdk/schema.ts', import.meta.url), 'utf8')
  t.ok(await readFile(output, 'utf8') === committedSdk, 'sdk/schema.ts is current; after npm run openapi, run npm run sdk and commit it')
})
