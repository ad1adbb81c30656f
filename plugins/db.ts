import fp from 'fastify-plugin'
import { openDatabase, type Database } from '../src/db/client.js'
import { ensureBootstrapAdmin } from '../src/users/service.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
    dbKind: 'postgres' | 'pglite'
  }
}

/** Opens PostgreSQL (or embedded PGlite), applies the committed migrations and creates the configured first admin. */
export default fp(async (fastify) => {
  const { config } = fastify
  const handle = await openDatabase(config.db)
  fastify.addHook('onClose', async () => { await handle.close() })
  await handle.migrate()

  if (config.bootstrapAdmin !== undefined) {
    const created = await ensureBootstrapAdmin(handle.db, fastify.passwords, config.bootstrapAdmin)
    if (created) fastify.log.info({ username: config.bootstrapAdmin.username }, 'created the first admin from ADMIN_USERNAME')
  }

  fastify.decorate('db', handle.db)
  fastify.decorate('dbKind', handle.kind)
}, { name: 'db', dependencies: ['config', 'passwords'] })
