// Per-client-address rate limits: the limit+1-th request in a window is refused with 429, Retry-After and
// the usual error body, and one audit line; counters shared through Redis by several instances, every key
// expiring; TRUST_PROXY deciding whose address counts; the in-memory counters bounded; Redis lost.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { addUser, answering, bearer, build, buildWithLogs, cli, freePort, httpCall, loginTokens, needs, PASSWORD, REDIS_URL, startService, tcpProxy, testEnv, type Env } from './support/index.js'

const limitsAppPath = join(import.meta.dirname, 'fixtures', 'limits-app.ts')
const XFF = (address: string) => ({ 'x-forwarded-for': address })

const loginAs = (app: FastifyInstance, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/login', headers, payload: { username: 'nobody', password: 'wrong password' } })

function auditLines (lines: string[], event: string) {
  return lines.map((l) => JSON.parse(l)).filter((l) => l.audit?.event === event).map((l) => l.audit)
}

// The refusal, whole: status, body, Retry-After within the window.
function isRefusal (t: Test, res: LightMyRequestResponse, windowSeconds: number, what: string) {
  t.equal(res.statusCode, 429, `${what}: 429`)
  t.same(res.json(), { statusCode: 429, error: 'Too Many Requests', message: res.json().message, code: 'rate_limited' }, `${what}: the error body`)
  t.match(res.json().message, /^Too many requests; retry in \d+ (second|minute)s?$/, `${what}: says when`)
  const retryAfter = Number(res.headers['retry-after'])
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= windowSeconds, `${what}: Retry-After ${res.headers['retry-after']} s, within the window`)
}

// Each limited route, with its limit at 3: three requests pass (whatever their answer), the fourth is refused
// before the handler runs, and the refusal is audited once.
const LIMIT = 3
const routes: Array<{ name: string, variable: string, url: string, send: (app: FastifyInstance, i: number) => Promise<LightMyRequestResponse>, setup?: (app: FastifyInstance) => Promise<void>, app?: string }> = [
  { name: 'POST /login', variable: 'RATE_LIMIT_LOGIN', url: '/login', send: (app) => loginAs(app) },
  {
    name: 'POST /login/second-step (a future /login/* route, by fastify.rateLimits.login)',
    variable: 'RATE_LIMIT_LOGIN',
    url: '/login/second-step',
    app: limitsAppPath,
    send: (app) => app.inject({ method: 'POST', url: '/login/second-step' })
  },
  {
    name: 'POST /token/refresh',
    variable: 'RATE_LIMIT_REFRESH',
    url: '/token/refresh',
    send: (app) => app.inject({ method: 'POST', url: '/token/refresh', payload: { refreshToken: 'rt_unknown' } })
  },
  {
    name: 'POST /signup',
    variable: 'RATE_LIMIT_SIGNUP',
    url: '/signup',
    send: (app, i) => app.inject({ method: 'POST', url: '/signup', payload: { username: `newcomer${i}`, password: PASSWORD } })
  },
  {
    name: 'PUT /me/password',
    variable: 'RATE_LIMIT_PASSWORD_CHANGE',
    url: '/me/password',
    setup: async (app) => { await addUser(app, 'alice', PASSWORD) },
    send: async (app) => {
      const { token } = await loginTokens(app, 'alice', PASSWORD)
      return app.inject({ method: 'PUT', url: '/me/password', headers: bearer(token), payload: { currentPassword: 'not my password', newPassword: 'another long passphrase' } })
    }
  }
]

