// Hints between instances whatever subset of them has Redis: two listening instances on one PostgreSQL
// database, one on the real Redis, the other on a Redis that hangs without closing (a TCP proxy the test
// owns, stalled) or on a listener that accepts and never answers. Polling is set to an hour, so whatever
// crosses within 2 s was carried by a hint. The instance without a working Redis says so once in its log
// and in its readiness (still 200: one bad Redis must not take every instance out of a load balancer).
import type { FastifyInstance } from 'fastify'
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { addUser, build, buildWithLogs, httpCall, needs, PASSWORD, postgresDatabase, REDIS_URL, tcpProxy, testEnv, throughProxy, within, type Env } from './support/index.js'

const REDIS = new URL(REDIS_URL)

interface Instance { app: FastifyInstance, url: string }

function sharedEnv (t: Test): Env {
  return testEnv(t, {
    DATABASE_URL: postgresDatabase(t),
    REDIS_PREFIX: `auth-test-${randomBytes(6).toString('hex')}:`,
    REVOCATION_SYNC_INTERVAL: '3600'
  })
}

async function listening (app: FastifyInstance): Promise<Instance> {
  return { app, url: await app.listen({ port: 0, host: '127.0.0.1' }) }
}

const status = async (i: Instance, token: string) => (await httpCall(i.url, 'GET', '/', { token })).status
const ready = (i: Instance) => httpCall(i.url, 'GET', '/health/ready')

// The log lines of the hint subscriber at warn level.
function hintWarnings (lines: string[]): string[] {
  return lines.map((l) => JSON.parse(l) as { level: number, msg?: string })
    .filter((l) => l.level === 40 && l.msg?.startsWith('hints:')).map((l) => l.msg!)
}

// A logout through `writer` refused by `reader` within 2 s, for a token issued by the reader (A: its Redis
// works, so logins never wait for a Redis command timeout).
async function logoutCrosses (t: Test, login: Instance, writer: Instance, reader: Instance, name: string) {
  const res = await httpCall(login.url, 'POST', '/login', { body: { username: 'alice', password: PASSWORD } })
  t.equal(res.status, 200, `${name}: logged in`)
  const token = res.body.token as string
  t.equal(await status(reader, token), 200, `${name}: accepted by the reader`)
  t.equal((await httpCall(writer.url, 'POST', '/logout', { token })).status, 204, `${name}: logged out`)
  await within(t, 2000, `${name}: refused by the reader`, async () => await status(reader, token) === 401)
}

async function pair (t: Test, bRedisUrl: string) {
  const env = sharedEnv(t)
  const a = await listening(await build(t, { ...env, REDIS_URL }))
  const { app, lines } = await buildWithLogs(t, { ...env, REDIS_URL: bRedisUrl })
  const b = await listening(app)
  await addUser(a.app, 'alice', PASSWORD)
  return { a, b, lines }
}

t.test('Redis stalled for B: logouts cross both ways within 2 s, one warning, readiness 200 saying the hints are degraded, and Redis again once it answers', await needs('postgres', 'redis'), async (t) => {
  const proxy = await tcpProxy(t, { host: REDIS.hostname, port: Number(REDIS.port || 6379) })
  const { a, b, lines } = await pair(t, `redis://127.0.0.1:${proxy.port}`)
  await logoutCrosses(t, a, b, a, 'before the stall, B → A')

  proxy.stall()
  // At once, before anything could notice the stall: no path may depend on noticing it.
  await logoutCrosses(t, a, b, a, 'stalled writer B → healthy reader A')
  await logoutCrosses(t, a, a, b, 'healthy writer A → stalled reader B')

  await within(t, 6000, 'B warns that its Redis stalled', async () => hintWarnings(lines).length > 0)
  t.match(hintWarnings(lines)[0], /Redis stalled.*listening on PostgreSQL/)
  const degraded = await ready(b)
  t.equal(degraded.status, 200, 'B still ready: it hears every change through PostgreSQL')
  t.same(degraded.body, { status: 'ready', degraded: ['hints: Redis stalled, listening on PostgreSQL'] }, 'and says what is degraded')
  t.same((await ready(a)).body, { status: 'ready' }, 'A: nothing degraded')
  // A few reconnection attempts into the stall (each times out), and some more traffic both ways.
  await new Promise((resolve) => setTimeout(resolve, 3000))
  await logoutCrosses(t, a, b, a, 'still stalled, B → A')
  await logoutCrosses(t, a, a, b, 'still stalled, A → B')
  t.equal(hintWarnings(lines).length, 1, `one warning from the hint subscriber (${hintWarnings(lines).join(' | ')})`)

  proxy.restore()
  await within(t, 10_000, 'B back on Redis', async () => lines.some((l) => l.includes('hints: Redis answers again')))
  t.same((await ready(b)).body, { status: 'ready' }, 'nothing degraded any more')
  await logoutCrosses(t, a, b, a, 'after the stall, B → A')
  await logoutCrosses(t, a, a, b, 'after the stall, A → B')
  t.equal(hintWarnings(lines).length, 1, 'still one warning')
})

