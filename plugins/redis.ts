import type { Redis } from 'ioredis'
import fp from 'fastify-plugin'
import { throttled } from '../src/support/log-throttle.js'

declare module 'fastify' {
  interface FastifyInstance {
    // A command connection to REDIS_URL, shared by whatever keeps counters there (rate limits, the login
    // throttle); undefined without REDIS_URL. Commands fail at once while it is down (no offline queue), so
    // callers decide what an outage means for them; the connection is retried in the background.
    redis: Redis | undefined
  }
}

export default fp(async function redis (fastify) {
  const { REDIS_URL } = fastify.config
  if (REDIS_URL === undefined) {
    fastify.decorate('redis', undefined)
    return
  }
  // Loaded only where REDIS_URL is set: an instance without Redis never holds ioredis (as pg, only for a
  // PostgreSQL store: src/store/database.ts).
  const { Redis } = await import('ioredis')
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectionName: 'auth-service-counters',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 5000,
    commandTimeout: 1000,
    retryStrategy: (times: number) => Math.min(times * 200, 2000)
  })
  // Never the URL (it may hold a password): the error's own message names host and port at most.
  const report = throttled((level, message) => fastify.log[level](message))
  client.on('error', (err: Error) => report('warn', `Redis (counters): ${err.message}`))
  client.connect().catch(() => {}) // retried by retryStrategy; reported through 'error'
  fastify.decorate('redis', client)
  fastify.addHook('onClose', async () => { client.disconnect() })
}, { name: 'redis', dependencies: ['env'] })
