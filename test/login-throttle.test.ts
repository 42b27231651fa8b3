import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t from 'tap'
import { LoginThrottle, MemoryThrottleStore, RedisThrottleStore, type ThrottleSettings, type ThrottleStore } from '../src/abuse/login-throttle.js'
import { addUser, build, needs, PASSWORD, REDIS_URL, testEnv, type Env } from './support/index.js'

const WRONG = 'not the password at all'

function loginFrom (app: FastifyInstance, address: string, username: string, password: string, userAgent = 'throttle-test') {
  return app.inject({ method: 'POST', url: '/login', remoteAddress: address, headers: { 'user-agent': userAgent }, payload: { username, password } })
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

for (const backend of ['memory', 'redis'] as const) {
  t.test(`${backend}: the wait grows with every failed attempt, the right password works after it, a success resets`, async (t) => {
    let now = Date.parse('2026-01-01T00:00:00Z')
    const extra = backend === 'redis' ? redisEnv() : {}
    if (extra.REDIS_PREFIX) t.teardown(() => dropPrefix(extra.REDIS_PREFIX!))
    const app = await build(t, testEnv(t, {
      ...extra, LOGIN_THROTTLE_FREE_FAILURES: '3', LOGIN_THROTTLE_BASE_WAIT: '2', LOGIN_THROTTLE_MAX_WAIT: '8'
    }), { clock: () => now })
    await addUser(app, 'alice', PASSWORD)
    const address = '203.0.113.7'
    for (let i = 0; i < 3; i++) t.equal((await loginFrom(app, address, 'alice', WRONG)).statusCode, 401, `free failure ${i + 1}`)

    const waits: string[] = []
    for (const wait of [2, 4, 8, 8]) {
      const before = app.passwordHasher.verifications
      const refused = await loginFrom(app, address, 'alice', PASSWORD)
      t.equal(refused.statusCode, 429, 'refused while waiting, even with the right password')
      t.same(refused.json(), { statusCode: 429, error: 'Too Many Requests', message: 'Too many failed logins; retry later', code: 'login_throttled' })
      waits.push(refused.headers['retry-after'] as string)
      t.equal(app.passwordHasher.verifications, before, 'and without hashing')
      now += (wait - 1) * 1000
      t.equal((await loginFrom(app, address, 'alice', PASSWORD)).statusCode, 429, 'a second before the end of the wait: still refused')
      now += 1000
      if (wait === 8 && waits.length === 4) break
      t.equal((await loginFrom(app, address, 'alice', WRONG)).statusCode, 401, 'after the wait, one more attempt is heard')
    }
    t.same(waits, ['2', '4', '8', '8'], 'the wait doubles up to LOGIN_THROTTLE_MAX_WAIT')
    t.equal((await loginFrom(app, address, 'alice', PASSWORD)).statusCode, 200, 'the right password works after the wait')
    for (let i = 0; i < 3; i++) t.equal((await loginFrom(app, address, 'alice', WRONG)).statusCode, 401, `the success reset the count: free failure ${i + 1} again`)
    t.equal((await loginFrom(app, address, 'alice', WRONG)).statusCode, 429)
    t.equal((await loginFrom(app, '203.0.113.8', 'alice', PASSWORD)).statusCode, 200, 'another address is not made to wait')
  })
}

t.test('counted across instances through Redis', await needs('redis'), async (t) => {
  const env = testEnv(t, { ...redisEnv(), LOGIN_THROTTLE_FREE_FAILURES: '3' })
  t.teardown(() => dropPrefix(env.REDIS_PREFIX!))
  const a = await build(t, env)
  const b = await build(t, env) // the same database and Redis: two instances of one deployment
  await addUser(a, 'alice', PASSWORD)
  for (const app of [a, b, a]) t.equal((await loginFrom(app, '198.51.100.1', 'alice', WRONG)).statusCode, 401)
  const refused = await loginFrom(b, '198.51.100.1', 'alice', PASSWORD)
  t.equal(refused.statusCode, 429, 'the fourth attempt, on the other instance, waits')
  t.equal(refused.headers['retry-after'], '1')
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const keys = await redis.keys(`${env.REDIS_PREFIX}login-throttle:*`)
  t.ok(keys.length > 0, 'the counters are in Redis')
  for (const key of keys) t.ok(await redis.pttl(key) > 0, `${key} expires`)
  t.notOk(keys.some((key) => key.includes('alice')), 'Redis never holds the typed name')
})

t.test('Redis down: the throttle counts on the instance alone, and logins are not refused for it', async (t) => {
  const { tcpProxy } = await import('./support/index.js')
  const proxy = await tcpProxy(t, { host: '127.0.0.1', port: 6379 }, false)
  const app = await build(t, testEnv(t, { REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_PREFIX: `auth-test-${randomBytes(6).toString('hex')}:`, LOGIN_THROTTLE_FREE_FAILURES: '2' }))
  await addUser(app, 'alice', PASSWORD)
  t.equal((await loginFrom(app, '198.51.100.2', 'alice', PASSWORD)).statusCode, 200)
  t.equal((await loginFrom(app, '198.51.100.2', 'alice', WRONG)).statusCode, 401)
  t.equal((await loginFrom(app, '198.51.100.2', 'alice', WRONG)).statusCode, 401)
  t.equal((await loginFrom(app, '198.51.100.2', 'alice', PASSWORD)).statusCode, 429, 'still throttled, per instance')
})

t.test('the real admin gets in while others hammer its account from many addresses', async (t) => {
  // The bound (docs/security.md, "Guessing passwords: the per-account throttle"): an address that has not
  // failed on the account is never made to wait by the throttle, and its login is hashed before every queued attempt from an address that has failed on it
  // (30 addresses, each with attempts queued).
  const app = await build(t, testEnv(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: PASSWORD, HASH_CONCURRENCY: '1', LOGIN_THROTTLE_BASE_WAIT: '0.001' }))
  const attackers = Array.from({ length: 30 }, (_, i) => `192.0.2.${i + 1}`)
  // Every attacking address has failed on the account already: the account is under attack (30 ≥ 20).
  await Promise.all(attackers.map((address) => loginFrom(app, address, 'root', WRONG)))
  const attack = { on: true }
  const hammering = attackers.map(async (address) => {
    let sent = 0
    while (attack.on) {
      const res = await loginFrom(app, address, 'root', `${WRONG} ${sent++}`)
      if (res.statusCode === 429) await new Promise((resolve) => setTimeout(resolve, 1))
    }
    return sent
  })
  await new Promise((resolve) => setTimeout(resolve, 300))
  for (let i = 0; i < 5; i++) {
    const before = app.passwordHasher.verifications
    const res = await loginFrom(app, '203.0.113.200', 'root', PASSWORD, 'the real admin')
    const hashed = app.passwordHasher.verifications - before
    t.equal(res.statusCode, 200, `login ${i + 1} of the real admin succeeds`)
    // At most: the hash running when it arrived, one that may start while its name is looked up (before it
    // reaches the queue), and its own.
    t.ok(hashed <= 3, `hashed right after the one in progress (${hashed} verifications from its arrival to its answer)`)
  }
  const typo = await loginFrom(app, '203.0.113.200', 'root', 'a typo of the real admin')
  t.equal(typo.statusCode, 401, 'a typo of the real admin is an ordinary failure')
  attack.on = false
  const sent = await Promise.all(hammering)
  t.ok(sent.reduce((a, b) => a + b) > attackers.length, 'the attackers kept sending')
})

