import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { addUser, bearer, build, claimsOf, cli, greet, login, loginTokens, PASSWORD, refresh, testEnv, type Env, type Tokens, LOGIN_BURSTS } from './support/index.js'

// A credential change (the user's own password change, an operator's reset, a disable) racing requests
// made with the old state: 40 of them, one every 25 ms, the change sent after the 10th. Once the change
// has returned, nothing those requests obtained may work, whatever the interleaving.
const NEW_PASSWORD = 'a brand new passphrase'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

type Change = 'password change' | 'operator reset' | 'operator reset by the CLI' | 'disable'
type Racer = 'login' | 'refresh'

async function setup (t: Parameters<typeof build>[0]) {
  const adminPassword = randomBytes(12).toString('base64url')
  // The CLI (a process of its own) reaches the server's revocation list through the store, every second.
  const env: Env = testEnv(t, { ...LOGIN_BURSTS, ADMIN_USERNAME: 'root', ADMIN_PASSWORD: adminPassword, REVOCATION_SYNC_INTERVAL: '1' })
  const app = await build(t, env)
  const alice = await addUser(app, 'alice', PASSWORD)
  const root = await loginTokens(app, 'root', adminPassword)
  const changer = await loginTokens(app, 'alice', PASSWORD) // the session that changes the password
  return { app, env, alice, root, changer }
}

function change (kind: Change, s: Awaited<ReturnType<typeof setup>>): Promise<number | null> {
  switch (kind) {
    case 'password change':
      return s.app.inject({ method: 'PUT', url: '/me/password', headers: bearer(s.changer.token), payload: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD } })
        .then((res) => res.statusCode)
    case 'operator reset': // what the CLI's users set-password runs, in this process: a tighter interleaving
      return s.app.accounts.setPassword('alice', NEW_PASSWORD).then(() => 0)
    case 'operator reset by the CLI':
      return cli(s.env, ['users', 'set-password', 'alice'], `${NEW_PASSWORD}\n`).then((res) => res.code)
    case 'disable':
      return s.app.inject({ method: 'POST', url: `/admin/users/${s.alice.id}/disable`, headers: bearer(s.root.token) }).then((res) => res.statusCode)
  }
}

async function openSessions (app: FastifyInstance, userId: string): Promise<string[]> {
  const rows = await app.db.selectFrom('sessions').select('id').where('user_id', '=', userId).where('revoked_at', 'is', null).execute()
  return rows.map((r) => r.id)
}

async function race (t: Parameters<typeof build>[0], kind: Change, racer: Racer) {
  const s = await setup(t)
  const { app } = s
  const before: Tokens[] = []
  if (racer === 'refresh') for (let i = 0; i < 40; i++) before.push(await loginTokens(app, 'alice', PASSWORD))

  const racing: Array<Promise<LightMyRequestResponse>> = []
  let changed: Promise<number | null> | undefined
  for (let i = 0; i < 40; i++) {
    racing.push(racer === 'login' ? login(app, 'alice', PASSWORD) : refresh(app, before[i].refreshToken))
    if (i === 9) changed = change(kind, s)
    await sleep(25)
  }
  t.equal(await changed, kind.startsWith('operator reset') ? 0 : 204, `the ${kind} succeeded`)
  const results = await Promise.all(racing)
  t.ok(results.every((r) => r.statusCode === 200 || r.statusCode === 401), 'every racer got 200 or 401, never a 500')
  const obtained = results.filter((r) => r.statusCode === 200).map((r) => r.json() as Tokens)
  t.comment(`${kind} vs ${racer}: ${obtained.length} of 40 racers got tokens`)
  if (kind === 'operator reset by the CLI') await sleep(1500) // the server hears of the CLI's revocations at its next sync

  let working = 0
  for (const tokens of obtained) {
    if ((await greet(app, `Bearer ${tokens.token}`)).statusCode !== 401) working++
    if ((await refresh(app, tokens.refreshToken)).statusCode !== 401) working++
  }
  t.equal(working, 0, `no access or refresh token obtained by a racing ${racer} works after the ${kind}`)
  const keep = kind === 'password change' ? [claimsOf<{ sid: string }>(s.changer.token).sid] : []
  t.same(await openSessions(app, s.alice.id), keep, kind === 'password change' ? 'only the changer\'s session is open' : 'no session is open')

  if (kind === 'password change') {
    t.equal((await greet(app, `Bearer ${s.changer.token}`)).statusCode, 200, 'the session that changed the password keeps working')
    t.equal((await refresh(app, s.changer.refreshToken)).statusCode, 200, 'and can refresh')
  }
  if (kind === 'disable') {
    t.equal((await app.inject({ method: 'POST', url: `/admin/users/${s.alice.id}/enable`, headers: bearer(s.root.token) })).statusCode, 204)
    for (const tokens of obtained) t.equal((await refresh(app, tokens.refreshToken)).statusCode, 401, 'enabling again revives no racing session')
  } else {
    t.equal((await login(app, 'alice', PASSWORD)).statusCode, 401, 'the old password is refused')
    t.equal((await login(app, 'alice', NEW_PASSWORD)).statusCode, 200, 'the new one works')
  }
}

