// Dependencies that fail and come back, cut through TCP proxies the tests own (the shared PostgreSQL and
// Redis servers are never stopped), and health that tells the truth.
import type { FastifyInstance } from 'fastify'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { addUser, build, buildWithLogs, httpCall, LOGIN_BURSTS, needs, PASSWORD, POSTGRES_SERVER, postgresDatabase, REDIS_URL, tcpProxy, testEnv, throughProxy, within, type Env } from './support/index.js'

const POSTGRES = new URL(POSTGRES_SERVER)
const ADMIN_PASSWORD = 'first operator passphrase for resilience tests'

const call = httpCall

const loginBody = (username = 'admin', password = ADMIN_PASSWORD) => ({ body: { username, password } })

async function listening (app: FastifyInstance): Promise<string> {
  return app.listen({ port: 0, host: '127.0.0.1' })
}

t.test('started with the database unreachable: it listens, live 200, ready 503; once reachable, ready and working without a restart', await needs('postgres'), async (t) => {
  const proxy = await tcpProxy(t, { host: POSTGRES.hostname, port: Number(POSTGRES.port || 5432) }, false)
  const env = testEnv(t, { DATABASE_URL: throughProxy(postgresDatabase(t), proxy.port), ADMIN_PASSWORD, DATABASE_CONNECT_TIMEOUT: '1' })
  const { app, lines } = await buildWithLogs(t, env, { ready: false })
  const base = await listening(app)
  t.equal((await call(base, 'GET', '/health/live')).status, 200, 'live')
  const ready = await call(base, 'GET', '/health/ready')
  t.equal(ready.status, 503, 'not ready')
  t.match(ready.body.reasons, [/waiting for the store|starting/])
  for (const [method, path, options] of [['POST', '/login', loginBody()], ['POST', '/token/refresh', { body: { refreshToken: 'rt_x' } }], ['GET', '/', { token: 'x.y.z' }], ['GET', '/.well-known/jwks.json', {}]] as const) {
    const res = await call(base, method, path, options)
    t.equal(res.status, 503, `${method} ${path}: 503 while starting`)
    t.ok(Number(res.retryAfter) > 0, `${method} ${path}: with Retry-After`)
  }
  await within(t, 5000, 'a log line for the store not being reachable', async () => lines.some((l) => /cannot reach the store yet \(attempt \d+\)/.test(l)))
  proxy.restore()
  await within(t, 15_000, 'ready once the proxy forwards', async () => (await call(base, 'GET', '/health/ready')).status === 200)
  const login = await call(base, 'POST', '/login', loginBody())
  t.equal(login.status, 200, 'login works, no restart')
  t.equal((await call(base, 'GET', '/', { token: login.body.token })).status, 200)
})

