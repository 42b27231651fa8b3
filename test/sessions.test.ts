import t from 'tap'
import { addUser, bearer, build, claimsOf, greet, loginTokens, PASSWORD, refresh, testEnv } from './support/index.js'

t.test('refresh rotates: a new pair, and the old refresh token is spent', async (t) => {
  const app = await build(t, testEnv(t, { REFRESH_REUSE_GRACE: '0' }))
  await addUser(app, 'alice', PASSWORD)
  const first = await loginTokens(app, 'alice', PASSWORD)

  const res = await refresh(app, first.refreshToken)
  t.equal(res.statusCode, 200)
  const second = res.json()
  t.same(Object.keys(second).sort(), ['expiresIn', 'refreshExpiresIn', 'refreshToken', 'token', 'tokenType'])
  t.not(second.refreshToken, first.refreshToken, 'a new refresh token')
  t.not(second.token, first.token, 'a new access token')
  t.equal(res.headers['cache-control'], 'no-store')
  const [a, b] = [first.token, second.token].map((tok) => claimsOf<{ sid: string }>(tok).sid)
  t.equal(a, b, 'the same session')
  t.equal((await greet(app, `Bearer ${second.token}`)).body, 'Welcome, alice!')

  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal((await refresh(app, second.refreshToken)).statusCode, 200, 'the new one works once')
  t.equal((await refresh(app, second.refreshToken)).statusCode, 401, 'and is spent after that')
})

t.test('reuse of a spent refresh token revokes the session: thief and victim both lose it', async (t) => {
  const app = await build(t, testEnv(t, { REFRESH_REUSE_GRACE: '0' }))
  await addUser(app, 'alice', PASSWORD)
  const stolen = await loginTokens(app, 'alice', PASSWORD) // the thief copies these
  const victim = (await refresh(app, stolen.refreshToken)).json() // the victim rotates as usual
  await new Promise((resolve) => setTimeout(resolve, 20))

  const reuse = await refresh(app, stolen.refreshToken)
  t.equal(reuse.statusCode, 401)
  t.same(reuse.json(), { statusCode: 401, error: 'Unauthorized', message: 'Invalid refresh token', code: 'invalid_refresh_token' })
  t.equal((await refresh(app, victim.refreshToken)).statusCode, 401, "the victim's refresh token is dead too")
  t.equal((await greet(app, `Bearer ${victim.token}`)).statusCode, 401, "the victim's access token fails at once")
  t.equal((await greet(app, `Bearer ${stolen.token}`)).statusCode, 401, "the thief's access token fails at once")

  const other = await loginTokens(app, 'alice', PASSWORD)
  t.equal((await greet(app, `Bearer ${other.token}`)).statusCode, 200, 'a new login is a new session, unaffected')
})

t.test('reuse is logged as an audit event, without the token', async (t) => {
  const { buildWithLogs } = await import('./support/index.js')
  const { app, lines } = await buildWithLogs(t, testEnv(t, { REFRESH_REUSE_GRACE: '0' }))
  await addUser(app, 'alice', PASSWORD)
  const first = await loginTokens(app, 'alice', PASSWORD)
  await refresh(app, first.refreshToken)
  await new Promise((resolve) => setTimeout(resolve, 20))
  await refresh(app, first.refreshToken)
  const event = lines.map((l) => JSON.parse(l)).find((l) => l.audit?.event === 'refresh_reuse_detected')?.audit
  t.ok(event, 'an audit event')
  t.equal(event.sessionId, claimsOf<{ sid: string }>(first.token).sid)
  t.notOk(lines.some((l) => l.includes(first.refreshToken.slice(3))), 'no refresh token in the logs')
})

t.test('two refreshes racing inside the grace window both succeed, with the same successor', async (t) => {
  const app = await build(t) // REFRESH_REUSE_GRACE defaults to a few seconds
  await addUser(app, 'alice', PASSWORD)
  const first = await loginTokens(app, 'alice', PASSWORD)
  const [x, y] = await Promise.all([refresh(app, first.refreshToken), refresh(app, first.refreshToken)])
  t.equal(x.statusCode, 200)
  t.equal(y.statusCode, 200)
  t.equal(x.json().refreshToken, y.json().refreshToken, 'one successor: the session keeps one live refresh token')
  for (const res of [x, y]) t.equal((await greet(app, `Bearer ${res.json().token}`)).statusCode, 200, 'both access tokens work')
  const late = await refresh(app, first.refreshToken)
  t.equal(late.statusCode, 200, 'still inside the window and the successor unspent, a third racer too')
  t.equal(late.json().refreshToken, x.json().refreshToken, 'with the same successor')
  t.equal((await refresh(app, x.json().refreshToken)).statusCode, 200, 'which carries on')
})

t.test('logout refuses the access token on the very next request', async (t) => {
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  const session = await loginTokens(app, 'alice', PASSWORD)
  const other = await loginTokens(app, 'alice', PASSWORD)
  t.equal((await greet(app, `Bearer ${session.token}`)).statusCode, 200, 'valid (and now cached) before')

  const out = await app.inject({ method: 'POST', url: '/logout', headers: bearer(session.token) })
  t.equal(out.statusCode, 204)
  t.equal(out.body, '')
  const after = await greet(app, `Bearer ${session.token}`)
  t.equal(after.statusCode, 401, 'refused at once, long before it expires')
  t.match(after.headers['www-authenticate'], /invalid_token/)
  t.equal((await refresh(app, session.refreshToken)).statusCode, 401, 'its refresh token is dead')
  t.equal((await greet(app, `Bearer ${other.token}`)).statusCode, 200, 'the other session lives on')
})

