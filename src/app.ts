import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import autoload from '@fastify/autoload'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from './config.js'
import { createValidatorCompiler } from './validation.js'

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url))

export function serverOptions (config: Config): FastifyServerOptions {
  return {
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    trustProxy: config.trustProxy,
    bodyLimit: config.bodyLimit,
    requestTimeout: config.requestTimeoutMs,
    // Let in-flight requests finish on shutdown, drop idle keep-alive sockets, refuse new ones with 503.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Start-up includes migrations and, embedded, compiling PGlite's WebAssembly: over a minute on a busy 2-core host.
    pluginTimeout: 300_000,
    routerOptions: { ignoreTrailingSlash: true }
  }
}

/** Builds the whole API for a config: the infrastructure plugins, then every route folder. Listens nowhere. */
export async function buildApp (config: Config, options: FastifyServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ ...serverOptions(config), ...options }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(createValidatorCompiler())
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
