import fp from 'fastify-plugin'
import { every } from '../src/periodic.js'

// Background work for sessions: revocations made by other processes (the CLI, other instances) reach this
// process's revocation list within REVOCATION_SYNC_INTERVAL, and ended sessions and spent refresh tokens
// are purged every SESSION_PURGE_INTERVAL. Both run once at start too.
export default fp(async function sessionJobs (fastify) {
  const { REVOCATION_SYNC_INTERVAL, SESSION_PURGE_INTERVAL } = fastify.config
  await fastify.sessions.loadSecrets()
  let since = await fastify.sessions.syncRevocations()
  const purge = async () => {
    const purged = await fastify.sessions.purge()
    if (purged.sessions || purged.refreshTokens) fastify.log.info(purged, 'purged ended sessions and unusable refresh tokens')
  }
  await purge()
  const stops = [
    every(REVOCATION_SYNC_INTERVAL, async () => { since = await fastify.sessions.syncRevocations(since) },
      (err) => fastify.log.error({ err }, 'revocation sync failed')),
    every(SESSION_PURGE_INTERVAL, purge, (err) => fastify.log.error({ err }, 'session purge failed'))
  ]
  fastify.addHook('onClose', async () => { for (const stop of stops) stop() })
}, { name: 'session-jobs', dependencies: ['env', 'store'] })
