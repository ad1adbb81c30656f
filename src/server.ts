import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'

/** The only place that listens: starts the API and drains it on SIGTERM/SIGINT. */
async function main (): Promise<void> {
  const config = loadConfig()
  const app = await buildApp(config)
  app.log.info({
    database: app.dbKind === 'postgres' ? 'postgres (DATABASE_URL)' : `pglite (embedded, ${config.db.pgliteDataDir})`,
    redis: config.redis.url !== undefined ? 'redis (REDIS_URL)' : 'in-process cache, limiter and jobs (REDIS_URL unset)'
  }, 'backends')

  // The drain must end well before close-with-grace gives up (then exit 1).
  closeWithGrace({ delay: config.shutdownDrainMs + 10_000 }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'closing after an error')
    else app.log.info({ signal }, 'shutting down')
    await app.shutdown(config.shutdownDrainMs)
  })

  await app.listen({ host: config.host, port: config.port })
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error)
  process.exit(1)
})
