import { randomBytes } from 'node:crypto'
import t from 'tap'
import { addUser, bearer, build, claimsOf, greet, login, loginTokens, PASSWORD, refresh, testEnv } from './support/index.js'

async function setup (t: Parameters<typeof build>[0]) {
  const adminPassword = randomBytes(12).toString('base64url')
  const app = await build(t, testEnv(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: adminPassword }))
  const admin = await loginTokens(app, 'root', adminPassword)
  return { app, admin }
}

t.test('the bootstrap admin has the admin role, and tokens carry roles', async (t) => {
  const { app, admin } = await setup(t)
  t.same(claimsOf<{ roles: string[] }>(admin.token).roles, ['admin'])
  const me = await app.inject({ method: 'GET', url: '/me', headers: bearer(admin.token) })
  t.same(me.json().roles, ['admin'])
})

t.test('admin routes: 401 without a token, 403 without the role', async (t) => {
  const { app } = await setup(t)
  const alice = await addUser(app, 'alice', PASSWORD)
  const { token } = await loginTokens(app, 'alice', PASSWORD)
  for (const [method, url] of [['GET', '/admin/users'], ['POST', `/admin/users/${alice.id}/disable`], ['POST', `/admin/users/${alice.id}/enable`]] as const) {
    t.equal((await app.inject({ method, url })).statusCode, 401, `${method} ${url} without a token`)
    const res = await app.inject({ method, url, headers: bearer(token) })
    t.equal(res.statusCode, 403, `${method} ${url} without the role`)
    t.same(res.json(), { statusCode: 403, error: 'Forbidden', message: 'This requires the admin role', code: 'insufficient_role' })
  }
  t.equal((await greet(app, `Bearer ${token}`)).statusCode, 200, 'alice was not disabled by her own attempt')
})

t.test('GET /admin/users lists users', async (t) => {
  const { app, admin } = await setup(t)
  await addUser(app, 'alice', PASSWORD)
  const res = await app.inject({ method: 'GET', url: '/admin/users', headers: bearer(admin.token) })
  t.equal(res.statusCode, 200)
  const users = res.json()
  t.same(users.map((u: { username: string }) => u.username).sort(), ['alice', 'root'])
  t.same(Object.keys(users[0]).sort(), ['createdAt', 'disabled', 'id', 'roles', 'username'], 'no password hash')
})

t.test('disabling a user makes their existing tokens fail at once; enabling lets them log in again', async (t) => {
  const { app, admin } = await setup(t)
  const alice = await addUser(app, 'alice', PASSWORD)
  const s1 = await loginTokens(app, 'alice', PASSWORD)
  const s2 = await loginTokens(app, 'alice', PASSWORD)
  t.equal((await greet(app, `Bearer ${s1.token}`)).statusCode, 200)

  const res = await app.inject({ method: 'POST', url: `/admin/users/${alice.id}/disable`, headers: bearer(admin.token) })
  t.equal(res.statusCode, 204)
  for (const s of [s1, s2]) {
    t.equal((await greet(app, `Bearer ${s.token}`)).statusCode, 401, 'access token refused at once')
    t.equal((await refresh(app, s.refreshToken)).statusCode, 401, 'refresh refused')
  }
  t.equal((await login(app, 'alice', PASSWORD)).statusCode, 401, 'login refused')

  t.equal((await app.inject({ method: 'POST', url: `/admin/users/${alice.id}/enable`, headers: bearer(admin.token) })).statusCode, 204)
  const again = await loginTokens(app, 'alice', PASSWORD)
  t.equal((await greet(app, `Bearer ${again.token}`)).statusCode, 200, 'a new login works')
  t.equal((await greet(app, `Bearer ${s1.token}`)).statusCode, 401, 'the old sessions stay ended')
})

t.test('an unknown user id is 404', async (t) => {
  const { app, admin } = await setup(t)
  const res = await app.inject({ method: 'POST', url: '/admin/users/nope/disable', headers: bearer(admin.token) })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { statusCode: 404, error: 'Not Found', message: 'No such user', code: 'not_found' })
})
