import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { AUDIT_EVENTS } from '../src/observability/audit.js'
import { bearer, build, buildWithLogs, claimsOf, cli, greet, loginTokens, PASSWORD, refresh, testEnv, type Tokens } from './support/index.js'

type Line = Record<string, any> & { audit?: Record<string, any> }
const UA = 'audit-test/1.0 (+https://example.test)'
const sidOf = (token: string) => claimsOf<{ sid: string }>(token).sid
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// Events whose own tests record them (the login throttle's, the rate limits').
const ELSEWHERE = new Set(['login_throttled', 'rate_limited'])

// `actual` has exactly the fields of `expected`, each equal to it or matching it (String: any string).
function exactly (t: Test, actual: Record<string, unknown> | undefined, expected: Record<string, unknown>, what: string) {
  t.same(Object.keys(actual ?? {}).sort(), Object.keys(expected).sort(), `${what}: its fields, no more`)
  t.match(actual, expected, `${what}: their values`)
}

t.test('every audit event of the HTTP flow appears once, with its fields; the log holds no password or token', async (t) => {
  let now = Date.now()
  const adminPassword = randomBytes(12).toString('base64url')
  const { app, lines } = await buildWithLogs(t, testEnv(t, {
    SIGNUP_ENABLED: 'true',
    REFRESH_REUSE_GRACE: '0',
    ADMIN_USERNAME: 'root',
    ADMIN_PASSWORD: adminPassword,
    KEY_ROTATION_INTERVAL: '3600',
    KEY_PUBLISH_DELAY: '60',
    REVOCATION_SYNC_INTERVAL: '1'
  }), { clock: () => now })

  // The lines logged since the last call: every audit record among them, and the access lines' request ids.
  let mark = 0
  const parsed = () => lines.map((l) => JSON.parse(l) as Line)
  const since = () => {
    const fresh = lines.slice(mark).map((l) => JSON.parse(l) as Line)
    mark = lines.length
    return { audits: fresh.filter((l) => l.audit !== undefined), reqIds: fresh.filter((l) => l.msg === 'request').map((l) => l.reqId) }
  }
  const seen = new Set<string>()
  // One request made one record of `event`, and no other: its fields exactly `fields` plus the request's.
  const once = (what: string, event: string, fields: Record<string, unknown>, level = 30) => {
    const { audits, reqIds } = since()
    t.equal(audits.length, 1, `${what}: one audit record`)
    const [line] = audits
    if (line === undefined) return undefined
    seen.add(line.audit!.event)
    t.equal(line.level, level, `${what}: level`)
    t.equal(reqIds.length, 1, `${what}: one request`)
    exactly(t, line.audit, { event, ip: '127.0.0.1', userAgent: UA, reqId: reqIds[0], ...fields }, `${what}: ${event}`)
    return line.audit
  }
  const post = (url: string, payload?: object, token?: string) =>
    app.inject({ method: 'POST', url, payload, headers: { 'user-agent': UA, ...(token !== undefined && bearer(token)) } })
  const tokensOf = (res: { statusCode: number, json: () => Tokens }) => {
    t.equal(res.statusCode, 200)
    const tokens = res.json()
    issued.push(tokens.token, tokens.refreshToken)
    return tokens
  }
  const issued: string[] = []

  // Start-up: the first admin.
  const root = await app.accounts.find('root')
  const boot = parsed().filter((l) => l.audit !== undefined)
  t.same(boot.map((l) => l.audit), [{ event: 'admin_created', userId: root!.id, actor: 'service', reason: 'admin-password' }], 'admin_created, once')
  seen.add('admin_created')
  since()

  const password = 'first long passphrase 1'
  const signup = await post('/signup', { username: 'alice', password })
  t.equal(signup.statusCode, 201)
  const alice = signup.json().id
  once('signup', 'user_created', { userId: alice })

  const first = tokensOf(await post('/login', { username: 'alice', password }))
  once('login', 'login_succeeded', { userId: alice, sessionId: sidOf(first.token) })

  const wrongPassword = 'wrong long passphrase 2'
  t.equal((await post('/login', { username: 'alice', password: wrongPassword })).statusCode, 401)
  once('wrong password', 'login_failed', { userId: alice, reason: 'wrong_password' })

  // A name typed into a failed login is never logged: a keyed hash, the same for the same name.
  const typedName = 'Hunter2-Typed-As-Name'
  const strangerPassword = 'a password for nobody'
  const hashes: string[] = []
  for (const name of [typedName, typedName.toLowerCase(), 'someone-else']) {
    const res = await post('/login', { username: name, password: strangerPassword })
    t.equal(res.statusCode, 401)
    t.same(res.json(), { statusCode: 401, error: 'Unauthorized', message: 'Invalid credentials', code: 'invalid_credentials' }, 'the answer of any failed login')
    const lineOf = lines.slice(mark)
    const record = once(`unknown user ${name}`, 'login_failed', { usernameHash: String, reason: 'unknown_user' })
    t.match(record?.usernameHash, /^[\w-]{22}$/, 'a 128-bit keyed hash')
    t.notOk(lineOf.some((l) => l.toLowerCase().includes(name.toLowerCase())), 'the name is on no line')
    t.notOk(Object.values(record ?? {}).some((v) => String(v).toLowerCase() === name.toLowerCase()), 'no field is the name')
    hashes.push(record?.usernameHash)
  }
  t.equal(hashes[0], hashes[1], 'the same name (differently cased) gives the same hash')
  t.not(hashes[0], hashes[2], 'another name another hash')
  t.equal(hashes[0], app.audit.nameHash(typedName), 'the service\'s keyed hash of the name')

  const second = tokensOf(await post('/token/refresh', { refreshToken: first.refreshToken }))
  once('refresh', 'token_refreshed', { userId: alice, sessionId: sidOf(first.token) })
  now += 1000 // past REFRESH_REUSE_GRACE (0)
  t.equal((await post('/token/refresh', { refreshToken: first.refreshToken })).statusCode, 401)
  once('reuse', 'refresh_reuse_detected', { userId: alice, sessionId: sidOf(first.token), reason: 'session-revoked' }, 40)
  t.equal((await greet(app, `Bearer ${second.token}`)).statusCode, 401, 'the reused session is over')
  since()

  const sessions: Record<'b' | 'c' | 'd', Tokens> = {} as any
  for (const k of ['b', 'c', 'd'] as const) {
    sessions[k] = tokensOf(await post('/login', { username: 'alice', password }))
    once(`login ${k}`, 'login_succeeded', { userId: alice, sessionId: sidOf(sessions[k].token) })
  }
  t.equal((await post('/logout', undefined, sessions.b.token)).statusCode, 204)
  once('logout', 'logged_out', { userId: alice, sessionId: sidOf(sessions.b.token), reason: 'logout', sessions: 1 })

  const ended = await app.inject({ method: 'DELETE', url: `/me/sessions/${sidOf(sessions.c.token)}`, headers: { 'user-agent': UA, ...bearer(sessions.d.token) } })
  t.equal(ended.statusCode, 204)
  once('DELETE /me/sessions/:id', 'logged_out', { userId: alice, sessionId: sidOf(sessions.c.token), actorSessionId: sidOf(sessions.d.token), reason: 'session-ended' })

  const newPassword = 'second long passphrase 3'
  const put = (payload: object) => app.inject({ method: 'PUT', url: '/me/password', payload, headers: { 'user-agent': UA, ...bearer(sessions.d.token) } })
  t.equal((await put({ currentPassword: wrongPassword, newPassword })).statusCode, 403)
  once('wrong current password', 'login_failed', { userId: alice, sessionId: sidOf(sessions.d.token), reason: 'wrong_current_password', route: '/me/password' })
  t.equal((await put({ currentPassword: password, newPassword })).statusCode, 204)
  once('password change', 'password_changed', { userId: alice, sessionId: sidOf(sessions.d.token) })

  tokensOf(await post('/login', { username: 'alice', password: newPassword }))
  since()
  t.equal((await post('/logout', { scope: 'all' }, sessions.d.token)).statusCode, 204)
  once('logout all', 'logged_out', { userId: alice, sessionId: sidOf(sessions.d.token), reason: 'logout-all', sessions: 2 })

  const admin = tokensOf(await post('/login', { username: 'root', password: adminPassword }))
  since()
  for (const action of ['disable', 'enable'] as const) {
    t.equal((await post(`/admin/users/${alice}/${action}`, undefined, admin.token)).statusCode, 204)
    once(`admin ${action}`, `user_${action}d`, { userId: alice, actor: root!.id, actorSessionId: sidOf(admin.token) })
  }

  // The scheduled rotation: no request, the service's own doing.
  const before = app.keys.states().map((k) => k.kid)
  now += 3_600_000
  let rotated: Line | undefined
  for (let i = 0; i < 100 && rotated === undefined; i++) {
    await sleep(50)
    rotated = parsed().find((l) => l.audit?.event === 'key_rotated')
  }
  const fresh = app.keys.states().map((k) => k.kid).filter((kid) => !before.includes(kid))
  t.equal(fresh.length, 1, 'a key was made')
  exactly(t, rotated?.audit, { event: 'key_rotated', kid: fresh[0], activatesAt: String, actor: 'service', reason: 'scheduled' }, 'key_rotated')
  t.equal(parsed().filter((l) => l.audit?.event === 'key_rotated').length, 1, 'once')
  seen.add('key_rotated')

  t.same([...seen].sort(), AUDIT_EVENTS.filter((e) => !ELSEWHERE.has(e) && e !== 'role_changed' && e !== 'session_revoked').sort(),
    'every event of the service (role_changed and session_revoked are the CLI\'s) was seen')

  // Nothing secret anywhere in the whole log of the flow.
  const text = lines.join('\n')
  const secrets = [password, newPassword, wrongPassword, strangerPassword, adminPassword, ...issued]
  for (const secret of secrets) t.notOk(text.includes(secret), 'no password or token in the log')
  for (const token of issued) {
    const part = token.startsWith('rt_') ? token.slice(3) : token.split('.')[2]
    t.notOk(text.includes(part), 'not even a token\'s secret part')
  }
})

