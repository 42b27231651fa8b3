import t from 'tap'
import { addUser, bearer, build, buildWithLogs, claimsOf, greet, login, loginTokens, PASSWORD, refresh, testEnv } from './support/index.js'

t.test('GET /me describes the caller', async (t) => {
  const app = await build(t)
  const user = await addUser(app, 'alice', PASSWORD)
  const { token } = await loginTokens(app, 'alice', PASSWORD)
  const res = await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { id: user.id, username: 'alice', roles: [], createdAt: user.createdAt })
  t.equal((await app.inject({ method: 'GET', url: '/me' })).statusCode, 401)
})

t.test('GET /me/sessions lists the caller\'s sessions, the current one marked', async (t) => {
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  await addUser(app, 'bob', PASSWORD)
  await app.inject({ method: 'POST', url: '/login', headers: { 'user-agent': 'phone/1.0' }, payload: { username: 'alice', password: PASSWORD } })
  const laptop = await app.inject({ method: 'POST', url: '/login', headers: { 'user-agent': 'laptop/2.0' }, payload: { username: 'alice', password: PASSWORD } })
  await loginTokens(app, 'bob', PASSWORD)
  const res = await app.inject({ method: 'GET', url: '/me/sessions', headers: bearer(laptop.json().token) })
  t.equal(res.statusCode, 200)
  const list = res.json()
  t.equal(list.length, 2, "only alice's")
  const current = list.find((s: { current: boolean }) => s.current)
  t.equal(current.userAgent, 'laptop/2.0')
  t.equal(current.id, claimsOf<{ sid: string }>(laptop.json().token).sid)
  t.equal(list.find((s: { current: boolean }) => !s.current).userAgent, 'phone/1.0')
  t.equal(current.ip, '127.0.0.1')
  for (const key of ['createdAt', 'lastUsedAt', 'expiresAt']) t.ok(!Number.isNaN(Date.parse(current[key])), key)
})

t.test('DELETE /me/sessions/:id ends just that session', async (t) => {
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  await addUser(app, 'bob', PASSWORD)
  const a = await loginTokens(app, 'alice', PASSWORD)
  const b = await loginTokens(app, 'alice', PASSWORD)
  const bob = await loginTokens(app, 'bob', PASSWORD)
  const sid = (token: string) => claimsOf<{ sid: string }>(token).sid

  const res = await app.inject({ method: 'DELETE', url: `/me/sessions/${sid(b.token)}`, headers: bearer(a.token) })
  t.equal(res.statusCode, 204)
  t.equal((await greet(app, `Bearer ${b.token}`)).statusCode, 401, 'that session ends at once')
  t.equal((await refresh(app, b.refreshToken)).statusCode, 401)
  t.equal((await greet(app, `Bearer ${a.token}`)).statusCode, 200, 'the caller\'s own goes on')

  const again = await app.inject({ method: 'DELETE', url: `/me/sessions/${sid(b.token)}`, headers: bearer(a.token) })
  t.equal(again.statusCode, 404, 'an ended session is not there to end')
  const others = await app.inject({ method: 'DELETE', url: `/me/sessions/${sid(bob.token)}`, headers: bearer(a.token) })
  t.equal(others.statusCode, 404, "someone else's session looks like no session")
  t.equal((await greet(app, `Bearer ${bob.token}`)).statusCode, 200, 'and is untouched')
})

t.test('changing the password ends the other sessions and keeps the current one', async (t) => {
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  const current = await loginTokens(app, 'alice', PASSWORD)
  const other = await loginTokens(app, 'alice', PASSWORD)
  const change = (currentPassword: unknown, newPassword: unknown) =>
    app.inject({ method: 'PUT', url: '/me/password', headers: bearer(current.token), payload: { currentPassword, newPassword } })

  const res = await change(PASSWORD, 'a brand new passphrase')
  t.equal(res.statusCode, 204)
  t.equal((await greet(app, `Bearer ${current.token}`)).statusCode, 200, 'current session kept')
  t.equal((await refresh(app, current.refreshToken)).statusCode, 200, 'and can still refresh')
  t.equal((await greet(app, `Bearer ${other.token}`)).statusCode, 401, 'other session ended')
  t.equal((await refresh(app, other.refreshToken)).statusCode, 401)
  t.equal((await login(app, 'alice', PASSWORD)).statusCode, 401, 'old password refused')
  t.equal((await login(app, 'alice', 'a brand new passphrase')).statusCode, 200, 'new password accepted')
})

