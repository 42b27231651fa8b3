import type { Redis } from 'ioredis'
import { RedisOrMemory } from './redis-or-memory.js'

// Brute-force protection per account (docs/security.md, "Abuse resistance"), after Keycloak's brute-force
// detection, made so that it cannot be turned into a lockout:
// - it counts per (account, client address): after `freeFailures` attempts on an account from one address
//   that did not end in a success, that address waits before its next attempt on that account, the wait
//   doubling with every further attempt (`baseWaitMs` · 2^(n − free), at most `maxWaitMs`); a success
//   forgets the address's count on that account. Attempts are counted when they start (a success takes its count back),
//   so a burst of concurrent guesses cannot slip past the limit. An attempt stays counted only if the check of
//   the credentials refused them (wrong password, unknown name, disabled, credentials changed meanwhile:
//   all alike); one that reached no verdict (its answer a 400, 429, 500 or 503: the hashing queue full,
//   the store unavailable) is taken back (`takeBack`), so that nobody who can make the service answer 503
//   — a flood, an outage — can make the real user wait.
// - it also counts failures per account, across addresses (when they fail, so that a success changes
//   nothing anybody else can see): once an account has had `accountFailures` within `windowMs`, *every*
//   address that has already failed on it waits from its first failure. That only slows: an address with no failure on the account is never made to wait, whoever
//   hammers the account from elsewhere; so the real user, from an address of its own, always gets in.
// - accounts are named by a keyed hash of the typed name, the same for users that exist and that do not:
//   the throttle answers alike for both, and neither memory nor Redis holds what people typed.
// Counters expire (`windowMs` after the last attempt, plus the wait), and at most `maxKeys` are kept, the
// least recently used forgotten first, in memory and in Redis alike.
export interface ThrottleSettings {
  freeFailures: number
  accountFailures: number
  baseWaitMs: number
  maxWaitMs: number
  windowMs: number
  maxKeys: number
}

// Allowed: `suspect` when the address has failed on the account before (it waits behind clean logins in
// the hashing queue), or when the address has failed SUSPECT_CLIENT_FAILURES times on any accounts;
// `counted`, what is needed to take the attempt back. Refused: retry after that many milliseconds.
export type ThrottleVerdict = { allowed: true, suspect: boolean, counted: Counted } | { allowed: false, retryAfterMs: number }

// An allowed attempt as counted: when (`at`), the pair's last attempt before it (`previous`, 0 for none),
// and whether it was counted in the fallback (Redis unavailable): taken back where it was counted.
export interface Counted { at: number, previous: number, fallback?: boolean }

export interface ThrottleKeys { pair: string, account: string, client: string }

// An address with this many failed logins (on any accounts) within the window is `suspect` for every
// account: its logins wait behind everybody else's in the hashing queue. So a flood of guesses for made-up
// names from many addresses does not stand in front of a real user's login for long.
const SUSPECT_CLIENT_FAILURES = 3

export interface ThrottleStore {
  attempt (keys: ThrottleKeys, now: number, settings: ThrottleSettings): Promise<ThrottleVerdict>
  failed (keys: ThrottleKeys, now: number, settings: ThrottleSettings): Promise<void>
  // As if the attempt had not been made: the pair's count one less (forgotten at 0), and its last attempt
  // the one before, unless another attempt came since.
  takeBack (keys: ThrottleKeys, counted: Counted): Promise<void>
  forget (keys: ThrottleKeys): Promise<void>
  // Counters held (pairs and accounts).
  size (): Promise<number>
}

// The rule, on one pair's and one account's counters; the Redis script below is the same rule in Lua.
function decide (pair: { failures: number, last: number } | undefined, accountFailures: number,
  now: number, s: ThrottleSettings): number {
  const failures = pair?.failures ?? 0
  const free = accountFailures >= s.accountFailures ? Math.min(s.freeFailures, 1) : s.freeFailures
  if (failures < free) return 0
  const wait = Math.min(s.baseWaitMs * 2 ** (failures - free), s.maxWaitMs)
  return Math.max(0, pair!.last + wait - now)
}

interface Entry { failures: number, last: number, expires: number }

export class MemoryThrottleStore implements ThrottleStore {
  // Insertion order is recency order (an entry is re-inserted when touched): the first key is the least
  // recently used.
  readonly #entries = new Map<string, Entry>()

  async attempt (keys: ThrottleKeys, now: number, s: ThrottleSettings): Promise<ThrottleVerdict> {
    const pair = this.#live(keys.pair, now)
    const account = this.#live(keys.account, now)
    const wait = decide(pair, account?.failures ?? 0, now, s)
    if (wait > 0) return { allowed: false, retryAfterMs: wait }
    this.#put(keys.pair, { failures: (pair?.failures ?? 0) + 1, last: now, expires: now + s.windowMs + s.maxWaitMs }, s.maxKeys)
    const client = this.#live(keys.client, now)
    return { allowed: true, suspect: (pair?.failures ?? 0) > 0 || (client?.failures ?? 0) >= SUSPECT_CLIENT_FAILURES, counted: { at: now, previous: pair?.last ?? 0 } }
  }