t.test('a flood from one address, or for one account, does not starve other logins of hashing slots', async (t) => {
  const app = await build(t, testEnv(t, { HASH_CONCURRENCY: '1', LOGIN_THROTTLE_FREE_FAILURES: '1000', LOGIN_THROTTLE_ACCOUNT_FAILURES: '1000' }))
  await addUser(app, 'alice', PASSWORD)
  await addUser(app, 'bob', PASSWORD)
  // Every flooding address has failed a few times already (on made-up names): it is suspect everywhere.
  for (let i = 0; i < 40; i++) for (let k = 0; k < 3; k++) await loginFrom(app, `198.18.0.${i}`, `warm-up-${i}-${k}`, WRONG)
  for (const flood of ['one address, many names', 'one account, many addresses', 'many addresses, made-up names'] as const) {
    const floodRequests = Array.from({ length: 40 }, (_, i) => flood === 'one address, many names'
      ? loginFrom(app, '192.0.2.50', `made-up-${i}`, WRONG)
      : flood === 'one account, many addresses'
        ? loginFrom(app, `192.0.2.${100 + i}`, 'alice', WRONG)
        : loginFrom(app, `198.18.0.${i}`, `made-up-${i}-again`, WRONG))
    await new Promise((resolve) => setTimeout(resolve, 20))
    const before = app.passwordHasher.verifications
    const res = await loginFrom(app, '203.0.113.9', 'bob', PASSWORD)
    const hashed = app.passwordHasher.verifications - before
    t.equal(res.statusCode, 200, `${flood}: bob logs in`)
    t.ok(hashed <= 3, `${flood}: bob waited for ${hashed} hashes, not for the ${floodRequests.length} queued before him`)
    const codes = (await Promise.all(floodRequests)).map((r) => r.statusCode)
    t.ok(codes.every((c) => c === 401 || c === 429), `${flood}: the flood got 401 (or 429 beyond its share of the queue)`)
    t.equal(app.passwordHasher.flowCount, 0, `${flood}: the queue keeps no state for clients and accounts once their logins are done`)
  }
})

