import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Config } from '../src/config.js'
import { waitFor } from './fault-helpers.js'

type Test = { teardown: (fn: () => unknown) => void }
const root = fileURLToPath(new URL('..', import.meta.url))

export interface WorkerProcess {
  child: ChildProcess
  lines: Array<Record<string, unknown>>
  exited: Promise<number | null>
  waitFor: (match: (line: Record<string, unknown>) => boolean, what: string) => Promise<Record<string, unknown>>
}

/** `workers/worker.ts` as its own process (as `npm run worker` runs it), on this test's database, Redis and queue. */
export function spawnWorker (t: Test, config: Config, env: Record<string, string> = {}): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/worker.ts'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATABASE_URL: config.db.url,
      REDIS_URL: config.redis.url,
      REDIS_KEY_PREFIX: config.redis.keyPrefix,
      QUEUE_NAME: config.queueName,
      QUEUE_STALL_INTERVAL_MS: String(config.jobs.stallIntervalMs),
      JOB_RETRIES: String(config.jobs.retries),
      JOB_BACKOFF_MS: String(config.jobs.backoffMs),
      RELAY_INTERVAL_MS: String(config.jobs.relayIntervalMs),
      IMPORT_BATCH_SIZE: String(config.imports.batchSize),
      QUEUE_CONCURRENCY: '1',
      ...env
    }
  })
  const lines: Array<Record<string, unknown>> = []
  let buffered = ''
  child.stdout?.on('data', (data: Buffer) => {
    buffered += data.toString()
    const parts = buffered.split('\n')
    buffered = parts.pop() ?? ''
    for (const part of parts) {
      try { lines.push(JSON.parse(part)) } catch { lines.push({ msg: part }) }
    }
  })
  child.stderr?.on('data', (data: Buffer) => { lines.push({ stderr: data.toString() }) })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code) }))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  return {
    child,
    lines,
    exited,
    async waitFor (match, what) {
      let found: Record<string, unknown> | undefined
      await waitFor(what, () => (found = lines.find(match)) !== undefined, 120_000)
      return found as Record<string, unknown>
    }
  }
}
