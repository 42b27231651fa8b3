// Several instances that behave as one: two apps, each listening on its own loopback port, sharing one
// PostgreSQL database (and one Redis, with a key prefix of the test's own). Polling is set to an hour, so
// whatever reaches the other instance within a second was carried by a hint (Redis or NOTIFY) and read
// from the store's change log.
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { addUser, build, claimsOf, httpCall, needs, PASSWORD, postgresDatabase, REDIS_URL, tcpProxy, testEnv, within, type Env } from './support/index.js'
import { MIGRATIONS } from '../src/store/migrations.js'

const ADMIN_PASSWORD = 'first operator passphrase for scale-out tests'

function sharedEnv (t: Test, options: { redis: boolean, overrides?: Env } = { redis: true }): Env {
  return testEnv(t, {
    DATABASE_URL: postgresDatabase(t),
    ...(options.redis && { REDIS_URL, REDIS_PREFIX: `auth-test-${randomBytes(6).toString('hex')}:` }),
    REVOCATION_SYNC_INTERVAL: '3600',
    REFRESH_REUSE_GRACE: '0',
    ADMIN_PASSWORD,
    ...options.overrides
  })
}

interface Instance { app: FastifyInstance, url: string }

async function instance (t: Test, env: Env, clock?: () => number): Promise<Instance> {
  const app = await build(t, env, { clock })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url }
}

const call = (i: Instance, method: string, path: string, options: { token?: string, body?: unknown } = {}) => httpCall(i.url, method, path, options)

const login = async (i: Instance, username: string, password = PASSWORD) => {
  const res = await call(i, 'POST', '/login', { body: { username, password } })
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body as { token: string, refreshToken: string }
}
const greetingStatus = async (i: Instance, token: string) => (await call(i, 'GET', '/', { token })).status

async function pair (t: Test, redis: boolean) {
  const env = sharedEnv(t, { redis })
  const a = await instance(t, env)
  const b = await instance(t, env)
  await addUser(a.app, 'alice', PASSWORD)
  return { env, a, b }
}

for (const redis of [true, false]) {
  const via = redis ? 'PostgreSQL and Redis' : 'PostgreSQL alone (LISTEN/NOTIFY)'

  t.test(`${via}: a token from A works on B; a logout on B is refused on A within 1 s`, await needs('postgres', redis && 'redis'), async (t) => {
    const { a, b } = await pair(t, redis)
    t.not(a.url, b.url)
    const { token } = await login(a, 'alice')
    t.equal(await greetingStatus(b, token), 200, 'logged in on A, used on B')
    t.equal((await call(b, 'POST', '/logout', { token })).status, 204)
    t.equal(await greetingStatus(b, token), 401, 'refused at once where it logged out')
    await within(t, 1000, 'refused on A', async () => await greetingStatus(a, token) === 401)
  })

  t.test(`${via}: a user disabled on A is refused on B within 1 s`, await needs('postgres', redis && 'redis'), async (t) => {
    const { a, b } = await pair(t, redis)
    const { token } = await login(b, 'alice')
    t.equal(await greetingStatus(b, token), 200)
    const admin = await login(a, 'admin', ADMIN_PASSWORD)
    const { sub } = claimsOf<{ sub: string }>(token)
    t.equal((await call(a, 'POST', `/admin/users/${sub}/disable`, { token: admin.token })).status, 204)
    await within(t, 1000, 'refused on B', async () => await greetingStatus(b, token) === 401)
    t.equal((await call(b, 'POST', '/login', { body: { username: 'alice', password: PASSWORD } })).status, 401, 'and cannot log in there')
  })

  t.test(`${via}: refresh-token reuse across instances ends the session on both`, await needs('postgres', redis && 'redis'), async (t) => {
    const { a, b } = await pair(t, redis)
    const first = await login(a, 'alice')
    const rotated = await call(b, 'POST', '/token/refresh', { body: { refreshToken: first.refreshToken } })
    t.equal(rotated.status, 200, 'refreshed on B')
    await new Promise((resolve) => setTimeout(resolve, 1100)) // past the grace window (0 s, whole seconds)
    const replay = await call(a, 'POST', '/token/refresh', { body: { refreshToken: first.refreshToken } })
    t.equal(replay.status, 401, 'the spent token presented again on A is refused')
    t.equal((await call(b, 'POST', '/token/refresh', { body: { refreshToken: rotated.body.refreshToken } })).status, 401,
      'and the thief\'s or victim\'s successor on B too: the session is over')
    await within(t, 1000, 'every access token of the session refused on A and B', async () =>
      await greetingStatus(a, first.token) === 401 && await greetingStatus(b, rotated.body.token) === 401 &&
      await greetingStatus(a, rotated.body.token) === 401 && await greetingStatus(b, first.token) === 401)
  })

  t.test(`${via}: both serve the same JWKS, and a rotation on A reaches B`, await needs('postgres', redis && 'redis'), async (t) => {
    const { a, b } = await pair(t, redis)
    const jwks = async (i: Instance) => (await call(i, 'GET', '/.well-known/jwks.json')).body
    t.same(await jwks(a), await jwks(b), 'the same keys')
    const rotated = await a.app.keys.rotate()
    await within(t, 1000, 'the new key published by B', async () =>
      (await jwks(b)).keys.some((k: { kid: string }) => k.kid === rotated.kid))
    t.same(await jwks(a), await jwks(b), 'the same keys again')
  })
}