t.test('the database cut while running: 503 with Retry-After for what needs it, greetings still 200, no 500, nothing half-written, recovery without restart', await needs('postgres'), async (t) => {
  const direct = postgresDatabase(t)
  const proxy = await tcpProxy(t, { host: POSTGRES.hostname, port: Number(POSTGRES.port || 5432) })
  const app = await build(t, testEnv(t, { DATABASE_URL: throughProxy(direct, proxy.port), ADMIN_PASSWORD, DATABASE_CONNECT_TIMEOUT: '1', HASH_CONCURRENCY: '1', ...LOGIN_BURSTS }))
  const base = await listening(app)
  await addUser(app, 'alice', PASSWORD)
  const session = (await call(base, 'POST', '/login', loginBody('alice', PASSWORD))).body
  t.equal((await call(base, 'GET', '/', { token: session.token })).status, 200)

  // Logins in flight while the database goes away: each creates its session and refresh token, or neither.
  const inFlight = Array.from({ length: 20 }, () => call(base, 'POST', '/login', loginBody('alice', PASSWORD)))
  await new Promise((resolve) => setTimeout(resolve, 60))
  proxy.cut()
  const statuses = (await Promise.all(inFlight)).map((r) => r.status)
  t.ok(statuses.every((s) => s === 200 || s === 503), `in-flight logins: 200 or 503 (${statuses.join(' ')})`)

  const login = await call(base, 'POST', '/login', loginBody('alice', PASSWORD))
  t.equal(login.status, 503, 'login: 503 while the database is down')
  t.ok(Number(login.retryAfter) > 0, 'with Retry-After')
  const refresh = await call(base, 'POST', '/token/refresh', { body: { refreshToken: session.refreshToken } })
  t.equal(refresh.status, 503, 'refresh: 503')
  t.ok(Number(refresh.retryAfter) > 0, 'with Retry-After')
  t.equal((await call(base, 'GET', '/', { token: session.token })).status, 200, 'a greeting with a valid token: 200, from memory')
  t.equal((await call(base, 'GET', '/health/live')).status, 200, 'live')

  proxy.restore()
  await within(t, 10_000, 'login works again', async () => (await call(base, 'POST', '/login', loginBody('alice', PASSWORD))).status === 200)
  const refreshed = await call(base, 'POST', '/token/refresh', { body: { refreshToken: session.refreshToken } })
  t.equal(refreshed.status, 200, 'refresh works again')
  await within(t, 10_000, 'ready again', async () => (await call(base, 'GET', '/health/ready')).status === 200)

  // Checked on a connection of the test's own: no session without its refresh token, no token without its session.
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: direct })
  await client.connect()
  t.teardown(() => client.end())
  const orphans = await client.query(`select
    (select count(*) from sessions s where not exists (select 1 from refresh_tokens r where r.session_id = s.id))::int as sessions,
    (select count(*) from refresh_tokens r where not exists (select 1 from sessions s where s.id = r.session_id))::int as tokens`)
  t.same(orphans.rows[0], { sessions: 0, tokens: 0 }, 'nothing half-written')
})

t.test('Redis cut: revocations still cross instances through PostgreSQL\'s LISTEN, one warning, and Redis again once back', await needs('postgres', 'redis'), async (t) => {
  const redis = new URL(REDIS_URL)
  const proxy = await tcpProxy(t, { host: redis.hostname, port: Number(redis.port || 6379) })
  const shared: Env = testEnv(t, {
    DATABASE_URL: postgresDatabase(t), REDIS_PREFIX: `auth-test-${randomBytes(6).toString('hex')}:`, REVOCATION_SYNC_INTERVAL: '3600', ADMIN_PASSWORD
  })
  const a = await build(t, { ...shared, REDIS_URL })
  const aBase = await listening(a)
  const { app: b, lines } = await buildWithLogs(t, { ...shared, REDIS_URL: `redis://127.0.0.1:${proxy.port}` })
  const bBase = await listening(b)
  const token = async () => (await call(aBase, 'POST', '/login', loginBody())).body.token as string

  proxy.cut()
  await within(t, 5000, 'B noticed', async () => lines.some((l) => l.includes('hints: Redis unreachable')))
  const first = await token()
  t.equal((await call(bBase, 'GET', '/', { token: first })).status, 200)
  t.equal((await call(aBase, 'POST', '/logout', { token: first })).status, 204)
  const ms = await within(t, 1000, 'logout on A refused on B while its Redis is cut (LISTEN, polling at an hour)', async () =>
    (await call(bBase, 'GET', '/', { token: first })).status === 401)
  t.ok(ms <= 1000)
  t.equal(lines.filter((l) => l.includes('hints: Redis unreachable')).length, 1, 'one warning')
  t.same((await call(bBase, 'GET', '/health/ready')).body, { status: 'ready', degraded: ['hints: Redis unreachable, listening on PostgreSQL'] },
    'ready, saying which hint path is down')

  proxy.restore()
  await within(t, 10_000, 'B back on Redis', async () => lines.some((l) => l.includes('hints: Redis answers again')))
  const second = await token()
  t.equal((await call(bBase, 'GET', '/', { token: second })).status, 200)
  t.equal((await call(aBase, 'POST', '/logout', { token: second })).status, 204)
  await within(t, 1000, 'logout on A refused on B through Redis again', async () => (await call(bBase, 'GET', '/', { token: second })).status === 401)
  t.same((await call(bBase, 'GET', '/health/ready')).body, { status: 'ready' }, 'ready, nothing degraded')
})