// B reaches PostgreSQL and Redis each through a proxy the test owns; A directly.
async function pairBehindProxies (t: Test) {
  const env = sharedEnv(t)
  const pgUrl = new URL(env.DATABASE_URL!)
  const pgProxy = await tcpProxy(t, { host: pgUrl.hostname, port: Number(pgUrl.port || 5432) })
  const redisProxy = await tcpProxy(t, { host: REDIS.hostname, port: Number(REDIS.port || 6379) })
  const a = await listening(await build(t, { ...env, REDIS_URL }))
  const { app, lines } = await buildWithLogs(t, { ...env, DATABASE_URL: throughProxy(env.DATABASE_URL!, pgProxy.port), REDIS_URL: `redis://127.0.0.1:${redisProxy.port}` })
  const b = await listening(app)
  await addUser(a.app, 'alice', PASSWORD)
  return { a, b, lines, pgProxy, redisProxy }
}

// Both of B's hint paths stalled, and polling an hour: B hears no revocation any more, so it must leave
// the load balancer (it said 200 "listening on PostgreSQL" while that connection was stalled too).
t.test('PostgreSQL and Redis both stalled for B, polling an hour: B\'s readiness 503 within seconds saying no hint path works; after they answer again logouts cross within 2 s and B is ready', await needs('postgres', 'redis'), async (t) => {
  const { a, b, pgProxy, redisProxy } = await pairBehindProxies(t)
  await logoutCrosses(t, a, a, b, 'before the stall, A → B')
  await new Promise((resolve) => setTimeout(resolve, 500)) // idle: nothing of a handshake still waiting
  pgProxy.stall()
  redisProxy.stall()
  await within(t, 8000, 'B not ready', async () => (await ready(b)).status === 503)
  const res = await ready(b)
  t.equal(res.status, 503)
  t.ok(Number(res.retryAfter) > 0, 'with Retry-After')
  t.ok((res.body.reasons as string[]).some((r) => /^no hint path works \(PostgreSQL stalled and Redis stalled\): polling every 3600 s is too slow$/.test(r)), `says why (${JSON.stringify(res.body)})`)
  t.equal((await ready(a)).status, 200, 'A still ready')

  pgProxy.restore()
  redisProxy.restore()
  await within(t, 20_000, 'B ready again', async () => (await ready(b)).status === 200)
  await logoutCrosses(t, a, a, b, 'after the stall, A → B')
  await logoutCrosses(t, a, b, a, 'after the stall, B → A')
})

// A lost LISTEN makes B read the change log at once: a store it cannot reach shows in readiness within
// seconds (it said 200 "PostgreSQL unreachable, listening on Redis" until something else made it read).
t.test('PostgreSQL cut for B, Redis fine, polling an hour: B\'s readiness 503 within seconds (the change feed cannot be read), and 200 again once it can', await needs('postgres', 'redis'), async (t) => {
  const { a, b, pgProxy } = await pairBehindProxies(t)
  await logoutCrosses(t, a, a, b, 'before the cut, A → B')
  pgProxy.cut()
  await within(t, 8000, 'B not ready', async () => (await ready(b)).status === 503)
  t.match((await ready(b)).body, { status: 'not ready', reasons: [/^the change feed is behind/] })
  pgProxy.restore()
  await within(t, 20_000, 'B ready again', async () => (await ready(b)).status === 200)
  await logoutCrosses(t, a, a, b, 'after the cut, A → B')
})

