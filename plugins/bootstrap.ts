import fp from 'fastify-plugin'
import { bootstrapAdmin } from '../src/accounts/bootstrap.js'

// Creates the first administrator at start-up when there is none (see src/accounts/bootstrap.ts for the rules).
export default fp(async function bootstrap (fastify) {
  const { ADMIN_USERNAME, ADMIN_PASSWORD, ADMIN_PASSWORD_FILE } = fastify.config
  fastify.readiness.step('bootstrap', async () => {
    const result = await bootstrapAdmin(fastify.accounts, {
      username: ADMIN_USERNAME,
      password: ADMIN_PASSWORD,
      passwordFile: ADMIN_PASSWORD_FILE,
      report: (notice) => fastify.log[notice.level]({ path: notice.path }, notice.message)
    })
    if (result.action === 'created') {
      fastify.audit.record('admin_created', { userId: result.userId, actor: 'service', reason: result.passwordFile ? 'random-password' : 'admin-password' })
      fastify.log.warn({ username: result.username, passwordFile: result.passwordFile },
        result.passwordFile
          ? `created user "${result.username}" with a random password; read it from ${result.passwordFile}, then change it`
          : `created user "${result.username}" from ADMIN_USERNAME and ADMIN_PASSWORD`)
    }
  })
}, { name: 'bootstrap', dependencies: ['env', 'readiness', 'services', 'audit'] })
