import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import type { Config } from '../config.js'
import * as schema from './schema.js'

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0]

export interface DatabaseHandle {
  db: Database
  /** 'postgres' for a real server at DATABASE_URL, 'pglite' for the embedded default. */
  kind: 'postgres' | 'pglite'
  migrate: () => Promise<void>
  close: () => Promise<void>
}

const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url))

// Serialises migrations when several processes start at once against one database.
const MIGRATION_LOCK_ID = 7_220_301

export async function openDatabase (config: Config['db']): Promise<DatabaseHandle> {
  return config.url !== undefined ? await openPostgres(config.url, config) : await openPglite(config.pgliteDataDir)
}

async function openPostgres (url: string, config: Config['db']): Promise<DatabaseHandle> {
  const { default: postgres } = await import('postgres')
  const { drizzle } = await import('drizzle-orm/postgres-js')
  const { migrate } = await import('drizzle-orm/postgres-js/migrator')
  const client = postgres(url, {
    max: config.poolMax,
    connect_timeout: config.connectTimeoutS,
    idle_timeout: 60,
    onnotice: () => {},
    connection: {
      application_name: 'task-management-api',
      statement_timeout: config.statementTimeoutMs
    }
  })
  const db = drizzle(client, { schema }) as unknown as Database
  return {
    db,
    kind: 'postgres',
    migrate: async () => {
      const lockConnection = await client.reserve()
      try {
        await lockConnection`select pg_advisory_lock(${MIGRATION_LOCK_ID})`
        await migrate(drizzle(client, { schema }), { migrationsFolder })
      } finally {
        await lockConnection`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`
        lockConnection.release()
      }
    },
    close: async () => { await client.end({ timeout: 5 }) }
  }
}

async function openPglite (dataDir: string): Promise<DatabaseHandle> {
  const { PGlite } = await import('@electric-sql/pglite')
  const { drizzle } = await import('drizzle-orm/pglite')
  const { migrate } = await import('drizzle-orm/pglite/migrator')
  // 'memory://' keeps the embedded database in memory (used by tests); anything else is a folder on disk.
  if (!dataDir.startsWith('memory://')) await mkdir(dataDir, { recursive: true })
  const client = new PGlite(dataDir)
  await client.waitReady
  const pglite = drizzle(client, { schema })
  return {
    db: pglite as unknown as Database,
    kind: 'pglite',
    migrate: async () => { await migrate(pglite, { migrationsFolder }) },
    close: async () => { await client.close() }
  }
}

/** Round trip to the database; resolves to the latency in milliseconds. */
export async function pingDatabase (db: Database): Promise<number> {
  const started = performance.now()
  await db.execute(sql`select 1`)
  return Math.round((performance.now() - started) * 100) / 100
}