t.test('a wrong current password is 403 Invalid credentials without a challenge (the token was fine) and is logged as a failed login; bad bodies are 400', async (t) => {
  const { app, lines } = await buildWithLogs(t)
  await addUser(app, 'alice', PASSWORD)
  const { token } = await loginTokens(app, 'alice', PASSWORD)
  const put = (payload: object) => app.inject({ method: 'PUT', url: '/me/password', headers: bearer(token), payload })
  const wrong = await put({ currentPassword: 'not it at all', newPassword: 'a brand new passphrase' })
  t.equal(wrong.statusCode, 403)
  t.same(wrong.json(), { statusCode: 403, error: 'Forbidden', message: 'Invalid credentials', code: 'wrong_current_password' })
  t.equal(wrong.headers['www-authenticate'], undefined, 'no WWW-Authenticate: a client does not take it for a refused token')
  t.equal((await greet(app, `Bearer ${token}`)).statusCode, 200, 'and the token still works')
  const badToken = await app.inject({ method: 'PUT', url: '/me/password', headers: bearer(token + 'x'), payload: { currentPassword: 'not it at all', newPassword: 'a brand new passphrase' } })
  t.equal(badToken.statusCode, 401, 'a refused token is still 401')
  t.match(badToken.headers['www-authenticate'], /^Bearer /, 'with its challenge')
  t.ok(lines.some((l) => l.includes('"event":"login_failed"')), 'counted as a failed login')
  t.equal((await login(app, 'alice', PASSWORD)).statusCode, 200, 'password unchanged')

  const short = await put({ currentPassword: PASSWORD, newPassword: 'short' })
  t.equal(short.statusCode, 400)
  t.match(short.json().message, /newPassword: password must be at least 8 characters/)
  t.equal((await put({ currentPassword: PASSWORD })).statusCode, 400)
  t.equal((await put({ currentPassword: PASSWORD, newPassword: 12345678 })).statusCode, 400)
  t.equal((await login(app, 'alice', PASSWORD)).statusCode, 200, 'nothing changed')
})

t.test('a change for a user disabled after its token was checked is 401 Invalid or expired token, not the 403 of a wrong password', async (t) => {
  const app = await build(t)
  const alice = await addUser(app, 'alice', PASSWORD)
  const { token } = await loginTokens(app, 'alice', PASSWORD)
  // The disable lands between the token's check and the change's own read of the user.
  const users = app.store.users
  const findById = users.findById
  t.capture(users, 'findById', async function (this: typeof users, id: string) {
    if (id === alice.id) await app.accounts.setDisabled(id, true)
    return findById.call(this, id)
  })
  const res = await app.inject({ method: 'PUT', url: '/me/password', headers: bearer(token), payload: { currentPassword: PASSWORD, newPassword: 'a brand new passphrase' } })
  t.equal(res.statusCode, 401)
  t.same(res.json(), { statusCode: 401, error: 'Unauthorized', message: 'Invalid or expired token', code: 'invalid_token' })
  t.match(res.headers['www-authenticate'], /error="invalid_token"/)
})

t.test('signup is 404 unless enabled', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/signup', payload: { username: 'carol', password: PASSWORD } })
  t.equal(res.statusCode, 404)
  t.notOk(await app.accounts.find('carol'))
})

t.test('signup when enabled: 201, then the user can log in; case-only duplicates are 409', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true' }))
  const res = await app.inject({ method: 'POST', url: '/signup', payload: { username: 'Carol', password: PASSWORD } })
  t.equal(res.statusCode, 201)
  t.same(Object.keys(res.json()).sort(), ['id', 'username'])
  t.equal(res.json().username, 'Carol')
  t.equal((await login(app, 'carol', PASSWORD)).statusCode, 200)
  const me = (await app.inject({ method: 'GET', url: '/me', headers: bearer((await loginTokens(app, 'Carol', PASSWORD)).token) })).json()
  t.same(me.roles, [], 'signup grants no role')

  for (const name of ['carol', 'CAROL', 'Ｃａｒｏｌ']) { // the last is full-width: NFKC folds it to Carol
    const dup = await app.inject({ method: 'POST', url: '/signup', payload: { username: name, password: PASSWORD } })
    t.equal(dup.statusCode, 409, name)
    t.same(dup.json(), { statusCode: 409, error: 'Conflict', message: 'Username is already taken or too similar to an existing one', code: 'conflict' })
  }
})

t.test('signup: each malformed body is a 400 with a clear message', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true' }))
  const cases: Array<[object, RegExp]> = [
    [{ username: 'dave' }, /body must have required property 'password'/],
    [{ password: PASSWORD }, /body must have required property 'username'/],
    [{ username: 'dave', password: PASSWORD, admin: true }, /body must NOT have additional properties/],
    [{ username: 7, password: PASSWORD }, /body\/username must be string/],
    [{ username: 'da', password: PASSWORD }, /username must be 3 to 64 characters/],
    [{ username: 'd'.repeat(65), password: PASSWORD }, /username must be 3 to 64 characters/],
    [{ username: 'dave smith', password: PASSWORD }, /username may contain only/],
    [{ username: 'dave', password: 'short' }, /password must be at least 8 characters/]
  ]
  for (const [payload, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/signup', payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.match(res.json().message, message)
  }
  t.equal(await app.accounts.count(), 1, 'only the bootstrap admin exists')
})
