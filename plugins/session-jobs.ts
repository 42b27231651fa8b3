import fp from 'fastify-plugin'
import { every } from '../src/support/periodic.js'

// Background work for sessions: the refresh-token successor key loaded at start-up, and every
// SESSION_PURGE_INTERVAL (and once at start-up) ended sessions and unusable refresh tokens purged.
export default fp(async function sessionJobs (fastify) {
  const { SESSION_PURGE_INTERVAL } = fastify.config
  const purge = async () => {
    const purged = await fastify.sessions.purge()
    if (purged.sessions || purged.refreshTokens) fastify.log.info(purged, 'purged ended sessions and unusable refresh tokens')
  }
  let stop: (() => void) | undefined
  fastify.readiness.step('sessions', async () => {
    await fastify.sessions.loadSecrets()
    await purge()
    stop ??= every(SESSION_PURGE_INTERVAL, purge, (err) => fastify.log.error({ err }, 'session purge failed'))
  })
  fastify.addHook('onClose', async () => { stop?.() })
}, { name: 'session-jobs', dependencies: ['env', 'readiness', 'services'] })
