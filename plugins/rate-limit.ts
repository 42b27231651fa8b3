import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import { MemoryCounters, RedisCounters, type Count, type Counters } from '../src/abuse/counters.js'
import { HttpError } from '../src/http/errors.js'
import { throttled } from '../src/support/log-throttle.js'

declare module 'fastify' {
  interface FastifyInstance {
    // The per-address limits, as route options: a route opts in with `config: { rateLimit:
    // fastify.rateLimits.login }` (every /login/* route takes `login`). Each route counts on its own, unless
    // its options name a `groupId`, which routes then share. Nothing is limited by URL.
    rateLimits: RateLimits
    // The counters in this process's memory (all of them without REDIS_URL; the fallback with it).
    rateLimitCounters: MemoryCounters
  }
}

export interface RateLimits {
  login: RateLimitOptions
  refresh: RateLimitOptions
  signup: RateLimitOptions
  passwordChange: RateLimitOptions
}

// What the plugin gives a store: its options merged with a route's, and which route.
interface StoreOptions { groupId?: string, routeInfo?: { method?: string | string[], url?: string } }
type Callback = (err: Error | null, result?: Count) => void

// @fastify/rate-limit's `store` option: one class, one child per limited route, counting under the route's
// name (or its groupId) and the client's key (its address; an IPv6 address by its /64).
function storeFor (counters: Counters) {
  return class RateLimitStore {
    readonly #bucket: string
    constructor (options: StoreOptions) {
      const { groupId, routeInfo } = options
      this.#bucket = groupId ?? `${String(routeInfo?.method ?? '')}:${routeInfo?.url ?? ''}`
    }

    incr (key: string, callback: Callback, timeWindow: number): void {
      counters.incr(`${this.#bucket}:${key}`, timeWindow).then((count) => callback(null, count), callback)
    }

    child (options: StoreOptions) { return new RateLimitStore(options) }
  }
}

// Per-client-address rate limits (docs/security.md, "Per-address rate limits") on the routes that cost a
// password hash or a write, or that an attacker would hammer: POST /login (and /login/*), POST /token/refresh, POST /signup,
// PUT /me/password. A refusal is 429 with Retry-After (seconds) and the usual error body, and one audit
// event `rate_limited`. Counters are in memory (bounded, least recently used dropped first), or in Redis
// with REDIS_URL (shared by every instance, every key expiring with its window); while Redis is down each
// instance counts in its own memory, with one warning a minute: never no limit, never a 500, never a wait
// beyond the connection's 1 s command timeout.
export default fp(async function rateLimits (fastify) {
  const config = fastify.config
  const memory = new MemoryCounters(config.RATE_LIMIT_MAX_KEYS)
  const warn = throttled((level, message) => fastify.log[level](message))
  const counters: Counters = fastify.redis === undefined
    ? memory
    : new RedisCounters(fastify.redis, `${config.REDIS_PREFIX}rate-limit:`, memory,
      (reason) => warn('warn', `rate limits: Redis is unavailable (${reason}); counting in this instance's memory until it is back`))

  await fastify.register(rateLimit, {
    global: false, // only routes that say so
    store: storeFor(counters) as never, // (the plugin's types want a Fastify route where it passes its options)
    // Once per refused request (the plugin calls it once, then throws what it returns): the audit line, and
    // an error that plugins/error-handling.ts answers with the usual body; the plugin has set Retry-After already.
    errorResponseBuilder (request, context) {
      fastify.auditRequest(request, 'rate_limited', { route: request.routeOptions.url, limit: context.max })
      return new HttpError('rate_limited', `Too many requests; retry in ${context.after}`)
    }
  })

  const window = config.RATE_LIMIT_WINDOW * 1000
  const limit = (max: number): RateLimitOptions => Object.freeze({ max, timeWindow: window })
  fastify.decorate('rateLimits', Object.freeze({
    login: limit(config.RATE_LIMIT_LOGIN),
    refresh: limit(config.RATE_LIMIT_REFRESH),
    signup: limit(config.RATE_LIMIT_SIGNUP),
    passwordChange: limit(config.RATE_LIMIT_PASSWORD_CHANGE)
  }))
  fastify.decorate('rateLimitCounters', memory)
}, { name: 'rate-limit', dependencies: ['env', 'redis', 'audit'] })