for (const route of routes) {
  t.test(`${route.name}: the request after ${LIMIT} in a window gets 429 with Retry-After, the error body and one audit event`, async (t) => {
    const { app, lines } = await buildWithLogs(t, testEnv(t, { [route.variable]: String(LIMIT), RATE_LIMIT_WINDOW: '120', SIGNUP_ENABLED: 'true' }), { app: route.app })
    await route.setup?.(app)
    for (let i = 1; i <= LIMIT; i++) {
      const res = await route.send(app, i)
      t.not(res.statusCode, 429, `request ${i} of ${LIMIT}: ${res.statusCode}, not refused`)
      t.not(res.statusCode, 500)
    }
    t.same(auditLines(lines, 'rate_limited'), [], 'nothing audited before the limit')
    const refused = await route.send(app, LIMIT + 1)
    isRefusal(t, refused, 120, `request ${LIMIT + 1}`)
    const audited = auditLines(lines, 'rate_limited')
    t.equal(audited.length, 1, 'one audit line for the refusal')
    t.match(audited[0], { event: 'rate_limited', route: route.url, limit: LIMIT, ip: '127.0.0.1' })
    if (route.url === '/signup') t.notOk((await app.store.users.list()).some((u) => u.username === `newcomer${LIMIT + 1}`), 'the refused sign-up made no account')
    const again = await route.send(app, LIMIT + 2)
    t.equal(again.statusCode, 429, 'and the next one too')
    t.equal(auditLines(lines, 'rate_limited').length, 2, 'one audit line a refused request')
  })
}

t.test('routes that are not limited are never refused, and limited routes count apart', async (t) => {
  const app = await build(t, testEnv(t, { RATE_LIMIT_LOGIN: '2', RATE_LIMIT_REFRESH: '2' }))
  for (let i = 0; i < 20; i++) t.equal((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).statusCode, 200)
  for (let i = 0; i < 2; i++) t.equal((await loginAs(app)).statusCode, 401)
  t.equal((await loginAs(app)).statusCode, 429, 'login spent')
  t.equal((await app.inject({ method: 'POST', url: '/token/refresh', payload: { refreshToken: 'rt_unknown' } })).statusCode, 401, 'refresh has its own budget')
})

t.test('a window ends: the address gets a fresh budget', async (t) => {
  const app = await build(t, testEnv(t, { RATE_LIMIT_LOGIN: '1', RATE_LIMIT_WINDOW: '1' }))
  t.equal((await loginAs(app)).statusCode, 401)
  const refused = await loginAs(app)
  t.equal(refused.statusCode, 429)
  t.equal(refused.headers['retry-after'], '1')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  t.equal((await loginAs(app)).statusCode, 401, 'counted afresh')
})

