import fp from 'fastify-plugin'

// Background work for sessions: revocations made by other processes (the CLI, other instances) reach this
// process's revocation list within REVOCATION_SYNC_INTERVAL, and ended sessions and spent refresh tokens
// are purged every SESSION_PURGE_INTERVAL. Both run once at start too.
export default fp(async function sessionJobs (fastify) {
  const { REVOCATION_SYNC_INTERVAL, SESSION_PURGE_INTERVAL, ACCESS_TOKEN_TTL } = fastify.config
  let since = await fastify.sessions.syncRevocations(0)

  const sync = async () => {
    try {
      since = await fastify.sessions.syncRevocations(since)
    } catch (err) {
      fastify.log.error({ err }, 'revocation sync failed')
    }
  }
  const purge = async () => {
    try {
      const purged = await fastify.sessions.purge(ACCESS_TOKEN_TTL)
      if (purged.sessions || purged.refreshTokens) fastify.log.info(purged, 'purged ended sessions and unusable refresh tokens')
    } catch (err) {
      fastify.log.error({ err }, 'session purge failed')
    }
  }
  await purge()
  const timers = [setInterval(sync, REVOCATION_SYNC_INTERVAL * 1000), setInterval(purge, SESSION_PURGE_INTERVAL * 1000)]
  for (const timer of timers) timer.unref()
  fastify.addHook('onClose', async () => { for (const timer of timers) clearInterval(timer) })
}, { name: 'session-jobs', dependencies: ['env', 'store'] })
