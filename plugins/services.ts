import fp from 'fastify-plugin'
import { createServices, type Services } from '../src/services.js'
import { connectDatabase, databaseOptions, type Db } from '../src/store/database.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Db
    store: Services['store']
    revocations: Services['revocations']
    sessions: Services['sessions']
    accounts: Services['accounts']
    keys: Services['keys']
    passwordHasher: Services['hasher']
    clock: () => number // the one clock of the service (epoch ms); tests move it
  }
}

// Connects to DATABASE_URL (lazily: nothing is asked of the database here), builds the domain over it,
// and closes it with the server. Bringing the schema up to date is the first start-up step.
export interface ServicesOptions {
  // Tests drive time (key rotation, session expiry) through this; production uses the wall clock.
  clock?: () => number
}

export default fp<ServicesOptions>(async function services (fastify, opts) {
  const store = await connectDatabase(fastify.config.DATABASE_URL, databaseOptions(fastify.config,
    (notice) => fastify.log[notice.level](notice.path ? { path: notice.path } : {}, notice.message)))
  const db = store.db
  fastify.readiness.step('store', () => store.open())
  fastify.addHook('onClose', async () => { await db.destroy() })
  const clock = opts.clock ?? Date.now
  const domain = createServices(db, fastify.config, clock, (message) => fastify.log.warn(message))
  fastify.decorate('clock', clock)
  fastify.decorate('db', db)
  fastify.decorate('store', domain.store)
  fastify.decorate('revocations', domain.revocations)
  fastify.decorate('sessions', domain.sessions)
  fastify.decorate('accounts', domain.accounts)
  fastify.decorate('keys', domain.keys)
  fastify.decorate('passwordHasher', domain.hasher)
}, { name: 'services', dependencies: ['env', 'readiness'] })
