import { loadConfig } from '../config.js'
import { openDatabase } from './client.js'

/** `npm run db:migrate`: applies the committed migrations to DATABASE_URL (or the embedded PGlite). */
const database = await openDatabase(loadConfig().db)
try {
  await database.migrate()
  console.log(`migrations applied (${database.kind})`)
} finally {
  await database.close()
}
