import { fileURLToPath } from 'node:url'
import type { Server } from 'node:http'
import Fastify, { type FastifyHttpOptions, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify'
import autoload from '@fastify/autoload'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from './config.js'
import { createValidatorCompiler } from './validation.js'
import { gracefulShutdown } from './shutdown.js'
import { errorBody } from './errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Drains open connections with `Connection: close` (up to drainMs, health checks 503), then stops accepting and closes. */
    shutdown: (drainMs: number) => Promise<void>
  }
}

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url))

export function serverOptions (config: Config): FastifyHttpOptions<Server> {
  return {
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    trustProxy: config.trustProxy,
    bodyLimit: config.bodyLimit,
    // Slow clients: the whole request within REQUEST_TIMEOUT_MS, its headers within HEADERS_TIMEOUT_MS
    // (slowloris), checked every second rather than Node's default 30 s; oversized headers get 431.
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: {
      maxHeaderSize: config.maxHeaderBytes,
      headersTimeout: config.requestTimeoutMs > 0 ? Math.min(config.headersTimeoutMs, config.requestTimeoutMs) : config.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs)
    },
    // Let in-flight requests finish on shutdown, drop idle keep-alive sockets, refuse new ones with 503.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Start-up includes migrations and, embedded, compiling PGlite's WebAssembly: over a minute on a busy 2-core host.
    pluginTimeout: 300_000,
    routerOptions: { ignoreTrailingSlash: true },
    // A URL the router cannot decode, or a path parameter over its length limit, is the client's bad
    // input: 400 in the one error shape (Fastify's own answers differ in shape, and 414 for the latter).
    frameworkErrors: (error, _request, reply) => {
      const invalidUrl = error.code === 'FST_ERR_BAD_URL' || error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      const statusCode = invalidUrl ? 400 : 500
      const answer: FastifyReply = reply
      answer.code(statusCode).send(errorBody(statusCode, invalidUrl ? 'Invalid URL' : 'Internal Server Error'))
    }
  }
}

/** Builds the whole API for a config: the infrastructure plugins, then every route folder. Listens nowhere. */
export async function buildApp (config: Config, options: FastifyServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ ...serverOptions(config), ...options }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(createValidatorCompiler())
  // First, so that its onSend hook covers every route.
  app.decorate('shutdown', gracefulShutdown(app))
  // The API speaks JSON only: a text/plain body is refused with 415 rather than validated as a string.
  app.removeContentTypeParser('text/plain')

  await app.register(autoload, {
    dir: here('../plugins'),
    options: { config },
    forceESM: true
  })
  await app.register(autoload, {
    dir: here('../routes'),
    autoHooks: true,
    cascadeHooks: true,
    forceESM: true
  })
  return app
}
