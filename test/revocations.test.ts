import t from 'tap'
import { RevocationList } from '../src/sessions/revocations.js'
import { addUser, bearer, build, loginTokens, testEnv } from './support/index.js'

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