t.test('a guess at the current password of PUT /me/password is a failed login: throttled the same way', async (t) => {
  const app = await build(t, testEnv(t, { LOGIN_THROTTLE_FREE_FAILURES: '3' }))
  await addUser(app, 'alice', PASSWORD)
  const { token } = (await loginFrom(app, '203.0.113.30', 'alice', PASSWORD)).json()
  const change = (currentPassword: string) => app.inject({
    method: 'PUT',
    url: '/me/password',
    remoteAddress: '198.51.100.30',
    headers: { authorization: `Bearer ${token}` },
    payload: { currentPassword, newPassword: 'a brand new passphrase 9' }
  })
  for (let i = 0; i < 3; i++) t.equal((await change(`guess ${i}`)).statusCode, 403, `guess ${i + 1}: 403`)
  const before = app.passwordHasher.verifications
  const refused = await change(PASSWORD)
  t.equal(refused.statusCode, 429, 'the fourth, even right, waits')
  t.equal(refused.headers['retry-after'], '1')
  t.equal(app.passwordHasher.verifications, before, 'without hashing')
  t.equal((await loginFrom(app, '198.51.100.30', 'alice', PASSWORD)).statusCode, 429, 'and logins from that address wait too: one count')
})

t.test('a success changes nothing another address can see (no one learns that, or when, the user logged in)', async (t) => {
  const app = await build(t, testEnv(t, { LOGIN_THROTTLE_BASE_WAIT: '60' }))
  await addUser(app, 'alice', PASSWORD)
  t.equal((await loginFrom(app, '192.0.2.200', 'alice', WRONG)).statusCode, 401, 'the watcher fails once')
  for (let i = 0; i < 20; i++) await loginFrom(app, `192.0.2.${i + 1}`, 'alice', WRONG) // the account's ceiling
  const probe = () => loginFrom(app, '192.0.2.200', 'alice', WRONG)
  const before = await probe()
  t.equal(before.statusCode, 429, 'the watcher waits (it failed, and the account is over its ceiling)')
  t.equal((await loginFrom(app, '203.0.113.40', 'alice', PASSWORD)).statusCode, 200, 'the real user logs in from elsewhere')
  const after = await probe()
  t.equal(after.statusCode, 429, 'the watcher still waits')
  t.equal(after.body, before.body)
})

