// The login throttle counts an attempt only when the check of the credentials reached a refusing verdict
// (wrong password, unknown name, disabled, credentials changed): an answer that never reached one (503:
// the hashing queue full, the store unavailable; 429: the address's share of the queue; 500) is taken
// back. Otherwise whoever can make the service answer 503 — a flood, an outage — locks the real user out.
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t from 'tap'
import { LoginThrottle, MemoryThrottleStore, RedisThrottleStore, type Counted, type ThrottleSettings, type ThrottleStore } from '../src/abuse/login-throttle.js'
import { addUser, build, needs, PASSWORD, postgresDatabase, REDIS_URL, tcpProxy, testEnv, throughProxy, type Env } from './support/index.js'

const WRONG = 'not the password at all'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function loginFrom (app: FastifyInstance, address: string, username: string, password: string) {
  return app.inject({ method: 'POST', url: '/login', remoteAddress: address, payload: { username, password } })
}

function redisEnv (): Env {
  return { REDIS_URL, REDIS_PREFIX: `auth-test-${randomBytes(6).toString('hex')}:` }
}

async function dropPrefix (prefix: string) {
  const redis = new Redis(REDIS_URL)
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length) await redis.del(...keys)
  redis.disconnect()
}

const SETTINGS: ThrottleSettings = { freeFailures: 5, accountFailures: 20, baseWaitMs: 1000, maxWaitMs: 900_000, windowMs: 900_000, maxKeys: 10_000 }

