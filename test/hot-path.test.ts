import SQLite from 'better-sqlite3'
import t from 'tap'
import { addUser, bearer, build, greet, loginTokens, testEnv } from './support/index.js'

// Every Kysely query on SQLite prepares a statement: counting prepare() calls counts store queries.
let queries = 0
const prepare = SQLite.prototype.prepare
SQLite.prototype.prepare = function (this: SQLite.Database, ...args: Parameters<typeof prepare>) {
  queries++
  return prepare.apply(this, args)
} as typeof prepare

t.test('the authenticate hook makes no store query, revocation checks included', async (t) => {
  // Background revocation sync far away, so that only requests can cause queries.
  const app = await build(t, testEnv(t, { REVOCATION_SYNC_INTERVAL: '3600' }))
  await addUser(app, 'alice', 'correct horse battery staple')
  const live = await loginTokens(app, 'alice', 'correct horse battery staple')
  const ended = await loginTokens(app, 'alice', 'correct horse battery staple')
  await app.inject({ method: 'POST', url: '/logout', headers: bearer(ended.token) })

  const before = queries
  for (let i = 0; i < 20; i++) t.equal((await greet(app, `Bearer ${live.token}`)).statusCode, 200)
  for (let i = 0; i < 5; i++) t.equal((await greet(app, `Bearer ${ended.token}`)).statusCode, 401)
  t.equal((await greet(app, 'Bearer nonsense')).statusCode, 401)
  t.equal((await greet(app)).statusCode, 401)
  t.equal(queries - before, 0, 'no query for 27 authenticated requests')

  // The control: the counter does see queries.
  await app.inject({ method: 'GET', url: '/me', headers: bearer(live.token) })
  t.ok(queries - before > 0, 'a route that reads the store is counted')
})

t.test('revocations made by another process reach the hook through the periodic sync', async (t) => {
  const env = testEnv(t, { REVOCATION_SYNC_INTERVAL: '1' })
  const app = await build(t, env)
  const other = await build(t, env) // a second instance on the same database, e.g. the CLI
  await addUser(app, 'alice', 'correct horse battery staple')
  const { token } = await loginTokens(app, 'alice', 'correct horse battery staple')
  t.equal((await greet(app, `Bearer ${token}`)).statusCode, 200)
  await other.accounts.setDisabledByName('alice', true)
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal((await greet(app, `Bearer ${token}`)).statusCode, 401, 'refused within the sync interval')
})

t.test('revocations survive a restart', async (t) => {
  const env = testEnv(t)
  const before = await build(t, env)
  await addUser(before, 'alice', 'correct horse battery staple')
  const { token } = await loginTokens(before, 'alice', 'correct horse battery staple')
  await before.inject({ method: 'POST', url: '/logout', headers: bearer(token) })
  await before.close()
  const after = await build(t, env)
  t.equal((await greet(after, `Bearer ${token}`)).statusCode, 401, 'loaded from the store at start')
})