// Accepts connections and never sends a byte (a port that is not Redis, a server hung before its first reply).
async function muteListener (t: Test): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => { sockets.add(socket); socket.on('error', () => {}) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  return (server.address() as { port: number }).port
}

t.test('B\'s REDIS_URL a listener that accepts and never answers: logouts cross both ways within 2 s, one warning, readiness 200 and degraded', await needs('postgres', 'redis'), async (t) => {
  const port = await muteListener(t)
  const { a, b, lines } = await pair(t, `redis://127.0.0.1:${port}`)
  await logoutCrosses(t, a, b, a, 'mute-Redis writer B → reader A')
  await logoutCrosses(t, a, a, b, 'writer A → mute-Redis reader B')
  await within(t, 6000, 'B warns that its Redis does not answer', async () => hintWarnings(lines).length > 0)
  t.match(hintWarnings(lines)[0], /Redis stalled.*listening on PostgreSQL/)
  const degraded = await ready(b)
  t.equal(degraded.status, 200, 'B ready')
  t.same(degraded.body, { status: 'ready', degraded: ['hints: Redis stalled, listening on PostgreSQL'] })
  await new Promise((resolve) => setTimeout(resolve, 3000))
  t.equal(hintWarnings(lines).length, 1, `one warning (${hintWarnings(lines).join(' | ')})`)
})

t.test('SQLite and a Redis that stalls: one warning, readiness 200 saying polling carries the news, and Redis again once it answers', await needs('redis'), async (t) => {
  const proxy = await tcpProxy(t, { host: REDIS.hostname, port: Number(REDIS.port || 6379) })
  const prefix = `auth-test-${randomBytes(6).toString('hex')}:`
  const { app, lines } = await buildWithLogs(t, testEnv(t, { REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_PREFIX: prefix }))
  const i = await listening(app)
  t.same((await ready(i)).body, { status: 'ready' })
  // Subscribed, and idle: nothing of the handshake is still waiting for an answer when the stall begins.
  const subscribers = () => execFileSync('redis-cli', ['-h', REDIS.hostname, '-p', REDIS.port || '6379', 'pubsub', 'numsub', `${prefix}changes`], { encoding: 'utf8' })
  await within(t, 5000, 'subscribed', async () => subscribers().trim().endsWith('\n1'))
  await new Promise((resolve) => setTimeout(resolve, 500))
  proxy.stall()
  await within(t, 6000, 'the stall noticed', async () => hintWarnings(lines).length > 0)
  t.match(hintWarnings(lines)[0], /^hints: Redis stalled \(.+\): following changes by polling every 0.5 s until it answers again$/)
  t.same((await ready(i)).body, { status: 'ready', degraded: ['hints: Redis stalled, following changes by polling every 0.5 s'] })
  proxy.restore()
  await within(t, 10_000, 'Redis again', async () => (await ready(i)).body.degraded === undefined)
  t.ok(lines.some((l) => l.includes('hints: Redis answers again: catching up from the store')), 'said so')
  t.equal(hintWarnings(lines).length, 1, 'one warning')
})

// The CLI tells running instances of its change through Redis (with PostgreSQL, NOTIFY does it anyway):
// best effort, so a Redis that never answers must not hold it (it waited for the handshake forever).
t.test('the CLI with a REDIS_URL that accepts and never answers: the change is made and it exits 0 (it used to wait forever)', async (t) => {
  const port = await muteListener(t)
  const env = testEnv(t, { REDIS_URL: `redis://127.0.0.1:${port}`, KEY_PUBLISH_DELAY: '600' })
  const app = await build(t, env) // makes the store and the first key
  const before = app.keys.jwks().keys.length
  await app.close()
  // spawnSync's own timeout ends a CLI that hangs, so that the test fails rather than waits. Generous: the
  // CLI takes a few seconds to start on a busy machine, and gives Redis 3 s to answer.
  const run = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js'), 'keys', 'rotate'], {
    env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 45_000
  })
  t.equal(run.signal, null, 'not ended by the test\'s timeout')
  t.equal(run.status, 0, `exit 0 (${run.stderr})`)
  t.match(run.stdout, /^new key /, 'the key was made')
  const again = await build(t, env)
  t.equal(again.keys.jwks().keys.length, before + 1, 'and is in the store')
})
