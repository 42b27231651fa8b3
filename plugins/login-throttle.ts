import { normalizeIP } from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { TooManyAttemptsError } from '../src/http/errors.js'
import { throttled } from '../src/support/log-throttle.js'
import type { Flow } from '../src/passwords/hash-queue.js'
import { LoginThrottle, MemoryThrottleStore, RedisThrottleStore, type ThrottleKeys } from '../src/abuse/login-throttle.js'

// A password check about to be made for `username` on behalf of `request`: counted by the throttle (or
// refused, 429, without hashing), and placed in the hashing queue by `flow`. It ends in the verdict on the
// credentials, `succeeded()` or `failed()` (a wrong password, an unknown name, a disabled account, the
// credentials changed meanwhile); or, when it reached none (the hashing queue full, the store unavailable,
// any error: a 429, 500 or 503), `takeBack()`, as if it had not been made. The first of the three counts,
// the others do nothing: a route calls takeBack() in a `finally`. For a login and for the current password
// of a password change alike.
export interface PasswordAttempt {
  usernameHash: string
  flow: Flow
  succeeded: () => Promise<void>
  failed: () => Promise<void>
  takeBack: () => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    passwordAttempt: (request: FastifyRequest, username: string) => Promise<PasswordAttempt>
  }
}

// The per-account login throttle (src/abuse/login-throttle.ts), counted in Redis when REDIS_URL is set (shared
// by every instance; this instance's own counters while Redis is down) and in memory otherwise.
export default fp(async function loginThrottle (fastify) {
  const c = fastify.config
  const memory = new MemoryThrottleStore()
  const report = throttled((level, message) => fastify.log[level](message))
  const store = fastify.redis
    ? new RedisThrottleStore(fastify.redis, c.REDIS_PREFIX, memory,
      (reason) => report('warn', `login throttle: Redis unavailable (${reason}); counting on this instance alone until it is back`))
    : memory
  const throttle = new LoginThrottle(store, {
    freeFailures: c.LOGIN_THROTTLE_FREE_FAILURES,
    accountFailures: c.LOGIN_THROTTLE_ACCOUNT_FAILURES,
    baseWaitMs: c.LOGIN_THROTTLE_BASE_WAIT * 1000,
    maxWaitMs: c.LOGIN_THROTTLE_MAX_WAIT * 1000,
    windowMs: c.LOGIN_THROTTLE_WINDOW * 1000,
    maxKeys: c.LOGIN_THROTTLE_MAX_KEYS
  }, fastify.clock)
  // Everything here depends on the typed name, never on whether such a user exists: an unknown name and a
  // real one are throttled, queued and answered alike.
  fastify.decorate('passwordAttempt', async function passwordAttempt (request: FastifyRequest, username: string): Promise<PasswordAttempt> {
    const usernameHash = fastify.audit.nameHash(username)
    // The unit the rate limits count (@fastify/rate-limit's own): an IPv4 address, or an IPv6 /64 network
    // (one IPv6 host is usually given a whole /64), an IPv4-mapped IPv6 address as its IPv4.
    const client = normalizeIP(request.ip)
    const keys: ThrottleKeys = LoginThrottle.keys(usernameHash, client)
    const verdict = await throttle.attempt(keys)
    if (!verdict.allowed) {
      fastify.auditRequest(request, 'login_throttled', { usernameHash, retryAfter: Math.ceil(verdict.retryAfterMs / 1000) })
      throw new TooManyAttemptsError('login_throttled', 'Too many failed logins; retry later', verdict.retryAfterMs / 1000)
    }
    let settled = false
    const once = (settle: () => Promise<void>) => async () => {
      if (settled) return
      settled = true
      await settle()
    }
    return {
      usernameHash,
      flow: { keys: [`c:${client}`, `a:${usernameHash}`], suspect: verdict.suspect },
      succeeded: once(() => throttle.succeeded(keys)),
      failed: once(() => throttle.failed(keys)),
      takeBack: once(() => throttle.takeBack(keys, verdict.counted))
    }
  })
}, { name: 'login-throttle', dependencies: ['env', 'services', 'redis', 'audit'] })