  async takeBack (keys: ThrottleKeys, counted: Counted): Promise<void> {
    const pair = this.#entries.get(keys.pair)
    if (!pair) return // expired, forgotten by a success, or pushed out: nothing of it left to take back
    if (pair.failures <= 1) {
      this.#entries.delete(keys.pair)
      return
    }
    pair.failures--
    if (pair.last === counted.at) pair.last = counted.previous
  }

  async failed (keys: ThrottleKeys, now: number, s: ThrottleSettings): Promise<void> {
    for (const key of [keys.account, keys.client]) {
      const entry = this.#live(key, now)
      this.#put(key, { failures: (entry?.failures ?? 0) + 1, last: now, expires: now + s.windowMs }, s.maxKeys)
    }
  }

  async forget (keys: ThrottleKeys): Promise<void> {
    this.#entries.delete(keys.pair)
  }

  async size (): Promise<number> {
    return this.#entries.size
  }

  #live (key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key)
    if (entry && entry.expires <= now) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }

  #put (key: string, entry: Entry, maxKeys: number): void {
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    while (this.#entries.size > maxKeys) this.#entries.delete(this.#entries.keys().next().value!)
  }
}

// Lua: the index (a sorted set of the keys by last use) kept `ttl` ms, and the least recently used keys
// beyond `max` forgotten, index entry and key.
function forgetBeyond (index: string, ttl: string, max: string): string {
  return `redis.call('PEXPIRE', ${index}, ${ttl})
local n = redis.call('ZCARD', ${index})
if n > ${max} then
  local old = redis.call('ZPOPMIN', ${index}, n - ${max})
  for i = 1, #old, 2 do redis.call('DEL', old[i]) end
end`
}

// KEYS: pair (a hash: f = attempts not yet followed by a success, l = last attempt), account (its failure
// counter, read here), index (a sorted set of the keys by last use, to forget the least recently used
// beyond maxKeys), client (the address's failure counter, read here). ARGV ends with the client failures
// that make an address suspect. ARGV: now, freeFailures,
// accountFailures, baseWaitMs, maxWaitMs, windowMs, maxKeys. Returns {1, suspect (1 or 0), the pair's last
// attempt before this one} or {0, wait ms}.
const ATTEMPT = `
local now = tonumber(ARGV[1])
local pf = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
local pl = tonumber(redis.call('HGET', KEYS[1], 'l') or '0')
local af = tonumber(redis.call('GET', KEYS[2]) or '0')
local cf = tonumber(redis.call('GET', KEYS[4]) or '0')
local free = tonumber(ARGV[2])
if af >= tonumber(ARGV[3]) then free = math.min(free, 1) end
if pf >= free then
  local wait = math.min(tonumber(ARGV[4]) * 2 ^ (pf - free), tonumber(ARGV[5]))
  if now < pl + wait then return {0, math.ceil(pl + wait - now)} end
end
local window = tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'f', pf + 1, 'l', now)
redis.call('PEXPIRE', KEYS[1], window + tonumber(ARGV[5]))
redis.call('ZADD', KEYS[3], now, KEYS[1])
${forgetBeyond('KEYS[3]', 'window + tonumber(ARGV[5])', 'tonumber(ARGV[7])')}
local suspect = 0
if pf > 0 or cf >= tonumber(ARGV[8]) then suspect = 1 end
return {1, suspect, pl}
`

// KEYS: pair, index. ARGV: the attempt's time, the pair's last attempt before it. An attempt that reached
// no verdict taken back: the count one less (the pair forgotten at 0), the last attempt the one before
// unless another came since.
const TAKE_BACK = `
local f = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
if f <= 1 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], KEYS[1])
  return 1
end
redis.call('HSET', KEYS[1], 'f', f - 1)
if tonumber(redis.call('HGET', KEYS[1], 'l') or '0') == tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'l', ARGV[2]) end
return 1
`

// KEYS: account, client, index. ARGV: now, windowMs, maxWaitMs, maxKeys. A failure counted against the
// account and the client's address.
const FAILED = `
local now = tonumber(ARGV[1])
for k = 1, 2 do
  redis.call('INCR', KEYS[k])
  redis.call('PEXPIRE', KEYS[k], tonumber(ARGV[2]))
  redis.call('ZADD', KEYS[3], now, KEYS[k])
end
${forgetBeyond('KEYS[3]', 'tonumber(ARGV[2]) + tonumber(ARGV[3])', 'tonumber(ARGV[4])')}
return 1
`