t.test('TRUST_PROXY', async (t) => {
  t.test('set to the proxy: requests with different X-Forwarded-For addresses are counted apart', async (t) => {
    const { app, lines } = await buildWithLogs(t, testEnv(t, { TRUST_PROXY: '127.0.0.1', RATE_LIMIT_LOGIN: '2' }))
    for (let i = 0; i < 2; i++) t.equal((await loginAs(app, XFF('203.0.113.1'))).statusCode, 401)
    t.equal((await loginAs(app, XFF('203.0.113.1'))).statusCode, 429, '203.0.113.1 spent its budget')
    t.equal((await loginAs(app, XFF('203.0.113.2'))).statusCode, 401, '203.0.113.2 has its own')
    t.equal((await loginAs(app, XFF('198.51.100.7, 203.0.113.1'))).statusCode, 429, 'the client is the address the proxy appended (the last one), not what the client wrote before it')
    t.equal((await loginAs(app)).statusCode, 401, 'the proxy\'s own address, without the header, is another bucket')
    t.match(auditLines(lines, 'rate_limited')[0], { ip: '203.0.113.1' }, 'the audit line names the client, not the proxy')
  })

  t.test('a hop count trusts that many nearest hops, whoever they are', async (t) => {
    const one = await build(t, testEnv(t, { TRUST_PROXY: '1', RATE_LIMIT_LOGIN: '1' }))
    t.equal((await loginAs(one, XFF('198.51.100.7, 203.0.113.1'))).statusCode, 401)
    t.equal((await loginAs(one, XFF('192.0.2.99, 203.0.113.1'))).statusCode, 429, 'one hop: the client is the address the proxy appended')
    const two = await build(t, testEnv(t, { TRUST_PROXY: '2', RATE_LIMIT_LOGIN: '1' }))
    t.equal((await loginAs(two, XFF('198.51.100.7, 203.0.113.1'))).statusCode, 401)
    t.equal((await loginAs(two, XFF('198.51.100.8, 203.0.113.1'))).statusCode, 401, 'two hops: the address before the second proxy')
    t.equal((await loginAs(two, XFF('198.51.100.8, 203.0.113.2'))).statusCode, 429)
  })

  t.test('a list of proxies and CIDRs; IPv6 clients are counted by their /64', async (t) => {
    const app = await build(t, testEnv(t, { TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1', RATE_LIMIT_LOGIN: '1' }))
    t.equal((await loginAs(app, XFF('2001:db8:1:2::1'))).statusCode, 401)
    t.equal((await loginAs(app, XFF('2001:db8:1:2::ffff'))).statusCode, 429, 'the same /64')
    t.equal((await loginAs(app, XFF('2001:db8:1:3::1'))).statusCode, 401, 'another /64')
  })

  t.test('unset: X-Forwarded-For is ignored, every request is the peer\'s', async (t) => {
    const app = await build(t, testEnv(t, { RATE_LIMIT_LOGIN: '2' }))
    t.equal((await loginAs(app, XFF('203.0.113.1'))).statusCode, 401)
    t.equal((await loginAs(app, XFF('203.0.113.2'))).statusCode, 401)
    t.equal((await loginAs(app, XFF('203.0.113.3'))).statusCode, 429, 'one bucket, whatever the header says')
  })

  t.test('a proxy that is not the peer is not trusted', async (t) => {
    const app = await build(t, testEnv(t, { TRUST_PROXY: '10.1.2.3', RATE_LIMIT_LOGIN: '1' }))
    t.equal((await loginAs(app, XFF('203.0.113.1'))).statusCode, 401)
    t.equal((await loginAs(app, XFF('203.0.113.2'))).statusCode, 429, 'the peer (127.0.0.1) is not 10.1.2.3: the header is ignored')
  })

  t.test('a bad value stops start-up with a message naming the variable', async (t) => {
    for (const value of ['yes', '0', '11', '10.0.0.0/33', '127.0.0.1,,10.0.0.1', 'proxy.internal', '::1/129', '1.2.3.4/8/8', '0.0.0.0/0', '::/0']) {
      await t.rejects(build(t, testEnv(t, { TRUST_PROXY: value })), { message: /^env\/TRUST_PROXY must be false, true, a hop count \(1 to 10\), or a comma-separated list/ }, `TRUST_PROXY=${value}`)
    }
  })

  t.test('the server must have been made with what TRUST_PROXY says', async (t) => {
    await t.rejects(build(t, testEnv(t), { server: { trustProxy: true } }), { message: /^env\/TRUST_PROXY is "false" but the server was made with trustProxy true/ })
  })

  t.test('the built service, started as npm start starts it: a bad value exits with the variable\'s name; a good one is applied', async (t) => {
    const bad = startService({ ...testEnv(t), TRUST_PROXY: '10.0.0.0/99' }, await freePort())
    t.teardown(() => { bad.child.kill('SIGKILL') })
    t.not(await bad.exited, 0, 'exits')
    // One fatal line (JSON) that names the variable and the entry at fault.
    const fatal = bad.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number, msg: string }).filter((l) => l.level === 60)
    t.equal(fatal.length, 1, 'one fatal line')
    t.match(fatal[0]?.msg, /env\/TRUST_PROXY must be false, true, a hop count \(1 to 10\), or a comma-separated list of proxy addresses or CIDRs \(10\.0\.0\.0\/8\): "10\.0\.0\.0\/99" has a prefix length/)

    const port = await freePort()
    const good = startService(testEnv(t, { TRUST_PROXY: '127.0.0.1', RATE_LIMIT_LOGIN: '1' }), port)
    t.teardown(() => { good.child.kill('SIGKILL') })
    const base = `http://127.0.0.1:${port}`
    await answering(`${base}/health/ready`, good)
    const post = (address: string) => fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json', ...XFF(address) }, body: JSON.stringify({ username: 'nobody', password: 'wrong password' }) })
    t.equal((await post('203.0.113.1')).status, 401)
    t.equal((await post('203.0.113.1')).status, 429)
    t.equal((await post('203.0.113.2')).status, 401, 'fastify start -o applied TRUST_PROXY from the environment')
  })

  // Every local process connects from 127.0.0.1 (or ::1) unless it binds another address: trusting those
  // lets any of them write X-Forwarded-For and choose its address. Said once at start, and by config check.
  t.test('trusting the loopback addresses local processes connect from is warned about once, at start and by config check', async (t) => {
    const warned = /^TRUST_PROXY trusts the loopback address every local process connects from \(.+\): any process on this host can then send X-Forwarded-For and choose its client address/
    for (const value of ['loopback', '127.0.0.1', '::1', '127.0.0.0/8', '10.0.0.0/8, ::1', '::ffff:127.0.0.1', '64.0.0.0/2']) {
      const { lines } = await buildWithLogs(t, testEnv(t, { TRUST_PROXY: value }))
      const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 40 && /^TRUST_PROXY/.test(l.msg))
      t.equal(warnings.length, 1, `TRUST_PROXY=${value}: one warning`)
      t.match(warnings[0]?.msg, warned, `TRUST_PROXY=${value}: it says what is at stake`)
    }
    for (const value of ['loopback', '127.0.0.1']) {
      const check = await cli(testEnv(t, { TRUST_PROXY: value }), ['config', 'check'])
      t.equal(check.code, 0, `config check with TRUST_PROXY=${value}: valid, exit 0`)
      t.match(check.stderr, /^warning: TRUST_PROXY trusts the loopback address/, 'the same warning, on stderr')
      t.equal(check.stderr.trimEnd().split('\n').length, 1, 'one line')
    }
    for (const value of ['127.0.0.2', '10.0.0.0/8', 'false', 'fd00::1']) {
      const { lines } = await buildWithLogs(t, testEnv(t, { TRUST_PROXY: value }))
      t.notOk(lines.some((l) => /"msg":"TRUST_PROXY/.test(l)), `TRUST_PROXY=${value}: no warning`)
    }
    t.equal((await cli(testEnv(t, { TRUST_PROXY: '127.0.0.2' }), ['config', 'check'])).stderr, '', 'TRUST_PROXY=127.0.0.2: config check says nothing on stderr')
  })

  t.test('the proxy\'s own loopback address (127.0.0.2): its X-Forwarded-For is believed, another local process\'s is not', async (t) => {
    const app = await build(t, testEnv(t, { TRUST_PROXY: '127.0.0.2', RATE_LIMIT_LOGIN: '1' }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as AddressInfo).port
    const post = (from: string, address: string) => new Promise<number>((resolve, reject) => {
      const body = JSON.stringify({ username: 'nobody', password: 'wrong password' })
      request({ host: '127.0.0.1', port, method: 'POST', path: '/login', localAddress: from, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...XFF(address) } },
        (res) => { res.resume(); resolve(res.statusCode!) }).on('error', reject).end(body)
    })
    t.equal(await post('127.0.0.2', '203.0.113.1'), 401)
    t.equal(await post('127.0.0.2', '203.0.113.1'), 429, 'the proxy\'s client 203.0.113.1 spent its budget')
    t.equal(await post('127.0.0.2', '203.0.113.2'), 401, 'another of its clients has its own')
    t.equal(await post('127.0.0.1', '198.51.100.1'), 401)
    t.equal(await post('127.0.0.1', '198.51.100.2'), 429, 'a process connecting from 127.0.0.1 is 127.0.0.1, whatever it writes')
  })

  t.test('from a .env file, as every other setting', async (t) => {
    const dir = t.testdir()
    await writeFile(join(dir, '.env'), `DATABASE_URL=sqlite:${join(dir, 'auth.db')}\nADMIN_PASSWORD_FILE=${join(dir, 'admin.txt')}\nTRUST_PROXY=127.0.0.1\nRATE_LIMIT_LOGIN=1\n`)
    const port = await freePort()
    const service = startService({}, port, dir)
    t.teardown(() => { service.child.kill('SIGKILL') })
    const base = `http://127.0.0.1:${port}`
    await answering(`${base}/health/ready`, service)
    const post = (address: string) => fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json', ...XFF(address) }, body: JSON.stringify({ username: 'nobody', password: 'wrong password' }) })
    t.equal((await post('203.0.113.1')).status, 401)
    t.equal((await post('203.0.113.1')).status, 429)
    t.equal((await post('203.0.113.2')).status, 401, 'applied')
  })
})

t.test('the in-memory counters stay within RATE_LIMIT_MAX_KEYS; an address dropped from them starts afresh', async (t) => {
  // 51 addresses failing on one name would put the name under the login throttle's account ceiling.
  const app = await build(t, testEnv(t, { TRUST_PROXY: '127.0.0.1', RATE_LIMIT_LOGIN: '1', RATE_LIMIT_MAX_KEYS: '3', LOGIN_THROTTLE_ACCOUNT_FAILURES: '1000' }))
  t.equal((await loginAs(app, XFF('203.0.113.1'))).statusCode, 401)
  t.equal((await loginAs(app, XFF('203.0.113.1'))).statusCode, 429, 'spent')
  let largest = 0
  for (let i = 0; i < 50; i++) {
    t.not((await loginAs(app, XFF(`198.51.100.${i}`))).statusCode, 429)
    largest = Math.max(largest, app.rateLimitCounters.size)
  }
  t.equal(largest, 3, 'never more than 3 counters for 51 addresses')
  t.equal((await loginAs(app, XFF('203.0.113.1'))).statusCode, 401, 'the least recently used counter was dropped: a fresh budget (the price of a bound)')
})

// Two listening instances of the built service on one SQLite file and one Redis, under a prefix of the
// test's own; every key removed at the end.
async function redisFor (t: Test, prefix: string) {
  const redis = new Redis(REDIS_URL)
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    redis.disconnect()
  })
  return redis
}

