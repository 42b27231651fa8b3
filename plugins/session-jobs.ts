import fp from 'fastify-plugin'
import { CHANGE_RETENTION_MS } from '../src/changes.js'
import { every } from '../src/periodic.js'

// Background work for sessions: the refresh-token successor key loaded at start-up, and every
// SESSION_PURGE_INTERVAL (and once at start-up) ended sessions, unusable refresh tokens and old entries of
// the change log purged.
export default fp(async function sessionJobs (fastify) {
  const { SESSION_PURGE_INTERVAL } = fastify.config
  const purge = async () => {
    const purged = await fastify.sessions.purge()
    const changes = await fastify.store.changes.purge(new Date(fastify.clock() - CHANGE_RETENTION_MS).toISOString())
    if (purged.sessions || purged.refreshTokens || changes) fastify.log.info({ ...purged, changes }, 'purged ended sessions, unusable refresh tokens and old changes')
  }
  let stop: (() => void) | undefined
  fastify.readiness.step('sessions', async () => {
    await fastify.sessions.loadSecrets()
    await purge()
    stop ??= every(SESSION_PURGE_INTERVAL, purge, (err) => fastify.log.error({ err }, 'session purge failed'))
  })
  fastify.addHook('onClose', async () => { stop?.() })
}, { name: 'session-jobs', dependencies: ['env', 'readiness', 'store', 'bootstrap'] })
