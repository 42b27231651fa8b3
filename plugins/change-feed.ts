import fp from 'fastify-plugin'
import { ChangeFollower } from '../src/changes.js'
import { PostgresHints, RedisHints, type Hints } from '../src/hints.js'
import { every } from '../src/periodic.js'
import { isPostgresUrl } from '../src/store/database.js'

declare module 'fastify' {
  interface FastifyInstance {
    changeFeed: ChangeFollower
  }
}

// Keeps what this process holds in memory (the revocation list, the key ring) in step with the store, for
// changes made anywhere: this process, another instance, the CLI. It follows the store's change log by
// cursor, told when to look by hints (Redis pub/sub with REDIS_URL, PostgreSQL's LISTEN/NOTIFY without),
// and looks every REVOCATION_SYNC_INTERVAL anyway (the only way with SQLite, and the fallback while a
// hint connection is down). After a lost hint connection comes back, it catches up at once.
export default fp(async function changeFeed (fastify) {
  const { REVOCATION_SYNC_INTERVAL, REDIS_URL, REDIS_PREFIX, DATABASE_URL } = fastify.config
  const follower = new ChangeFollower(fastify.store.changes, {
    revoked: (revoked) => fastify.sessions.markRevoked(revoked),
    signingKeysChanged: () => fastify.keys.refresh(),
    reload: async () => {
      await fastify.sessions.loadRevocations()
      await fastify.keys.refresh()
    }
  }, fastify.clock)
  fastify.decorate('changeFeed', follower)
  await follower.catchUp() // the first one loads everything

  const onError = (err: unknown) => fastify.log.error({ err }, 'following the change log failed')
  const report = (level: 'info' | 'warn', message: string) => fastify.log[level](message)
  const hints: Hints | undefined = REDIS_URL !== undefined
    ? new RedisHints(REDIS_URL, REDIS_PREFIX, report)
    : isPostgresUrl(DATABASE_URL) ? new PostgresHints(DATABASE_URL, report) : undefined
  // A hint, or a hint connection back after a gap: read the log from the cursor. The log is in the store,
  // so whatever the gap missed is there; an instance that fell too far behind reloads (ChangeFollower).
  const catchUp = () => { follower.catchUp().catch(onError) }
  hints?.start(catchUp, catchUp)
  const unpublish = hints && fastify.store.changes.onCommitted(() => hints.publish())
  const stop = every(REVOCATION_SYNC_INTERVAL, async () => {
    await follower.catchUp()
    fastify.sessions.pruneRevocations()
  }, onError)
  fastify.addHook('onClose', async () => {
    stop()
    unpublish?.()
    await hints?.close()
  })
}, { name: 'change-feed', dependencies: ['env', 'store', 'keys'] })