t.test('a throttled login is one audit record login_throttled, with the keyed name hash, never the name', async (t) => {
  const { buildWithLogs } = await import('./support/index.js')
  const { app, lines } = await buildWithLogs(t, testEnv(t, { LOGIN_THROTTLE_FREE_FAILURES: '1' }))
  t.equal((await loginFrom(app, '198.51.100.77', 'typed-into-the-name-field', WRONG)).statusCode, 401)
  const refused = await loginFrom(app, '198.51.100.77', 'typed-into-the-name-field', WRONG)
  t.equal(refused.statusCode, 429)
  const records = lines.map((l) => JSON.parse(l) as { audit?: Record<string, unknown> }).filter((l) => l.audit?.event === 'login_throttled').map((l) => l.audit!)
  t.equal(records.length, 1, 'one record')
  t.same(Object.keys(records[0]).sort(), ['event', 'ip', 'reqId', 'retryAfter', 'userAgent', 'usernameHash'], 'its fields')
  t.match(records[0], { ip: '198.51.100.77', userAgent: 'throttle-test', usernameHash: app.audit.nameHash('typed-into-the-name-field'), retryAfter: 1 })
  t.notOk(lines.some((l) => l.includes('typed-into-the-name-field')), 'the typed name is in no line')
})

t.test('one address may hold only its share of the hashing queue: 429 beyond it, others still queue', async (t) => {
  const app = await build(t, testEnv(t, { HASH_CONCURRENCY: '1', HASH_QUEUE_LIMIT: '100', LOGIN_THROTTLE_FREE_FAILURES: '1000', LOGIN_THROTTLE_ACCOUNT_FAILURES: '1000' }))
  await addUser(app, 'bob', PASSWORD)
  const flood = Array.from({ length: 20 }, (_, i) => loginFrom(app, '192.0.2.60', `made-up-${i}`, WRONG))
  const bob = loginFrom(app, '203.0.113.10', 'bob', PASSWORD)
  const codes = (await Promise.all(flood)).map((r) => r.statusCode)
  // 100 / 20 = 5 may wait (one runs): the rest of that address's logins are refused at once.
  t.equal(codes.filter((c) => c === 401).length, 6)
  const refused = (await Promise.all(flood)).find((r) => r.statusCode === 429)!
  t.equal(refused.headers['retry-after'], '1')
  t.same(refused.json(), { statusCode: 429, error: 'Too Many Requests', message: 'Too many logins in progress from this address; retry shortly', code: 'hash_queue_share_full' })
  t.equal((await bob).statusCode, 200)
})

const SETTINGS: ThrottleSettings = { freeFailures: 5, accountFailures: 20, baseWaitMs: 1000, maxWaitMs: 900_000, windowMs: 900_000, maxKeys: 10_000 }

t.test('100,000 failed logins for distinct made-up names leave the counters bounded, in memory and in Redis', await needs('redis'), async (t) => {
  // The login route's own calls, without the password hashing (100,000 argon2 hashes would take an hour
  // here): every attempt for a new name adds a pair counter and an account counter.
  const prefix = `auth-test-${randomBytes(6).toString('hex')}:`
  const redis = new Redis(REDIS_URL)
  t.teardown(async () => { await dropPrefix(prefix); redis.disconnect() })
  while (redis.status !== 'ready') await new Promise((resolve) => setTimeout(resolve, 10))
  const stores: Array<[string, ThrottleStore]> = [
    ['memory', new MemoryThrottleStore()],
    ['redis', new RedisThrottleStore(redis, prefix, new MemoryThrottleStore(), (reason) => { throw new Error(reason) })]
  ]
  for (const [name, store] of stores) {
    const throttle = new LoginThrottle(store, SETTINGS, Date.now)
    for (let batch = 0; batch < 100; batch++) {
      await Promise.all(Array.from({ length: 1000 }, async (_, i) => {
        const keys = LoginThrottle.keys(randomBytes(16).toString('base64url'), `10.${batch}.${i >> 8}.${i & 255}`)
        await throttle.attempt(keys)
        await throttle.failed(keys)
      }))
    }
    const size = await throttle.size()
    t.ok(size <= SETTINGS.maxKeys, `${name}: ${size} counters kept for 300,000 made (at most ${SETTINGS.maxKeys})`)
    if (name === 'redis') {
      const keys = await redis.keys(`${prefix}*`)
      t.ok(keys.length <= SETTINGS.maxKeys + 1, `redis: ${keys.length} keys under the prefix (the counters and their index)`)
      const sample = keys.slice(0, 50)
      for (const key of sample) t.ok(await redis.pttl(key) > 0, 'every key expires')
    }
  }
})
