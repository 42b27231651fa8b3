import fp from 'fastify-plugin'
import { Accounts } from '../src/accounts.js'
import { hasherFromConfig } from '../src/passwords.js'

declare module 'fastify' {
  interface FastifyInstance { accounts: Accounts }
}

export default fp(async function accounts (fastify) {
  fastify.decorate('accounts', new Accounts(fastify.store.users, hasherFromConfig(fastify.config)))
}, { name: 'accounts', dependencies: ['env', 'store'] })