t.test('logout with scope all ends every session of the user', async (t) => {
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  await addUser(app, 'bob', PASSWORD)
  const sessions = [await loginTokens(app, 'alice', PASSWORD), await loginTokens(app, 'alice', PASSWORD), await loginTokens(app, 'alice', PASSWORD)]
  const bob = await loginTokens(app, 'bob', PASSWORD)
  const out = await app.inject({ method: 'POST', url: '/logout', headers: bearer(sessions[0].token), payload: { scope: 'all' } })
  t.equal(out.statusCode, 204)
  for (const s of sessions) {
    t.equal((await greet(app, `Bearer ${s.token}`)).statusCode, 401, 'access token refused')
    t.equal((await refresh(app, s.refreshToken)).statusCode, 401, 'refresh token refused')
  }
  t.equal((await greet(app, `Bearer ${bob.token}`)).statusCode, 200, "another user's session is untouched")
})

t.test('logout: bad bodies are 400, no token is 401', async (t) => {
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  const { token } = await loginTokens(app, 'alice', PASSWORD)
  const bad = await app.inject({ method: 'POST', url: '/logout', headers: bearer(token), payload: { scope: 'everything' } })
  t.equal(bad.statusCode, 400)
  t.match(bad.json().message, /body\/scope/)
  const extra = await app.inject({ method: 'POST', url: '/logout', headers: bearer(token), payload: { scope: 'all', x: 1 } })
  t.equal(extra.statusCode, 400)
  t.equal((await app.inject({ method: 'POST', url: '/logout' })).statusCode, 401)
  t.equal((await greet(app, `Bearer ${token}`)).statusCode, 200, 'the failed logouts ended nothing')
})

t.test('access tokens and refresh tokens never stand in for each other', async (t) => {
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  const { token, refreshToken } = await loginTokens(app, 'alice', PASSWORD)
  const asBearer = await greet(app, `Bearer ${refreshToken}`)
  t.equal(asBearer.statusCode, 401, 'a refresh token as Bearer')
  const asRefresh = await refresh(app, token)
  t.equal(asRefresh.statusCode, 401, 'an access token as refresh token')
  t.equal((await refresh(app, refreshToken)).statusCode, 200, 'neither attempt spent anything')
})

t.test('refresh: malformed bodies are 400 with a clear message, unknown tokens 401', async (t) => {
  const app = await build(t)
  const cases: Array<[unknown, RegExp]> = [
    [{}, /body must have required property 'refreshToken'/],
    [{ refreshToken: 42 }, /body\/refreshToken must be string/],
    [{ refreshToken: '' }, /body\/refreshToken must NOT have fewer than 1 characters/],
    [{ refreshToken: 'rt_x', extra: true }, /body must NOT have additional properties/]
  ]
  for (const [payload, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/token/refresh', payload: payload as object })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.match(res.json().message, message)
  }
  t.equal((await refresh(app, 'rt_' + 'A'.repeat(43))).statusCode, 401)
  t.equal((await refresh(app, 'x'.repeat(512))).statusCode, 401)
})

t.test('the purge deletes ended sessions and unusable refresh tokens, and nothing alive', async (t) => {
  const app = await build(t, testEnv(t, { REFRESH_REUSE_GRACE: '0' }))
  await addUser(app, 'alice', PASSWORD)
  const live = await loginTokens(app, 'alice', PASSWORD)
  const ended = await loginTokens(app, 'alice', PASSWORD)
  await refresh(app, live.refreshToken) // leaves one spent token behind
  await app.inject({ method: 'POST', url: '/logout', headers: bearer(ended.token) })
  // Age the ended session past its last access token's exp.
  const longAgo = new Date(Date.now() - 86_400_000).toISOString()
  await app.db.updateTable('sessions').set({ revoked_at: longAgo, access_expires_at: longAgo }).where('revoked_at', 'is not', null).execute()
  const count = async (table: 'sessions' | 'refresh_tokens') =>
    Number((await app.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)
  t.equal(await count('sessions'), 2)
  t.equal(await count('refresh_tokens'), 3)

  t.same(await app.sessions.purge(), { refreshTokens: 0, sessions: 1 }, 'the ended session goes, with its refresh token')
  t.equal(await count('sessions'), 1)
  t.equal(await count('refresh_tokens'), 2, "the live session's spent token is kept until it would have expired, for reuse detection")

  await app.db.updateTable('refresh_tokens').set({ expires_at: longAgo }).where('spent_at', 'is not', null).execute()
  t.same(await app.sessions.purge(), { refreshTokens: 1, sessions: 0 }, 'once past its expiry, the spent token goes too')
  t.equal(await count('refresh_tokens'), 1, "only the live session's current token is left")
  t.equal((await greet(app, `Bearer ${live.token}`)).statusCode, 200, 'the live session still works')
})