t.test('with Redis, instances share the counters; every key expires', await needs('redis'), async (t) => {
  const prefix = `auth-test-${randomBytes(6).toString('hex')}:`
  const redis = await redisFor(t, prefix)
  const env: Env = testEnv(t, { REDIS_URL, REDIS_PREFIX: prefix, RATE_LIMIT_LOGIN: '4', RATE_LIMIT_REFRESH: '4', RATE_LIMIT_WINDOW: '60' })
  const bases: string[] = []
  for (let i = 0; i < 2; i++) {
    const port = await freePort()
    const service = startService(env, port)
    t.teardown(async () => { service.child.kill('SIGTERM'); await service.exited })
    await answering(`http://127.0.0.1:${port}/health/ready`, service)
    bases.push(`http://127.0.0.1:${port}`)
  }
  const [a, b] = bases
  const login = (base: string) => httpCall(base, 'POST', '/login', { body: { username: 'nobody', password: 'wrong password' } })
  const statuses = [await login(a), await login(b), await login(a), await login(b)].map((r) => r.status)
  t.same(statuses, [401, 401, 401, 401], 'four logins, split between A and B')
  const fifth = await login(a)
  t.equal(fifth.status, 429, 'the fifth is refused: A counted B\'s')
  t.ok(Number(fifth.retryAfter) >= 1 && Number(fifth.retryAfter) <= 60, `Retry-After ${fifth.retryAfter}`)
  t.equal((await login(b)).status, 429, 'and on B')
  t.equal((await httpCall(b, 'POST', '/token/refresh', { body: { refreshToken: 'rt_unknown' } })).status, 401, 'refresh counts apart')

  const keys = await redis.keys(`${prefix}rate-limit:*`) // the login throttle keeps its own (login-throttle.test.ts)
  t.same(keys.sort(), [`${prefix}rate-limit:POST:/login:127.0.0.1`, `${prefix}rate-limit:POST:/token/refresh:127.0.0.1`], 'one key a route and address, under the prefix')
  for (const key of keys) {
    const ttl = await redis.pttl(key)
    t.ok(ttl > 0 && ttl <= 60_000, `${key} expires (in ${ttl} ms)`)
  }
  t.equal(await redis.get(`${prefix}rate-limit:POST:/login:127.0.0.1`), '6', 'six logins counted in one place')
})

