import fp from 'fastify-plugin'
import { openDatabase, type Db } from '../src/store/database.js'
import { SigningKeyStore } from '../src/store/signing-keys.js'
import { UserStore } from '../src/store/users.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Db
    store: { users: UserStore, signingKeys: SigningKeyStore }
  }
}

// Opens DATABASE_URL, migrates it, and closes it with the server.
export default fp(async function store (fastify) {
  const db = await openDatabase(fastify.config.DATABASE_URL)
  fastify.decorate('db', db)
  fastify.decorate('store', { users: new UserStore(db), signingKeys: new SigningKeyStore(db) })
  fastify.addHook('onClose', async () => { await db.destroy() })
}, { name: 'store', dependencies: ['env'] })
