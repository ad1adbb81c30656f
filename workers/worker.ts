import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { ConfigError, loadConfig } from '../src/config.js'
import { startWorker } from '../src/jobs/worker.js'

const GRACE_MS = 30_000

/** `npm run worker`: the Bee-Queue worker process. SIGTERM finishes (or releases) the jobs in hand, then exits. */
async function main (): Promise<void> {
  const config = loadConfig()
  const log = pino({ level: config.logLevel, name: 'worker' })
  const worker = await startWorker(config, log)
  closeWithGrace({ delay: GRACE_MS }, async ({ signal, err }) => {
    if (err !== undefined) log.error({ err }, 'closing after an error')
    else log.info({ signal }, 'shutting down: finishing the jobs in hand')
    await worker.close(GRACE_MS - 5000)
    log.info('worker stopped')
  })
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error)
  process.exit(1)
})
