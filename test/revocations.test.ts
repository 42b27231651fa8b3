import t from 'tap'
import { RevocationList } from '../src/sessions/revocations.js'
import { addUser, bearer, build, buildWithLogs, loginTokens, testEnv } from './support/index.js'

t.test('a revocation is kept until the moment given, and never shortened', async (t) => {
  const list = new RevocationList()
  const now = Date.now()
  list.add('session', now + 65_000) // the last token's exp + JWT_CLOCK_TOLERANCE
  list.add('session', now + 10_000)
  list.prune(now + 64_000)
  t.ok(list.has('session'), 'inside the tolerance after the last possible exp')
  list.prune(now + 65_000)
  t.notOk(list.has('session'), 'dropped once no token of it can pass')
})

t.test('the service keeps revocations for ACCESS_TOKEN_TTL plus JWT_CLOCK_TOLERANCE', async (t) => {
  let now = Date.now()
  const app = await build(t, testEnv(t, { ACCESS_TOKEN_TTL: '60', JWT_CLOCK_TOLERANCE: '5' }), { clock: () => now })
  await addUser(app, 'alice', 'correct horse battery staple')
  const { token } = await loginTokens(app, 'alice', 'correct horse battery staple')
  await app.inject({ method: 'POST', url: '/logout', headers: bearer(token) })
  const sid = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sid
  now += 62_000
  await app.sessions.loadRevocations() // prunes as of the moved clock
  t.ok(app.revocations.has(sid), 'still refused between exp and exp + tolerance')
  now += 4_000
  await app.sessions.loadRevocations()
  t.notOk(app.revocations.has(sid), 'forgotten after that')
})

t.test('entries of the change log older than a day are purged every SESSION_PURGE_INTERVAL; newer ones are kept', async (t) => {
  let now = Date.now()
  const { app, lines } = await buildWithLogs(t, testEnv(t, { SESSION_PURGE_INTERVAL: '1' }), { clock: () => now })
  await addUser(app, 'alice', 'correct horse battery staple')
  const { token } = await loginTokens(app, 'alice', 'correct horse battery staple')
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(token) })).statusCode, 204)
  const logged = await app.store.changes.after(0, 100)
  t.ok(logged.some((c) => c.kind === 'session-revoked'), 'the logout is in the change log')
  now += 23 * 3600_000
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal((await app.store.changes.after(0, 100)).length, logged.length, 'less than a day old: kept')
  now += 2 * 3600_000
  const deadline = Date.now() + 10_000
  while ((await app.store.changes.after(0, 100)).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  t.same(await app.store.changes.after(0, 100), [], 'more than a day old: purged')
  t.ok(lines.some((l) => l.includes('purged old entries of the change log')), 'and logged')
})