t.test('Redis lost: limits still apply, per instance, with one warning; no 500; back to Redis when it returns', await needs('redis'), async (t) => {
  const prefix = `auth-test-${randomBytes(6).toString('hex')}:`
  const redis = await redisFor(t, prefix)
  const target = new URL(REDIS_URL)
  const proxy = await tcpProxy(t, { host: target.hostname, port: Number(target.port || 6379) })
  const { app, lines } = await buildWithLogs(t, testEnv(t, { REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_PREFIX: prefix, RATE_LIMIT_LOGIN: '3' }))
  const key = `${prefix}rate-limit:POST:/login:127.0.0.1`
  while (app.redis!.status !== 'ready') await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal((await loginAs(app)).statusCode, 401)
  t.equal(await redis.get(key), '1', 'counted in Redis')

  proxy.cut()
  await new Promise((resolve) => setTimeout(resolve, 100))
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) {
    const started = performance.now()
    statuses.push((await loginAs(app)).statusCode)
    t.ok(performance.now() - started < 1500, 'answered without waiting for Redis')
  }
  t.same(statuses, [401, 401, 401, 429, 429, 429], 'three allowed in this instance\'s memory, then refused: still limited, never a 500')
  const warnings = lines.filter((l) => l.includes('rate limits: Redis is unavailable'))
  t.equal(warnings.length, 1, 'one warning for the outage')
  t.equal(JSON.parse(warnings[0]).level, 40, 'at warn')
  t.notMatch(warnings[0], new RegExp(String(proxy.port) + '.*@'), 'no credentials in it')

  proxy.restore()
  const back = Date.now() + 5000
  while (app.redis!.status !== 'ready' && Date.now() < back) await new Promise((resolve) => setTimeout(resolve, 50))
  await new Promise((resolve) => setTimeout(resolve, 1100)) // past the pause after a failure, if any
  t.equal((await loginAs(app)).statusCode, 401, 'counted in Redis again, where only one was counted')
  t.equal(await redis.get(key), '2')
})