// The CLI's records: one JSON line each on stderr.
const auditsOf = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line)
  .filter((l) => l.audit !== undefined)

t.test('the CLI records its changes on stderr; a role change ends the sessions; the last admin keeps admin', async (t) => {
  const adminPassword = randomBytes(12).toString('base64url')
  const env = testEnv(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: adminPassword, REVOCATION_SYNC_INTERVAL: '1', KEY_PUBLISH_DELAY: '600' })
  const run = async (args: string[], stdin = '', code = 0) => {
    const res = await cli(env, args, stdin)
    t.equal(res.code, code, `${args.join(' ')}: exit ${code}${res.code === code ? '' : ' ' + res.stderr}`)
    for (const secret of [adminPassword, 'his first long secret', 'his second long secret']) {
      t.notOk((res.stdout + res.stderr).includes(secret), 'no password in the output')
    }
    return { ...res, audits: auditsOf(res.stderr) }
  }
  const onlyRecord = (res: { audits: Line[] }, what: string, audit: Record<string, unknown>) => {
    t.equal(res.audits.length, 1, `${what}: one audit line`)
    t.match(res.audits[0], { level: 30, time: Number, msg: 'audit' }, `${what}: the log line's shape`)
    exactly(t, res.audits[0]?.audit, audit, what)
  }

  const added = await run(['users', 'add', 'bob'], 'his first long secret\n')
  const app = await build(t, env)
  const bob = (await app.accounts.find('bob'))!
  const root = (await app.accounts.find('root'))!
  onlyRecord(added, 'add', { event: 'user_created', userId: bob.id, actor: 'cli' })

  const session = await loginTokens(app, 'bob', 'his first long secret')
  const given = await run(['users', 'roles', 'bob', '--add', 'ops'])
  onlyRecord(given, 'roles --add', { event: 'role_changed', userId: bob.id, role: 'ops', change: 'added', actor: 'cli' })
  t.match(given.stdout, /role "ops" given to "bob"; their sessions ended; roles now: ops/)
  t.equal((await refresh(app, session.refreshToken)).statusCode, 401, 'the role change ended the session: its refresh token is refused at once')
  await sleep(1500)
  t.equal((await greet(app, `Bearer ${session.token}`)).statusCode, 401, 'and its access token after the next sync')
  const withOps = await loginTokens(app, 'bob', 'his first long secret')
  t.same(claimsOf<{ roles: string[] }>(withOps.token).roles, ['ops'], 'a new login carries the role')
  t.equal((await run(['users', 'roles', 'bob'])).stdout, 'ops\n', 'roles lists them')

  const again = await run(['users', 'roles', 'bob', '--add=ops'])
  t.equal(again.audits.length, 0, 'nothing changed, nothing recorded')
  t.match(again.stdout, /already has the role "ops": nothing changed/)
  t.equal((await greet(app, `Bearer ${withOps.token}`)).statusCode, 200, 'and no session ended')

  onlyRecord(await run(['users', 'roles', 'bob', '--remove', 'ops']), 'roles --remove',
    { event: 'role_changed', userId: bob.id, role: 'ops', change: 'removed', actor: 'cli' })
  t.equal((await refresh(app, withOps.refreshToken)).statusCode, 401, 'removing a role ends the sessions too')

  // The last enabled admin keeps admin.
  const last = await run(['users', 'roles', 'root', '--remove', 'admin'], '', 1)
  t.match(last.stderr, /the last enabled admin cannot lose the admin role/)
  t.equal(last.audits.length, 0, 'a refusal is no change')
  t.same((await app.accounts.find('root'))!.roles, ['admin'])
  await run(['users', 'roles', 'bob', '--add', 'admin'])
  await run(['users', 'roles', 'root', '--remove', 'admin'])
  t.same((await app.accounts.find('root'))!.roles, [], 'with another enabled admin, one may lose it')
  t.match((await run(['users', 'roles', 'bob', '--remove', 'admin'], '', 1)).stderr, /last enabled admin/, 'then the other is the last')
  t.match((await run(['users', 'disable', 'bob'], '', 1)).stderr, /last enabled admin cannot be disabled/)
  await run(['users', 'roles', 'root', '--add', 'admin'])

  onlyRecord(await run(['users', 'set-password', 'bob'], 'his second long secret\n'), 'set-password', { event: 'password_changed', userId: bob.id, actor: 'cli' })
  onlyRecord(await run(['users', 'disable', 'bob']), 'disable', { event: 'user_disabled', userId: bob.id, actor: 'cli' })
  onlyRecord(await run(['users', 'enable', 'bob']), 'enable', { event: 'user_enabled', userId: bob.id, actor: 'cli' })
  const rotated = await run(['keys', 'rotate'])
  const kid = /^new key (\S+) /.exec(rotated.stdout)?.[1]
  onlyRecord(rotated, 'keys rotate', { event: 'key_rotated', kid, activatesAt: String, actor: 'cli' })
  t.equal((await run(['users', 'list'])).audits.length, 0, 'reading records nothing')
  t.not(root.id, bob.id)

  // Bad input.
  for (const [args, code, message] of [
    [['users', 'roles'], 2, /users roles needs a user name/],
    [['users', 'roles', 'bob', '--add'], 2, /at most one --add <role> or --remove <role>/],
    [['users', 'roles', 'bob', '--add='], 2, /at most one/],
    [['users', 'roles', 'bob', '--grant', 'ops'], 2, /at most one/],
    [['users', 'roles', 'bob', '--add', 'ops', '--remove', 'admin'], 2, /at most one/],
    [['users', 'roles', 'bob', '--add', 'Ops,admin'], 1, /a role is a lower-case letter/],
    [['users', 'roles', 'nobody', '--add', 'ops'], 1, /no user named "nobody"/],
    [['users', 'roles', 'nobody'], 1, /no user named "nobody"/]
  ] as Array<[string[], number, RegExp]>) {
    const res = await run(args, '', code)
    t.match(res.stderr, message)
    t.equal(res.audits.length, 0)
  }
})

t.test('two admins losing admin at once, or one losing it while the other is disabled: one of them stays', async (t) => {
  const app = await build(t, testEnv(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: randomBytes(12).toString('base64url') }))
  await app.accounts.create('second', PASSWORD, ['admin'])
  const enabledAdmins = async () => (await app.accounts.list()).filter((u) => !u.disabled && u.roles.includes('admin')).length
  for (let round = 0; round < 5; round++) {
    const both = await Promise.allSettled([app.accounts.changeRole('root', { remove: 'admin' }), app.accounts.changeRole('second', { remove: 'admin' })])
    t.equal(both.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}: one removal went through`)
    t.equal(await enabledAdmins(), 1, 'one enabled admin left')
    for (const name of ['root', 'second']) await app.accounts.changeRole(name, { add: 'admin' })

    const second = (await app.accounts.find('second'))!
    const mixed = await Promise.allSettled([app.accounts.changeRole('root', { remove: 'admin' }), app.accounts.setDisabled(second.id, true)])
    t.equal(mixed.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}: a removal and a disable, one went through`)
    t.equal(await enabledAdmins(), 1, 'one enabled admin left')
    await app.accounts.setDisabled(second.id, false)
    await app.accounts.changeRole('root', { add: 'admin' })
  }
})
