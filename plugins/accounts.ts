import fp from 'fastify-plugin'
import { Accounts } from '../src/accounts.js'
import { PasswordHasher } from '../src/passwords.js'

declare module 'fastify' {
  interface FastifyInstance { accounts: Accounts }
}

export default fp(async function accounts (fastify) {
  const { ARGON2_MEMORY_KIB, ARGON2_TIME_COST, ARGON2_PARALLELISM } = fastify.config
  const hasher = new PasswordHasher({ memoryCost: ARGON2_MEMORY_KIB, timeCost: ARGON2_TIME_COST, parallelism: ARGON2_PARALLELISM })
  fastify.decorate('accounts', new Accounts(fastify.store.users, hasher))
}, { name: 'accounts', dependencies: ['env', 'store'] })
