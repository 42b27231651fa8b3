import type { Redis } from 'ioredis'
import { RedisOrMemory } from './redis-or-memory.js'

// Fixed-window request counters, as the rate limits count (plugins/rate-limit.ts): the first request of a
// key starts a window of `windowMs`; every request in it adds one; the count starts again after it.
export interface Count {
  current: number // requests in the window, this one included
  ttl: number // milliseconds until the window ends
}

export interface Counters {
  incr (key: string, windowMs: number): Promise<Count>
}

// In this process's memory, at most `maxKeys` counters: past that, the least recently used one is dropped
// (its key starts a fresh window on its next request). Map keeps insertion order, and a counter is moved
// to the end on every use, so the first key is always the least recently used. Windows are timed on the
// monotonic clock: a wall clock stepped back cannot stretch them.
export class MemoryCounters implements Counters {
  readonly #counters = new Map<string, { count: number, endsAt: number }>()
  readonly #maxKeys: number
  readonly #now: () => number

  constructor (maxKeys: number, now: () => number = () => performance.now()) {
    this.#maxKeys = maxKeys
    this.#now = now
  }

  get size (): number { return this.#counters.size }

  count (key: string, windowMs: number): Count {
    const now = this.#now()
    let counter = this.#counters.get(key)
    if (counter !== undefined) this.#counters.delete(key)
    if (counter === undefined || counter.endsAt <= now) counter = { count: 0, endsAt: now + windowMs }
    counter.count++
    this.#counters.set(key, counter)
    if (this.#counters.size > this.#maxKeys) this.#counters.delete(this.#counters.keys().next().value as string)
    return { current: counter.count, ttl: Math.max(1, Math.ceil(counter.endsAt - now)) }
  }

  async incr (key: string, windowMs: number): Promise<Count> {
    return this.count(key, windowMs)
  }
}

// One atomic step: count, and give the key its expiry when it has none (the first request of a window, or a
// key that lost its expiry somehow), so that every key expires by itself.
const INCR_SCRIPT = `
local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}
`
const COMMAND = 'authServiceRateLimitIncr'

type WithCommand = Redis & { [COMMAND]: (key: string, windowMs: number) => Promise<[number, number]> }

// Counters in Redis under `prefix`, shared by every instance using that Redis and prefix. While Redis cannot
// answer (not connected, a command failed or timed out), each instance counts in its own memory instead,
// `fallback`, and `onUnavailable` is told (every time: the caller throttles its report); back in Redis as
// soon as it answers again. Never throws, never waits longer than one command timeout.
export class RedisCounters implements Counters {
  readonly #redis: RedisOrMemory
  readonly #prefix: string
  readonly #fallback: MemoryCounters

  constructor (redis: Redis, prefix: string, fallback: MemoryCounters, onUnavailable: (reason: string) => void) {
    if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: INCR_SCRIPT })
    this.#redis = new RedisOrMemory(redis, onUnavailable)
    this.#prefix = prefix
    this.#fallback = fallback
  }

  incr (key: string, windowMs: number): Promise<Count> {
    return this.#redis.run(async (redis) => {
      const [current, ttl] = await (redis as WithCommand)[COMMAND](this.#prefix + key, windowMs)
      return { current, ttl }
    }, () => this.#fallback.count(key, windowMs))
  }
}
