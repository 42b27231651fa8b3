import fp from 'fastify-plugin'
import { every } from '../src/periodic.js'

// The key ring's upkeep: loaded (the first key created) at start, re-read every REVOCATION_SYNC_INTERVAL
// so that rotations by the CLI or another instance arrive, rotated every KEY_ROTATION_INTERVAL when set,
// and rid of retired keys.
export default fp(async function keys (fastify) {
  const { REVOCATION_SYNC_INTERVAL, KEY_ROTATION_INTERVAL } = fastify.config
  await fastify.keys.refresh()
  const stop = every(REVOCATION_SYNC_INTERVAL, async () => {
    await fastify.keys.refresh()
    const purged = await fastify.keys.purgeRetired()
    if (purged.length > 0) fastify.log.info({ kids: purged }, 'deleted retired signing keys')
    if (KEY_ROTATION_INTERVAL > 0 && fastify.keys.dueForRotation(KEY_ROTATION_INTERVAL)) {
      const key = await fastify.keys.rotate()
      fastify.log.info({ kid: key.kid, activatesAt: new Date(key.activatesAt).toISOString() }, 'scheduled key rotation')
    }
  }, (err) => fastify.log.error({ err }, 'signing key upkeep failed'))
  fastify.addHook('onClose', async () => { stop() })
}, { name: 'keys', dependencies: ['env', 'store'] })
