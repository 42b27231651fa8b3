import type { Redis } from 'ioredis'

// After a failed command, Redis is not asked again for this long: a Redis that has stopped answering
// (commands time out after the connection's 1 s) costs one request a second that wait, not every one.
const PAUSE_AFTER_FAILURE_MS = 1000

// When each connection may be asked again: shared by everything that counts on that connection (rate
// limits, the login throttle), so that one request's timeout spares the others too.
const pausedUntil = new WeakMap<Redis, number>()

// Counting in Redis while it answers, in this instance's memory while it does not (not connected, a
// command failed or timed out): `onUnavailable` is told every time (its caller throttles the report).
// Never throws for Redis's sake, never waits longer than one command timeout.
export class RedisOrMemory {
  readonly redis: Redis
  readonly #onUnavailable: (reason: string) => void

  constructor (redis: Redis, onUnavailable: (reason: string) => void) {
    this.redis = redis
    this.#onUnavailable = onUnavailable
  }

  async run<T> (inRedis: (redis: Redis) => Promise<T>, inMemory: () => T | Promise<T>): Promise<T> {
    if (this.redis.status !== 'ready') {
      this.#onUnavailable(`the connection is ${this.redis.status}`)
    } else if (performance.now() >= (pausedUntil.get(this.redis) ?? 0)) {
      try {
        return await inRedis(this.redis)
      } catch (err) {
        pausedUntil.set(this.redis, performance.now() + PAUSE_AFTER_FAILURE_MS)
        this.#onUnavailable((err as Error).message)
      }
    }
    return inMemory()
  }
}
