import t from 'tap'
import { addUser, bearer, build, buildWithLogs, claimsOf, greet, loginTokens, PASSWORD, refresh, testEnv } from './support/index.js'

t.test('reuse is recognised after the purge: the spent token is kept until it would have expired', async (t) => {
  let now = Date.now()
  const { app, lines } = await buildWithLogs(t, testEnv(t, { REFRESH_REUSE_GRACE: '0', REFRESH_TOKEN_TTL: '2592000' }), { clock: () => now })
  await addUser(app, 'alice', PASSWORD)
  const stolen = await loginTokens(app, 'alice', PASSWORD) // the victim's, copied by a thief
  const thief = (await refresh(app, stolen.refreshToken)).json() // the thief rotates first
  const thiefNext = (await refresh(app, thief.refreshToken)).json() // and carries on
  now += 29 * 86_400_000 // 29 days on: spent long ago, but not yet past the 30 days they could have lived
  const purged = await app.sessions.purge()
  t.equal(purged.refreshTokens, 0, 'the purge kept the spent tokens')

  const victim = await refresh(app, stolen.refreshToken) // the victim comes back with the original
  t.equal(victim.statusCode, 401)
  const event = lines.map((l) => JSON.parse(l)).find((l) => l.audit?.event === 'refresh_reuse_detected')?.audit
  t.ok(event, 'refresh_reuse_detected is recorded')
  t.equal(event?.sessionId, claimsOf<{ sid: string }>(stolen.token).sid)
  t.equal((await refresh(app, thiefNext.refreshToken)).statusCode, 401, "the thief's chain is refused")
  t.equal((await greet(app, `Bearer ${thiefNext.token}`)).statusCode, 401, "and the thief's access token")
  t.equal((await greet(app, `Bearer ${stolen.token}`)).statusCode, 401, "and the victim's")
})

t.test('the same refresh token sent 20 times at once: one successor for all, one live refresh token', async (t) => {
  const app = await build(t) // REFRESH_REUSE_GRACE defaults to 5 s
  await addUser(app, 'alice', PASSWORD)
  const first = await loginTokens(app, 'alice', PASSWORD)
  const sid = claimsOf<{ sid: string }>(first.token).sid
  const results = await Promise.all(Array.from({ length: 20 }, () => refresh(app, first.refreshToken)))
  t.same(results.map((r) => r.statusCode), Array(20).fill(200), 'all inside the grace window')
  const successors = new Set(results.map((r) => r.json().refreshToken))
  t.equal(successors.size, 1, 'every 200 carries the same successor')
  const live = await app.db.selectFrom('refresh_tokens').select('token_hash').where('session_id', '=', sid).where('spent_at', 'is', null).execute()
  t.equal(live.length, 1, 'the session has one live refresh token')
  for (const res of results.slice(0, 3)) t.equal((await greet(app, `Bearer ${res.json().token}`)).statusCode, 200, 'each access token works')

  const [successor] = successors
  t.equal((await refresh(app, successor)).statusCode, 200, 'the successor refreshes')
  const late = await refresh(app, first.refreshToken)
  t.equal(late.statusCode, 401, 'the original, once its successor is spent, is reuse')
  t.equal((await greet(app, `Bearer ${results[0].json().token}`)).statusCode, 401, 'and the session is revoked')
})

t.test('a refresh token is refused after its expiry', async (t) => {
  let now = Date.now()
  const app = await build(t, testEnv(t, { REFRESH_TOKEN_TTL: '3600' }), { clock: () => now })
  await addUser(app, 'alice', PASSWORD)
  const first = await loginTokens(app, 'alice', PASSWORD)
  now += 3_599_000
  const second = await refresh(app, first.refreshToken)
  t.equal(second.statusCode, 200, 'a second before expiry it works, and the session slides on')
  now += 3_601_000
  t.equal((await refresh(app, second.json().refreshToken)).statusCode, 401, 'an hour and a second after its issue it is refused')
})

t.test('logout, then a restart with a shorter ACCESS_TOKEN_TTL: the token stays refused until its own exp', async (t) => {
  let now = Date.now()
  const env = testEnv(t, { ACCESS_TOKEN_TTL: '3600', JWT_CLOCK_TOLERANCE: '5' })
  const first = await build(t, env, { clock: () => now })
  await addUser(first, 'alice', PASSWORD)
  const { token } = await loginTokens(first, 'alice', PASSWORD)
  const { exp, sid } = claimsOf<{ exp: number, sid: string }>(token)
  t.equal((await first.inject({ method: 'POST', url: '/logout', headers: bearer(token) })).statusCode, 204)
  await first.close()

  const second = await build(t, { ...env, ACCESS_TOKEN_TTL: '10' }, { clock: () => now })
  t.equal((await greet(second, `Bearer ${token}`)).statusCode, 401, 'refused after the restart')
  const start = now
  for (const at of [start + 60_000, start + 1_800_000, exp * 1000 - 1000]) {
    now = at
    await second.sessions.loadRevocations() // prunes as of the moved clock
    t.equal((await greet(second, `Bearer ${token}`)).statusCode, 401, `still refused ${Math.round((exp * 1000 - now) / 1000)} s before its exp`)
  }
  now = exp * 1000 + 6000
  await second.sessions.loadRevocations()
  t.notOk(second.revocations.has(sid), 'forgotten once the token has expired, tolerance included')
})
