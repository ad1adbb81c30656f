/**
 * A typed client for the Task Management API. The types in ./schema.ts are generated from the committed
 * openapi.json (npm run sdk); this file only wires them to openapi-fetch, a ~6 kB fetch wrapper with no
 * code generated per operation, so every path, parameter, body and response is checked by the compiler.
 */
import createClient, { type Client, type Middleware } from 'openapi-fetch'
import type { components, operations, paths } from './schema.js'

export type { components, operations, paths }
export type Task = components['schemas']['Task']
export type User = components['schemas']['User']
export type ErrorResponse = components['schemas']['ErrorResponse']
export type TaskApiClient = Client<paths>

export interface TaskApiClientOptions {
  /** Where the API runs, e.g. http://localhost:3000 */
  baseUrl: string
  /** The bearer token to send, read before each request (so a later login applies); none when it returns undefined. */
  token?: () => string | undefined
  /** A fetch of your own (tests, proxies, retries); the global fetch by default. */
  fetch?: (request: Request) => Promise<Response>
}

export function createTaskApiClient (options: TaskApiClientOptions): TaskApiClient {
  const client = createClient<paths>({ baseUrl: options.baseUrl, ...(options.fetch !== undefined && { fetch: options.fetch }) })
  const { token } = options
  if (token !== undefined) {
    const bearer: Middleware = {
      onRequest ({ request }) {
        const value = token()
        if (value !== undefined) request.headers.set('authorization', `Bearer ${value}`)
        return request
      }
    }
    client.use(bearer)
  }
  return client
}
