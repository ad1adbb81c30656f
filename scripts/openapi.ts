/**
 * npm run openapi: writes the OpenAPI document the API serves at /openapi.json to ./openapi.json.
 *
 * The document depends on the routes' schemas only, so the app is built without listening and without Redis
 * (in-process stand-ins). It uses PostgreSQL at DATABASE_URL when that is set (about 2 s; the app applies its
 * migrations there, as `npm start` would), otherwise an in-memory PGlite that needs nothing installed and
 * leaves nothing behind (slower: it compiles PGlite's WebAssembly first).
 */
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { documentText } from '../src/openapi/document.js'

const target = fileURLToPath(new URL('../openapi.json', import.meta.url))

const app = await buildApp(loadConfig({
  NODE_ENV: 'test',
  LOG_LEVEL: 'warn',
  DATABASE_URL: process.env.DATABASE_URL,
  PGLITE_DATA_DIR: 'memory://'
}))
try {
  const response = await app.inject({ method: 'GET', url: '/openapi.json' })
  if (response.statusCode !== 200) throw new Error(`GET /openapi.json answered ${response.statusCode}: ${response.body}`)
  await writeFile(target, documentText(response.json()))
  console.log(`wrote ${target}`)
} finally {
  await app.close()
}
