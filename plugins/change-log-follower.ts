import fp from 'fastify-plugin'
import { CHANGE_RETENTION_MS, ChangeLogFollower } from '../src/sync/change-log-follower.js'
import { HintPaths, PostgresHints, RedisHints, type HintPath } from '../src/sync/hints.js'
import { onceAMinute } from '../src/support/log-throttle.js'
import { every } from '../src/support/periodic.js'
import { isPostgresUrl } from '../src/store/database.js'

// Keeps what this process holds in memory (the revocation list, the key ring) in step with the store, for
// changes made anywhere: this process, another instance, the CLI. It follows the store's change log by
// cursor, told when to look by hints (PostgreSQL's LISTEN/NOTIFY on PostgreSQL, and Redis pub/sub with
// REDIS_URL, both at once when there are both: see HintPaths), and looks every REVOCATION_SYNC_INTERVAL
// anyway (the only way with SQLite, and the floor whatever happens to hints). After a lost hint
// connection comes back, it catches up at once. The instance is ready only while it has caught up
// recently; a hint path that does not work leaves it ready (the others, or polling, carry the news) and
// is named in readiness's `degraded`, unless none works and polling is slower than a few seconds. Entries
// older than CHANGE_RETENTION_MS are purged at start-up and every SESSION_PURGE_INTERVAL.
export default fp(async function changeLogFollower (fastify) {
  const { REVOCATION_SYNC_INTERVAL, SESSION_PURGE_INTERVAL, REDIS_URL, REDIS_PREFIX, DATABASE_URL } = fastify.config
  const follower = new ChangeLogFollower(fastify.store.changes, {
    revoked: (revoked) => fastify.sessions.markRevoked(revoked),
    signingKeysChanged: () => fastify.keys.refresh(),
    reload: async () => {
      await fastify.sessions.loadRevocations()
      await fastify.keys.refresh()
    }
  })

  // While the store is unreachable every poll fails: a warning a minute, with the reason, is enough.
  const onError = onceAMinute((_suppressed, err: unknown) => {
    fastify.log.warn({ reason: (err as Error).message }, 'cannot read the change log (retrying every poll)')
  })
  const report = (level: 'info' | 'warn', message: string) => fastify.log[level](message)
  const paths: HintPath[] = []
  if (isPostgresUrl(DATABASE_URL)) paths.push(new PostgresHints(DATABASE_URL))
  if (REDIS_URL !== undefined) paths.push(await RedisHints.create(REDIS_URL, REDIS_PREFIX, report))
  const hints = paths.length > 0 ? new HintPaths(paths, REVOCATION_SYNC_INTERVAL, report) : undefined
  const purge = async () => {
    const changes = await fastify.store.changes.purge(new Date(fastify.clock() - CHANGE_RETENTION_MS).toISOString())
    if (changes) fastify.log.info({ changes }, 'purged old entries of the change log')
  }
  let stop: (() => void) | undefined
  let stopPurges: (() => void) | undefined
  let unpublish: (() => void) | undefined
  fastify.readiness.step('change-feed', async () => {
    await follower.catchUp() // the first one loads everything
    await purge()
    stopPurges ??= every(SESSION_PURGE_INTERVAL, purge, (err) => fastify.log.error({ err }, 'change log purge failed'))
    if (stop) return
    // A hint, or a hint connection back after a gap: read the log from the cursor. The log is in the
    // store, so whatever the gap missed is there; an instance that fell too far behind reloads.
    hints?.start(() => { follower.catchUp().catch(onError) })
    unpublish = hints && fastify.store.changes.onCommitted(() => hints.publish())
    stop = every(REVOCATION_SYNC_INTERVAL, async () => {
      await follower.catchUp()
      fastify.sessions.pruneRevocations()
    }, onError)
  })
  // Behind by more than a few polls (the store unreachable): what it believes may be stale.
  const behindLimitMs = Math.max(5000, 3 * REVOCATION_SYNC_INTERVAL * 1000)
  // Sooner (a second) when a read has failed since: a hint may have said there is news it cannot read.
  fastify.readiness.check(() => follower.behindMs > behindLimitMs || (follower.failing && follower.behindMs > 1000)
    ? `the change feed is behind: last caught up ${Math.round(follower.behindMs / 1000)} s ago`
    : undefined)
  // No hint path working and polling slow (REVOCATION_SYNC_INTERVAL above POLLING_ENOUGH_SECONDS): a
  // revocation made elsewhere may go unheard for that long.
  fastify.readiness.check(() => hints?.unready())
  fastify.readiness.degradation(() => hints?.degraded() ?? [])
  fastify.addHook('onClose', async () => {
    stop?.()
    stopPurges?.()
    unpublish?.()
    await hints?.close()
  })
}, { name: 'change-log-follower', dependencies: ['env', 'readiness', 'services'] })