for (const kind of ['password change', 'operator reset', 'operator reset by the CLI', 'disable'] as const) {
  for (const racer of ['login', 'refresh'] as const) {
    t.test(`${kind} racing 40 ${racer}s with the old state: nothing they obtained works afterwards`, (t) => race(t, kind, racer))
  }
}

t.test('a rehash on login never overwrites a password changed meanwhile', async (t) => {
  const app = await build(t, testEnv(t, LOGIN_BURSTS))
  const alice = await addUser(app, 'alice', PASSWORD)
  // A hash from before normalisation: the next login rehashes it, unless the credentials changed first.
  await app.db.updateTable('users').set({ password_normalized: 0 }).where('id', '=', alice.id).execute()
  const current = await loginTokens(app, 'alice', PASSWORD)
  await app.db.updateTable('users').set({ password_normalized: 0 }).where('id', '=', alice.id).execute()
  const logins = Array.from({ length: 5 }, () => login(app, 'alice', PASSWORD))
  const changed = await app.inject({ method: 'PUT', url: '/me/password', headers: bearer(current.token), payload: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD } })
  t.equal(changed.statusCode, 204)
  await Promise.all(logins)
  t.equal((await login(app, 'alice', NEW_PASSWORD)).statusCode, 200, 'the new password stands')
  t.equal((await login(app, 'alice', PASSWORD)).statusCode, 401, 'the old one was not written back')
})

t.test('the last enabled admin cannot be disabled, through the API or the CLI', async (t) => {
  const adminPassword = randomBytes(12).toString('base64url')
  const env = testEnv(t, { ...LOGIN_BURSTS, ADMIN_USERNAME: 'root', ADMIN_PASSWORD: adminPassword })
  const app = await build(t, env)
  const root = await app.accounts.find('root')
  const { token } = await loginTokens(app, 'root', adminPassword)

  const self = await app.inject({ method: 'POST', url: `/admin/users/${root!.id}/disable`, headers: bearer(token) })
  t.equal(self.statusCode, 409)
  t.same(self.json(), { statusCode: 409, error: 'Conflict', message: 'the last enabled admin cannot be disabled', code: 'conflict' })
  const viaCli = await cli(env, ['users', 'disable', 'root'])
  t.equal(viaCli.code, 1)
  t.match(viaCli.stderr, /the last enabled admin cannot be disabled/)
  t.equal((await greet(app, `Bearer ${token}`)).statusCode, 200, 'still enabled, still logged in')

  // With a second admin, one of them may go; then the other is the last.
  const second = await app.accounts.create('second', PASSWORD, ['admin'])
  t.equal((await app.inject({ method: 'POST', url: `/admin/users/${second.id}/disable`, headers: bearer(token) })).statusCode, 204)
  t.equal((await app.inject({ method: 'POST', url: `/admin/users/${root!.id}/disable`, headers: bearer(token) })).statusCode, 409)
  t.equal((await app.inject({ method: 'POST', url: `/admin/users/${second.id}/enable`, headers: bearer(token) })).statusCode, 204)
  const bySecond = await loginTokens(app, 'second', PASSWORD)
  t.equal((await app.inject({ method: 'POST', url: `/admin/users/${root!.id}/disable`, headers: bearer(bySecond.token) })).statusCode, 204,
    'with another enabled admin, the first can be disabled')
  t.equal((await cli(env, ['users', 'disable', 'second'])).code, 1, 'and then the second is the last')
})

// A password change proves the current password, then hashes the new one (slow, and slower under load),
// then commits. Whatever ended its session or changed the credentials meanwhile wins: the late change is
// refused, never committed over it.
async function slowChange (app: FastifyInstance, token: string, newPassword: string) {
  // Hold the (single) hashing slot with wrong-password logins, so the change waits in the queue.
  const blockers = Array.from({ length: 6 }, () => login(app, 'alice', 'not the password'))
  const change = app.inject({ method: 'PUT', url: '/me/password', headers: bearer(token), payload: { currentPassword: PASSWORD, newPassword } })
  await sleep(30)
  return { change, blockers }
}