t.test('migrations run by two instances starting at the same moment on an empty database', await needs('postgres'), async (t) => {
  const env = sharedEnv(t, { redis: false })
  const [a, b] = await Promise.all([instance(t, env), instance(t, env)])
  t.ok(a && b, 'both started')
  const applied = await a.app.db.selectFrom('kysely_migration' as never).select(['name' as never]).execute()
  t.equal(applied.length, new Set(applied.map((r) => (r as { name: string }).name)).size, 'each migration recorded once')
  t.equal(applied.length, MIGRATIONS.length, 'all of them')
  t.same(await a.app.keys.jwks(), await b.app.keys.jwks(), 'one first signing key between them')
  t.equal(a.app.keys.jwks().keys.length, 1)
  await addUser(a.app, 'alice', PASSWORD)
  const { token } = await login(b, 'alice')
  t.equal(await greetingStatus(a, token), 200)
})

// Clocks that differ by the configured tolerance (120 s here: a skew measured between real hosts).
for (const firstKeyBy of ['ahead', 'behind'] as const) {
  t.test(`clocks 120 s apart: the first key, made by the instance ${firstKeyBy}, is used by both at once; logouts cross within 1 s`, await needs('postgres', 'redis'), async (t) => {
    const env = sharedEnv(t, { redis: true, overrides: { JWT_CLOCK_TOLERANCE: '120' } })
    const ahead = () => Date.now() + 120_000
    const first = firstKeyBy === 'ahead' ? await instance(t, env, ahead) : await instance(t, env)
    const second = firstKeyBy === 'ahead' ? await instance(t, env) : await instance(t, env, ahead)
    const [fast, slow] = firstKeyBy === 'ahead' ? [first, second] : [second, first]
    await addUser(fast.app, 'alice', PASSWORD)
    t.equal(fast.app.keys.jwks().keys.length, 1, 'one key')
    for (const [signer, verifier, name] of [[fast, slow, 'ahead → behind'], [slow, fast, 'behind → ahead']] as const) {
      const { token } = await login(signer, 'alice')
      t.equal(await greetingStatus(verifier, token), 200, `${name}: signed by one, accepted by the other`)
      t.equal((await call(signer, 'POST', '/logout', { token })).status, 204)
      await within(t, 1000, `${name}: logout refused by the other`, async () => await greetingStatus(verifier, token) === 401)
    }
  })
}

