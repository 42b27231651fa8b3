import fp from 'fastify-plugin'
import { every } from '../src/support/periodic.js'

// The key ring's upkeep: loaded (the first key created) at start-up; then every REVOCATION_SYNC_INTERVAL,
// rid of retired keys and, when KEY_ROTATION_INTERVAL is set, rotated once the newest key is that old.
// Keys made or deleted by the CLI or another instance arrive through the change log (plugins/change-log-follower.ts).
export default fp(async function keyUpkeep (fastify) {
  const { REVOCATION_SYNC_INTERVAL, KEY_ROTATION_INTERVAL } = fastify.config
  let stop: (() => void) | undefined
  fastify.readiness.step('keys', async () => {
    await fastify.keys.refresh()
    stop ??= every(REVOCATION_SYNC_INTERVAL, async () => {
      const purged = await fastify.keys.purgeRetired()
      if (purged.length > 0) fastify.log.info({ kids: purged }, 'deleted retired signing keys')
      if (KEY_ROTATION_INTERVAL > 0) {
        const key = await fastify.keys.rotateIfDue(KEY_ROTATION_INTERVAL)
        // fastify.audit is decorated by the audit plugin, registered after this one (its start-up step reads
        // a sealed secret: the signing keys' step must come first, to say which KEY_ENCRYPTION_KEY problem).
        if (key) fastify.audit.record('key_rotated', { kid: key.kid, activatesAt: new Date(key.activatesAt).toISOString(), actor: 'service', reason: 'scheduled' })
      }
    }, (err) => fastify.log.error({ err }, 'signing key upkeep failed'))
  })
  fastify.addHook('onClose', async () => { stop?.() })
}, { name: 'key-upkeep', dependencies: ['env', 'readiness', 'services', 'audit'] })