t.test('a Redis that accepts connections and never answers: no wait beyond a second, still limited', async (t) => {
  const sockets = new Set<Socket>()
  const silent = createServer((socket) => { sockets.add(socket); socket.on('error', () => {}) })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); silent.close() })
  const port = (silent.address() as { port: number }).port
  const { app, lines } = await buildWithLogs(t, testEnv(t, { REDIS_URL: `redis://127.0.0.1:${port}`, RATE_LIMIT_LOGIN: '2' }))
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) {
    const started = performance.now()
    statuses.push((await loginAs(app)).statusCode)
    t.ok(performance.now() - started < 1500, `answered in ${Math.round(performance.now() - started)} ms`)
  }
  t.same(statuses, [401, 401, 429])
  t.equal(lines.filter((l) => l.includes('rate limits: Redis is unavailable')).length, 1, 'one warning')
})

t.test('Redis stops answering on a live connection: one request waits out the 1 s command timeout, the next ones do not; still limited', await needs('redis'), async (t) => {
  const prefix = `auth-test-${randomBytes(6).toString('hex')}:`
  const redis = await redisFor(t, prefix)
  const target = new URL(REDIS_URL)
  const proxy = await tcpProxy(t, { host: target.hostname, port: Number(target.port || 6379) })
  const { app, lines } = await buildWithLogs(t, testEnv(t, { REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_PREFIX: prefix, RATE_LIMIT_LOGIN: '3' }))
  while (app.redis!.status !== 'ready') await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal((await loginAs(app)).statusCode, 401)
  t.equal(await redis.get(`${prefix}rate-limit:POST:/login:127.0.0.1`), '1', 'counted in Redis')
  proxy.stall()
  const times: number[] = []
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) {
    const started = performance.now()
    statuses.push((await loginAs(app)).statusCode)
    times.push(performance.now() - started)
  }
  t.same(statuses, [401, 401, 401, 429], 'counted in this instance\'s memory from the first timeout on: three, then refused')
  t.ok(times[0] >= 900 && times[0] < 2500, `the first waited for the command timeout (${Math.round(times[0])} ms)`)
  t.ok(times.slice(1).every((ms) => ms < 500), `the next ones did not wait (${times.slice(1).map(Math.round).join(', ')} ms)`)
  t.equal(app.redis!.status, 'ready', 'the connection still looked ready throughout')
  const warnings = lines.filter((l) => l.includes('rate limits: Redis is unavailable'))
  t.equal(warnings.length, 1, 'one warning')
  t.match(warnings[0], /Command timed out/)
})