t.test('messages published on the Redis channel by a stranger change nothing the instances believe', await needs('postgres', 'redis'), async (t) => {
  const env = sharedEnv(t, { redis: true })
  const a = await instance(t, env)
  await addUser(a.app, 'alice', PASSWORD)
  const { token } = await login(a, 'alice')
  const { sid } = claimsOf<{ sid: string }>(token)
  const keysBefore = a.app.keys.jwks()
  const stranger = new Redis(REDIS_URL)
  t.teardown(() => stranger.disconnect())
  const channel = `${env.REDIS_PREFIX}changes`
  const forged = [
    JSON.stringify({ kind: 'session-revoked', subject: sid, until: new Date(Date.now() + 3_600_000).toISOString() }),
    JSON.stringify({ kind: 'signing-keys', kid: 'forged', publicKey: '-----BEGIN PUBLIC KEY-----' }),
    JSON.stringify({ cursor: -1 }), '99999999', 'reload', '', 'x'.repeat(100_000)
  ]
  for (const message of forged) await stranger.publish(channel, message)
  for (let i = 0; i < 500; i++) stranger.publish(channel, String(i)).catch(() => {})
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(await greetingStatus(a, token), 200, 'the session is still live')
  t.notOk(a.app.revocations.has(sid))
  t.same(a.app.keys.jwks(), keysBefore, 'the keys are the same')
  // A real change still arrives, after the flood.
  t.equal((await call(a, 'POST', '/logout', { token })).status, 204)
  const b = await instance(t, env)
  const second = await login(b, 'alice')
  t.equal((await call(b, 'POST', '/logout', { token: second.token })).status, 204)
  await within(t, 1000, 'a real logout still reaches A', async () => await greetingStatus(a, second.token) === 401)
})

// SQLite: processes sharing one file follow the change log by polling (REVOCATION_SYNC_INTERVAL, 0.5 s by
// default). A writer whose clock is behind used to go unseen (the sync compared its timestamps).
t.test('SQLite, one file, clocks 120 s apart: a logout through the instance behind is refused by the other within 1 s', async (t) => {
  const env = testEnv(t, { JWT_CLOCK_TOLERANCE: '120' })
  const ahead = await instance(t, env, () => Date.now() + 120_000)
  const behind = await instance(t, env)
  await addUser(ahead.app, 'alice', PASSWORD)
  for (const [via, other] of [[behind, ahead], [ahead, behind]] as const) {
    const { token } = await login(other, 'alice')
    t.equal(await greetingStatus(via, token), 200)
    t.equal((await call(via, 'POST', '/logout', { token })).status, 204)
    await within(t, 1000, 'refused by the other', async () => await greetingStatus(other, token) === 401)
  }
})

t.test('SQLite and Redis: after its Redis connection comes back, an instance catches up from the store on what it missed', await needs('redis'), async (t) => {
  // SQLite shared by both, so that nothing but Redis (and polling, set to an hour) could carry the news:
  // with PostgreSQL, its LISTEN is the fallback while Redis is away (test/resilience.test.ts).
  const env = testEnv(t, { REDIS_URL, REDIS_PREFIX: `auth-test-${randomBytes(6).toString('hex')}:`, REVOCATION_SYNC_INTERVAL: '3600' })
  const redis = new URL(REDIS_URL)
  const proxy = await tcpProxy(t, { host: redis.hostname, port: Number(redis.port || 6379) })
  const a = await instance(t, env)
  const b = await instance(t, { ...env, REDIS_URL: `redis://127.0.0.1:${proxy.port}` })
  await addUser(a.app, 'alice', PASSWORD)
  const { token } = await login(a, 'alice')
  t.equal(await greetingStatus(b, token), 200)
  proxy.cut()
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal((await call(a, 'POST', '/logout', { token })).status, 204, 'logged out on A while B cannot hear')
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(await greetingStatus(b, token), 200, 'B has not heard (no hint, polling at an hour): the gap is real')
  proxy.restore()
  await within(t, 3000, 'B refuses the token once reconnected (ioredis retries within 2 s)', async () => await greetingStatus(b, token) === 401)
})
