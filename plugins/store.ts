import fp from 'fastify-plugin'
import { createServices, type Services } from '../src/services.js'
import { openDatabase, type Db } from '../src/store/database.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Db
    store: Services['store']
    revocations: Services['revocations']
    sessions: Services['sessions']
    accounts: Services['accounts']
  }
}

// Opens DATABASE_URL, migrates it, builds the domain over it, and closes it with the server.
export default fp(async function store (fastify) {
  const db = await openDatabase(fastify.config.DATABASE_URL)
  fastify.addHook('onClose', async () => { await db.destroy() })
  const services = createServices(db, fastify.config)
  fastify.decorate('db', db)
  fastify.decorate('store', services.store)
  fastify.decorate('revocations', services.revocations)
  fastify.decorate('sessions', services.sessions)
  fastify.decorate('accounts', services.accounts)
}, { name: 'store', dependencies: ['env'] })