// After start-up: the change feed reads the log every REVOCATION_SYNC_INTERVAL (0.5 s). While it cannot,
// what the instance believes may be stale, so readiness drops (a load balancer stops sending it requests),
// with the reason, and comes back once it has caught up. The LISTEN connection goes through the proxy too.
t.test('the database stalled after start-up: readiness 503 with its reason once the change feed is behind, 200 once it caught up', await needs('postgres'), async (t) => {
  const proxy = await tcpProxy(t, { host: POSTGRES.hostname, port: Number(POSTGRES.port || 5432) })
  // Statements wait long (30 s): the reads hang rather than fail, so only "behind" can tell.
  const app = await build(t, testEnv(t, { DATABASE_URL: throughProxy(postgresDatabase(t), proxy.port), ADMIN_PASSWORD, DATABASE_STATEMENT_TIMEOUT: '30' }))
  const base = await listening(app)
  t.same((await call(base, 'GET', '/health/ready')).body, { status: 'ready' }, 'ready')
  proxy.stall()
  const stalledAt = Date.now()
  await within(t, 9000, 'readiness 503 once the feed is behind by more than 5 s', async () => (await call(base, 'GET', '/health/ready')).status === 503)
  t.ok(Date.now() - stalledAt >= 4000, 'not before it is behind (max(5 s, 3 polls))')
  const res = await call(base, 'GET', '/health/ready')
  t.equal(res.body.status, 'not ready')
  t.match(res.body.reasons, [/^the change feed is behind: last caught up \d+ s ago$/], 'with the reason')
  t.ok(Number(res.retryAfter) > 0, 'with Retry-After')
  proxy.restore()
  await within(t, 5000, 'ready again once the feed has caught up', async () => (await call(base, 'GET', '/health/ready')).status === 200)
})

t.test('the database cut after start-up: readiness 503 within a few seconds of a failed read of the change log, 200 once it caught up', await needs('postgres'), async (t) => {
  const proxy = await tcpProxy(t, { host: POSTGRES.hostname, port: Number(POSTGRES.port || 5432) })
  const app = await build(t, testEnv(t, { DATABASE_URL: throughProxy(postgresDatabase(t), proxy.port), ADMIN_PASSWORD, DATABASE_CONNECT_TIMEOUT: '1' }))
  const base = await listening(app)
  t.equal((await call(base, 'GET', '/health/ready')).status, 200, 'ready')
  proxy.cut()
  // A failed read, then a second without catching up: sooner than the 5 s a hanging read needs.
  await within(t, 3500, 'readiness 503', async () => (await call(base, 'GET', '/health/ready')).status === 503)
  t.match((await call(base, 'GET', '/health/ready')).body.reasons, [/^the change feed is behind/])
  proxy.restore()
  await within(t, 10_000, 'ready again', async () => (await call(base, 'GET', '/health/ready')).status === 200)
})

t.test('under-pressure answers 503 with Retry-After while the event loop is held past MAX_EVENT_LOOP_DELAY', async (t) => {
  const app = await build(t, testEnv(t, { MAX_EVENT_LOOP_DELAY: '100' }))
  const base = await listening(app)
  t.equal((await call(base, 'GET', '/health/ready')).status, 200, 'ready before')
  // Hold the loop, over and over, for 2 s (a test-only stand-in for work that blocks it): under-pressure
  // samples the mean delay every second.
  const end = Date.now() + 2000
  while (Date.now() < end) {
    const stop = Date.now() + 300
    while (Date.now() < stop) { /* the event loop is held */ }
    await new Promise((resolve) => setImmediate(resolve))
  }
  const after = await call(base, 'GET', '/health/ready')
  t.equal(after.status, 503, 'under pressure: 503')
  t.ok(Number(after.retryAfter) > 0, 'with Retry-After')
  t.equal((await call(base, 'GET', '/health/live')).status, 200, 'live still answers: busy is not dead')
  await within(t, 5000, 'ready again once the loop is free', async () => (await call(base, 'GET', '/health/ready')).status === 200)
})
