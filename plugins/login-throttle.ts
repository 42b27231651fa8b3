import fp from 'fastify-plugin'
import { throttled } from '../src/hints.js'
import { LoginThrottle, MemoryThrottleStore, RedisThrottleStore } from '../src/login-throttle.js'

declare module 'fastify' {
  interface FastifyInstance {
    loginThrottle: LoginThrottle
  }
}

// The per-account login throttle (src/login-throttle.ts), counted in Redis when REDIS_URL is set (shared
// by every instance; this instance's own counters while Redis is down) and in memory otherwise.
export default fp(async function loginThrottle (fastify) {
  const c = fastify.config
  const memory = new MemoryThrottleStore()
  const report = throttled((level, message) => fastify.log[level](message))
  const store = fastify.redis
    ? new RedisThrottleStore(fastify.redis, c.REDIS_PREFIX, memory,
      (reason) => report('warn', `login throttle: Redis unavailable (${reason}); counting on this instance alone until it is back`))
    : memory
  fastify.decorate('loginThrottle', new LoginThrottle(store, {
    freeFailures: c.LOGIN_THROTTLE_FREE_FAILURES,
    accountFailures: c.LOGIN_THROTTLE_ACCOUNT_FAILURES,
    baseWaitMs: c.LOGIN_THROTTLE_BASE_WAIT * 1000,
    maxWaitMs: c.LOGIN_THROTTLE_MAX_WAIT * 1000,
    windowMs: c.LOGIN_THROTTLE_WINDOW * 1000,
    maxKeys: c.LOGIN_THROTTLE_MAX_KEYS
  }, fastify.clock))
}, { name: 'login-throttle', dependencies: ['env', 'store', 'redis'] })