for (const backend of ['memory', 'redis'] as const) {
  t.test(`${backend}: a flood of made-up names that fills the hashing queue costs the real user 503s, never the throttle's 429; it logs in at once after`, async (t) => {
    const extra = backend === 'redis' ? redisEnv() : {}
    if (extra.REDIS_PREFIX) t.teardown(() => dropPrefix(extra.REDIS_PREFIX!))
    // No queue, one slot: a login that finds the slot busy is 503 at once. The flood comes through a proxy
    // the service trusts, each request from an address it has never seen.
    const app = await build(t, testEnv(t, { ...extra, HASH_CONCURRENCY: '1', HASH_QUEUE_LIMIT: '0', TRUST_PROXY: '127.0.0.1' }))
    await addUser(app, 'alice', PASSWORD)
    const via = (address: string, username: string, password: string) =>
      app.inject({ method: 'POST', url: '/login', headers: { 'x-forwarded-for': address }, payload: { username, password } })
    let sent = 0
    const flood = { on: true }
    const loops = Array.from({ length: 6 }, async () => {
      while (flood.on) {
        const n = sent++
        await via(`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, `made-up-${n}`, WRONG)
      }
    })
    const answers: number[] = []
    while (answers.filter((s) => s === 503).length < 12 && answers.length < 300) {
      const res = await via('203.0.113.77', 'alice', PASSWORD)
      answers.push(res.statusCode)
      if (res.statusCode === 503) t.equal(res.headers['retry-after'], '1', 'a 503 says when to retry')
    }
    flood.on = false
    await Promise.all(loops)
    t.ok(answers.filter((s) => s === 503).length >= 12, `the flood kept the slot busy (${sent} flood logins)`)
    t.same(answers.filter((s) => s !== 503 && s !== 200), [], `the real user got 503 or 200 during the flood, never a 429 (${answers.join(' ')})`)
    t.equal((await via('203.0.113.77', 'alice', PASSWORD)).statusCode, 200, 'and logs in at once after it')
  })

  t.test(`${backend}: PostgreSQL cut three times: logins with the right password get 503 with Retry-After, never 429, and the first once it is back succeeds`, await needs('postgres', backend === 'redis' && 'redis'), async (t) => {
    const extra = backend === 'redis' ? redisEnv() : {}
    if (extra.REDIS_PREFIX) t.teardown(() => dropPrefix(extra.REDIS_PREFIX!))
    const proxy = await tcpProxy(t, { host: '127.0.0.1', port: 5432 })
    const app = await build(t, testEnv(t, { ...extra, DATABASE_URL: throughProxy(postgresDatabase(t), proxy.port), DATABASE_CONNECT_TIMEOUT: '1' }))
    await addUser(app, 'alice', PASSWORD)
    t.equal((await loginFrom(app, '198.51.100.90', 'alice', PASSWORD)).statusCode, 200, 'before the outage')
    for (let cut = 1; cut <= 3; cut++) {
      proxy.cut()
      const answers: number[] = []
      // A client retrying every 100 ms for 3 s: many more attempts than LOGIN_THROTTLE_FREE_FAILURES (5),
      // and long enough that, were they counted, the wait (1 s, then 2 s) would still run when it is back.
      for (const end = Date.now() + 3000; Date.now() < end; await sleep(100)) {
        const res = await loginFrom(app, '198.51.100.90', 'alice', PASSWORD)
        answers.push(res.statusCode)
        if (res.statusCode === 503) t.ok(Number(res.headers['retry-after']) > 0, `cut ${cut}: a 503 says when to retry`)
      }
      t.ok(answers.length > 5, `cut ${cut}: ${answers.length} attempts`)
      t.same(answers.filter((s) => s !== 503), [], `cut ${cut}: every login 503, none 429 (${answers.join(' ')})`)
      proxy.restore()
      const back = await loginFrom(app, '198.51.100.90', 'alice', PASSWORD)
      t.equal(back.statusCode, 200, `cut ${cut}: the first login once the store is back succeeds${back.statusCode === 200 ? '' : ` (${back.body})`}`)
    }
  })
}

t.test('a password change answered 503 (the hashing queue full) is not a guess at the current password: the throttle takes it back', async (t) => {
  const app = await build(t, testEnv(t, { HASH_CONCURRENCY: '1', HASH_QUEUE_LIMIT: '0' }))
  await addUser(app, 'alice', PASSWORD)
  const { token } = (await loginFrom(app, '203.0.113.31', 'alice', PASSWORD)).json()
  let current = PASSWORD
  let changes = 0
  const change = () => app.inject({
    method: 'PUT',
    url: '/me/password',
    remoteAddress: '198.51.100.31',
    headers: { authorization: `Bearer ${token}` },
    payload: { currentPassword: current, newPassword: `a brand new passphrase ${changes}` }
  })
  // The one hashing slot kept busy by hashes of the service's own (as other logins would).
  const busy = { on: true }
  const hashing = (async () => { while (busy.on) await app.passwordHasher.hash('keeping the slot busy').catch(() => new Promise((resolve) => setImmediate(resolve))) })()
  const answers: number[] = []
  while (answers.filter((s) => s === 503).length < 8 && answers.length < 100) {
    const res = await change()
    answers.push(res.statusCode)
    if (res.statusCode === 204) current = `a brand new passphrase ${changes++}`
  }
  busy.on = false
  await hashing
  t.same(answers.filter((s) => s !== 503 && s !== 204), [], `503 (or 204), never 429 (${answers.join(' ')})`)
  t.equal((await loginFrom(app, '198.51.100.31', 'alice', current)).statusCode, 200, 'a login from that address right after: not made to wait')
})

t.test('an attempt taken back leaves the counters as they were, in memory and in Redis', await needs('redis'), async (t) => {
  const prefix = `auth-test-${randomBytes(6).toString('hex')}:`
  const redis = new Redis(REDIS_URL)
  t.teardown(async () => { await dropPrefix(prefix); redis.disconnect() })
  while (redis.status !== 'ready') await new Promise((resolve) => setTimeout(resolve, 10))
  const stores: Array<[string, ThrottleStore]> = [
    ['memory', new MemoryThrottleStore()],
    ['redis', new RedisThrottleStore(redis, prefix, new MemoryThrottleStore(), (reason) => { throw new Error(reason) })]
  ]
  for (const [name, store] of stores) {
    let now = 1_000_000
    const throttle = new LoginThrottle(store, { ...SETTINGS, freeFailures: 2, baseWaitMs: 1000 }, () => now)
    const keys = LoginThrottle.keys('account-hash', '192.0.2.1')
    const attempt = async () => {
      const verdict = await throttle.attempt(keys)
      if (!verdict.allowed) throw new Error(`${name}: refused at ${now}`)
      return verdict
    }
    for (let i = 0; i < 20; i++) await throttle.takeBack(keys, (await attempt()).counted)
    t.equal(await throttle.size(), 0, `${name}: twenty attempts taken back leave no counter`)
    await attempt()
    await throttle.failed(keys)
    await attempt()
    await throttle.failed(keys)
    now += 500
    t.match(await throttle.attempt(keys), { allowed: false, retryAfterMs: 500 }, `${name}: two failures: it waits 1 s from the last`)
    now += 500
    await throttle.takeBack(keys, (await attempt()).counted)
    t.match(await throttle.attempt(keys), { allowed: true }, `${name}: the attempt taken back changed neither the count nor the last attempt's time: allowed again at once`)
    now += 100
    t.match(await throttle.attempt(keys), { allowed: false, retryAfterMs: 1900 }, `${name}: and that one, not taken back, counts (3 attempts: 2 s from it)`)
  }
})

t.test('an attempt counted on the instance while Redis was unavailable is taken back there, never in Redis', await needs('redis'), async (t) => {
  const prefix = `auth-test-${randomBytes(6).toString('hex')}:`
  const redis = new Redis(REDIS_URL)
  // Nothing listens there: the store counts in its fallback.
  const unreachable = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 })
  t.teardown(async () => { await dropPrefix(prefix); redis.disconnect(); unreachable.disconnect() })
  while (redis.status !== 'ready') await new Promise((resolve) => setTimeout(resolve, 10))
  const now = 1_000_000
  const keys = LoginThrottle.keys('account-hash', '192.0.2.2')
  const memory = new MemoryThrottleStore()
  const down = new RedisThrottleStore(unreachable, prefix, memory, () => {})
  const verdict = await down.attempt(keys, now, SETTINGS)
  t.match(verdict, { allowed: true, counted: { fallback: true } }, 'counted on the instance, and marked so')
  t.equal(await memory.size(), 1)

  // Redis back: the same prefix, the same memory. Redis counts an attempt of its own for the pair.
  const up = new RedisThrottleStore(redis, prefix, memory, (reason) => { throw new Error(reason) })
  t.match(await up.attempt(keys, now + 1, SETTINGS), { allowed: true, counted: { at: now + 1 } })
  await up.takeBack(keys, (verdict as { counted: Counted }).counted)
  t.equal(await memory.size(), 0, 'the attempt counted on the instance is taken back there')
  t.equal(await redis.hget(`${prefix}login-throttle:${keys.pair}`, 'f'), '1', "and Redis's own count is untouched")
})