// Counters in Redis, shared by every instance. While Redis cannot answer the throttle goes on with this
// instance's own counters (`fallback`; src/abuse/redis-or-memory.ts): per-instance counting is weaker, never
// absent, and a login never fails or waits long because Redis is down.
export class RedisThrottleStore implements ThrottleStore {
  readonly #redis: RedisOrMemory
  readonly #prefix: string
  readonly #fallback: ThrottleStore

  constructor (redis: Redis, prefix: string, fallback: ThrottleStore, onUnavailable: (reason: string) => void) {
    this.#redis = new RedisOrMemory(redis, onUnavailable)
    this.#prefix = `${prefix}login-throttle:`
    this.#fallback = fallback
  }

  attempt (keys: ThrottleKeys, now: number, s: ThrottleSettings): Promise<ThrottleVerdict> {
    return this.#redis.run(async (redis): Promise<ThrottleVerdict> => {
      const [allowed, value, previous] = await redis.eval(ATTEMPT, 4, this.#key(keys.pair), this.#key(keys.account), this.#prefix + 'index', this.#key(keys.client),
        now, s.freeFailures, s.accountFailures, s.baseWaitMs, s.maxWaitMs, s.windowMs, s.maxKeys, SUSPECT_CLIENT_FAILURES) as [number, number, number?]
      return allowed === 1 ? { allowed: true, suspect: value > 0, counted: { at: now, previous: previous ?? 0 } } : { allowed: false, retryAfterMs: value }
    }, async (): Promise<ThrottleVerdict> => {
      const verdict = await this.#fallback.attempt(keys, now, s)
      return verdict.allowed ? { ...verdict, counted: { ...verdict.counted, fallback: true } } : verdict
    })
  }

  // Where the attempt was counted: in Redis (if Redis cannot answer now, the count runs out with its
  // window), or in this instance's memory.
  async takeBack (keys: ThrottleKeys, counted: Counted): Promise<void> {
    if (counted.fallback) return this.#fallback.takeBack(keys, counted)
    await this.#redis.run(async (redis) => {
      await redis.eval(TAKE_BACK, 2, this.#key(keys.pair), this.#prefix + 'index', counted.at, counted.previous)
    }, () => {})
  }

  async failed (keys: ThrottleKeys, now: number, s: ThrottleSettings): Promise<void> {
    await this.#redis.run(async (redis) => {
      await redis.eval(FAILED, 3, this.#key(keys.account), this.#key(keys.client), this.#prefix + 'index', now, s.windowMs, s.maxWaitMs, s.maxKeys)
    }, () => this.#fallback.failed(keys, now, s))
  }

  async forget (keys: ThrottleKeys): Promise<void> {
    await this.#fallback.forget(keys)
    await this.#redis.run(async (redis) => {
      await redis.multi().del(this.#key(keys.pair)).zrem(this.#prefix + 'index', this.#key(keys.pair)).exec()
    }, () => {})
  }

  async size (): Promise<number> {
    return this.#redis.redis.zcard(this.#prefix + 'index')
  }

  #key (key: string): string {
    return this.#prefix + key
  }
}

export class LoginThrottle {
  readonly #store: ThrottleStore
  readonly #settings: ThrottleSettings
  readonly #now: () => number

  constructor (store: ThrottleStore, settings: ThrottleSettings, now: () => number) {
    this.#store = store
    this.#settings = settings
    this.#now = now
  }

  // `account`: a keyed hash of the typed name (never the name); `client`: the client's address.
  static keys (account: string, client: string): ThrottleKeys {
    return { pair: `p:${account}:${client}`, account: `a:${account}`, client: `c:${client}` }
  }

  // Counts an attempt, or says how long to wait before one.
  attempt (keys: ThrottleKeys): Promise<ThrottleVerdict> {
    return this.#store.attempt(keys, this.#now(), this.#settings)
  }

  // A success: the address's count on the account starts again. The account's count of failures is not
  // touched (it runs on to its window): who succeeds when must not show in anybody else's answers.
  succeeded (keys: ThrottleKeys): Promise<void> {
    return this.#store.forget(keys)
  }

  // A wrong password (or an unknown name): counted against the account, for its ceiling.
  failed (keys: ThrottleKeys): Promise<void> {
    return this.#store.failed(keys, this.#now(), this.#settings)
  }

  // No verdict on the credentials (the hashing queue full, the store unavailable…): the attempt taken back.
  takeBack (keys: ThrottleKeys, counted: Counted): Promise<void> {
    return this.#store.takeBack(keys, counted)
  }

  size (): Promise<number> {
    return this.#store.size()
  }
}