t.test('a password change whose session is ended while it is in flight is refused, not committed', async (t) => {
  const app = await build(t, testEnv(t, { ...LOGIN_BURSTS, HASH_CONCURRENCY: '1' }))
  await addUser(app, 'alice', PASSWORD)
  const victim = await loginTokens(app, 'alice', PASSWORD)
  const thief = await loginTokens(app, 'alice', PASSWORD)
  for (const end of ['DELETE /me/sessions/:id', 'POST /logout'] as const) {
    const thiefNow = end === 'POST /logout' ? await loginTokens(app, 'alice', PASSWORD) : thief
    const { change, blockers } = await slowChange(app, thiefNow.token, 'the thief chose this')
    const ended = end === 'POST /logout'
      ? await app.inject({ method: 'POST', url: '/logout', headers: bearer(thiefNow.token) })
      : await app.inject({ method: 'DELETE', url: `/me/sessions/${claimsOf<{ sid: string }>(thiefNow.token).sid}`, headers: bearer(victim.token) })
    t.equal(ended.statusCode, 204, `${end} ends the thief's session while its change is in flight`)
    const late = await change
    await Promise.all(blockers)
    t.equal(late.statusCode, 401, `${end}: the late change is refused`)
    t.match(late.headers['www-authenticate'], /invalid_token/)
    t.equal((await greet(app, `Bearer ${victim.token}`)).statusCode, 200, `${end}: the victim's session lives on`)
    t.equal((await login(app, 'alice', 'the thief chose this')).statusCode, 401, `${end}: the thief's password was never set`)
    t.equal((await login(app, 'alice', PASSWORD)).statusCode, 200, `${end}: the password is unchanged`)
  }
})

t.test('two password changes in flight at once: one wins, the other is refused', async (t) => {
  const app = await build(t, testEnv(t, { ...LOGIN_BURSTS, HASH_CONCURRENCY: '1' }))
  await addUser(app, 'alice', PASSWORD)
  const a = await loginTokens(app, 'alice', PASSWORD)
  const b = await loginTokens(app, 'alice', PASSWORD)
  const [ra, rb] = await Promise.all([
    app.inject({ method: 'PUT', url: '/me/password', headers: bearer(a.token), payload: { currentPassword: PASSWORD, newPassword: 'first new password' } }),
    app.inject({ method: 'PUT', url: '/me/password', headers: bearer(b.token), payload: { currentPassword: PASSWORD, newPassword: 'second new password' } })
  ])
  t.same([ra.statusCode, rb.statusCode].sort(), [204, 401], 'one 204, one 401')
  const [winner, password] = ra.statusCode === 204 ? [a, 'first new password'] : [b, 'second new password']
  const loser = winner === a ? b : a
  t.equal((await greet(app, `Bearer ${winner.token}`)).statusCode, 200, "the winner's session carries on")
  t.equal((await greet(app, `Bearer ${loser.token}`)).statusCode, 401, "the loser's session is ended")
  t.equal((await login(app, 'alice', password)).statusCode, 200, "the winner's password is the password")
})

t.test('a password change in flight when the user is disabled is refused, and enabling revives nothing', async (t) => {
  const adminPassword = randomBytes(12).toString('base64url')
  const app = await build(t, testEnv(t, { ...LOGIN_BURSTS, HASH_CONCURRENCY: '1', ADMIN_USERNAME: 'root', ADMIN_PASSWORD: adminPassword }))
  const alice = await addUser(app, 'alice', PASSWORD)
  const root = await loginTokens(app, 'root', adminPassword)
  const thief = await loginTokens(app, 'alice', PASSWORD)
  const { change, blockers } = await slowChange(app, thief.token, 'the thief chose this')
  t.equal((await app.inject({ method: 'POST', url: `/admin/users/${alice.id}/disable`, headers: bearer(root.token) })).statusCode, 204)
  t.equal((await change).statusCode, 401, 'the late change is refused')
  await Promise.all(blockers)
  t.equal((await app.inject({ method: 'POST', url: `/admin/users/${alice.id}/enable`, headers: bearer(root.token) })).statusCode, 204)
  t.equal((await login(app, 'alice', 'the thief chose this')).statusCode, 401, "the thief's password was never set")
  t.equal((await login(app, 'alice', PASSWORD)).statusCode, 200, 'the old one stands')
})
