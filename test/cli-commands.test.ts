// The CLI as people and scripts use it: help on every command, usage errors (exit 2, the command's usage),
// refusals and failures in one line on stderr (exit 1, never a stack), and the commands that are not about
// users: sessions, migrate, config check.
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import t, { type Test } from 'tap'
import { build, cli, freePort, greet, loginTokens, refresh, testEnv, type Env } from './support/index.js'

const COMMANDS = [
  ['users', 'add'], ['users', 'list'], ['users', 'lookalikes'], ['users', 'disable'], ['users', 'enable'], ['users', 'set-password'], ['users', 'roles'],
  ['sessions', 'list'], ['sessions', 'revoke'], ['keys', 'list'], ['keys', 'rotate'], ['migrate'], ['config', 'check']
]
const GROUPS = ['users', 'sessions', 'keys', 'config']

// Exactly one line on stderr, and no stack frame anywhere.
function oneLine (t: Test, res: { stdout: string, stderr: string }, what: string) {
  t.equal(res.stderr.trimEnd().split('\n').length, 1, `${what}: one line on stderr (${JSON.stringify(res.stderr)})`)
  t.notMatch(res.stdout + res.stderr, /^\s+at /m, `${what}: no stack`)
}

t.test('--help, -h and help on the CLI, every group and every command: usage on stdout, exit 0', async (t) => {
  const env = testEnv(t)
  const forms: Array<[string[], RegExp]> = [
    [['--help'], /^usage: auth-service COMMAND/], [['-h'], /^usage: auth-service COMMAND/], [['help'], /^usage: auth-service COMMAND/]
  ]
  for (const group of GROUPS) {
    const usage = new RegExp(`^usage: auth-service ${group} COMMAND\\n`)
    forms.push([[group, '--help'], usage], [['help', group], usage])
  }
  for (const words of COMMANDS) {
    const usage = new RegExp(`^usage: auth-service ${words.join(' ')}\\b[^\\n]*\\n\\n\\S`) // the usage line, then the details
    forms.push([[...words, '--help'], usage], [['help', ...words], usage])
    if (words[0] === 'users' || words.length === 1) forms.push([[...words, '-h'], usage]) // -h is --help: a few suffice
  }
  forms.push([['users', 'add', 'bob', '--help'], /^usage: auth-service users add NAME\n/])
  forms.push([['users', 'roles', 'bob', '--add', 'x', '--help'], /^usage: auth-service users roles NAME/])
  // A few at a time: each is a process.
  const results = new Map<string[], Awaited<ReturnType<typeof cli>>>()
  for (let i = 0; i < forms.length; i += 4) {
    await Promise.all(forms.slice(i, i + 4).map(async ([args]) => { results.set(args, await cli(env, args)) }))
  }
  for (const [args, usage] of forms) {
    const res = results.get(args)!
    t.equal(res.code, 0, `${args.join(' ')}: exit 0`)
    t.match(res.stdout, usage, `${args.join(' ')}: its usage`)
    t.equal(res.stderr, '', `${args.join(' ')}: nothing on stderr`)
  }
  const top = await cli(env, ['--help'])
  for (const words of COMMANDS) t.match(top.stdout, `  ${words.join(' ')}`, `the overview lists ${words.join(' ')}`)
  t.match(top.stdout, /Exit codes: 0 done; 1 refused or failed/)
})

t.test('usage errors: exit 2, with the usage of the command concerned on stderr', async (t) => {
  const env = testEnv(t)
  const cases: Array<[string[], RegExp, RegExp]> = [
    [[], /no command given/, /usage: auth-service COMMAND/],
    [['frobnicate'], /unknown command: frobnicate/, /usage: auth-service COMMAND/],
    [['--frobnicate'], /unknown option: --frobnicate/, /usage: auth-service COMMAND/],
    [['help', 'users', 'frobnicate'], /unknown command: users frobnicate/, /usage: auth-service COMMAND/],
    [['frobnicate', '--help'], /unknown command: frobnicate/, /usage: auth-service COMMAND/],
    [['users'], /users needs a command/, /usage: auth-service users COMMAND/],
    [['users', 'frobnicate'], /unknown command: users frobnicate/, /usage: auth-service users COMMAND/],
    [['sessions', 'frobnicate'], /unknown command: sessions frobnicate/, /usage: auth-service sessions COMMAND/],
    [['users', 'list', '--all'], /users list takes no arguments/, /usage: auth-service users list\n/],
    [['users', 'lookalikes', 'admin'], /users lookalikes takes no arguments/, /usage: auth-service users lookalikes\n/],
    [['users', 'roles', 'bob', '--grant', 'x'], /at most one --add/, /usage: auth-service users roles NAME/],
    [['sessions', 'revoke'], /takes one session id/, /usage: auth-service sessions revoke SESSION_ID/],
    [['sessions', 'list', 'a', 'b'], /at most a user name/, /usage: auth-service sessions list \[NAME\]/],
    [['keys', 'list', '--verbose'], /keys list takes no arguments/, /usage: auth-service keys list/],
    [['migrate', 'now'], /migrate takes no arguments/, /usage: auth-service migrate/],
    [['config', 'check', '--strict'], /config check takes no arguments/, /usage: auth-service config check/]
  ]
  for (const [args, message, usage] of cases) {
    const res = await cli(env, args)
    const name = args.join(' ') || '(nothing)'
    t.equal(res.code, 2, `${name}: exit 2`)
    t.match(res.stderr, new RegExp(`^error: [^\\n]*${message.source}`), `${name}: the error first`)
    t.match(res.stderr, usage, `${name}: the usage`)
    t.equal(res.stdout, '', `${name}: nothing on stdout`)
  }
})

t.test('refusals and a bad environment: exit 1, one line, no stack', async (t) => {
  const env = testEnv(t)
  const cases: Array<[Env, string[], RegExp]> = [
    [env, ['sessions', 'list', 'nobody'], /^error: no user named "nobody"$/],
    [env, ['sessions', 'revoke', 'no-such-session'], /^error: no session with id "no-such-session"$/],
    [env, ['users', 'roles', 'nobody'], /^error: no user named "nobody"$/],
    [{ ...env, ACCESS_TOKEN_TTL: 'abc' }, ['users', 'list'], /^error: env\/ACCESS_TOKEN_TTL must be integer$/],
    [{ ...env, JWT_ALGORITHM: 'HS256' }, ['keys', 'list'], /^error: env\/JWT_SECRET is required when JWT_ALGORITHM is HS256$/],
    [{ ...env, TRUST_PROXY: 'bad' }, ['config', 'check'], /^error: env\/TRUST_PROXY must be/],
    [{ ...env, DATABASE_URL: 'mysql://x' }, ['migrate'], /^error: env\/DATABASE_URL must match pattern/]
  ]
  for (const [e, args, message] of cases) {
    const res = await cli(e, args)
    t.equal(res.code, 1, `${args.join(' ')}: exit 1`)
    t.match(res.stderr.trimEnd(), message, `${args.join(' ')}: the reason`)
    oneLine(t, res, args.join(' '))
  }
})

t.test('an unreachable PostgreSQL: one line naming it (password masked), exit 1, within seconds', async (t) => {
  const password = randomBytes(9).toString('hex')
  const closed = await freePort()
  for (const args of [['users', 'list'], ['migrate'], ['sessions', 'list']]) {
    const started = Date.now()
    const res = await cli({ ...testEnv(t), DATABASE_URL: `postgres://postgres:${password}@127.0.0.1:${closed}/x` }, args)
    t.equal(res.code, 1, `${args.join(' ')}: exit 1`)
    t.match(res.stderr, new RegExp(`^error: cannot reach the database postgres://postgres:\\*\\*\\*@127.0.0.1:${closed}/x: .*ECONNREFUSED`))
    oneLine(t, res, args.join(' '))
    t.notMatch(res.stderr, password, 'the password is not printed')
    t.ok(Date.now() - started < 5000, `${args.join(' ')}: answered in ${Date.now() - started} ms`)
  }

  // A server that accepts and never answers: bounded by DATABASE_CONNECT_TIMEOUT.
  const silent = createServer(() => {})
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { silent.close() })
  const port = (silent.address() as { port: number }).port
  const started = Date.now()
  const res = await cli({ ...testEnv(t), DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/x`, DATABASE_CONNECT_TIMEOUT: '1' }, ['users', 'list'])
  t.equal(res.code, 1)
  t.match(res.stderr, /^error: cannot reach the database postgres:\/\/postgres@127.0.0.1:\d+\/x: .*timeout.*\(DATABASE_CONNECT_TIMEOUT=1 s\)$/m)
  oneLine(t, res, 'a silent server')
  t.ok(Date.now() - started < 5000, `gave up after ${Date.now() - started} ms (DATABASE_CONNECT_TIMEOUT=1)`)
})

t.test('sessions list shows active sessions; sessions revoke ends one, and a running instance refuses its token', async (t) => {
  const env = testEnv(t, { ADMIN_PASSWORD: 'bootstrap-password', REVOCATION_SYNC_INTERVAL: '0.2' })
  t.equal((await cli(env, ['users', 'add', 'bob'], 'river-stones-1\n')).code, 0)
  const app = await build(t, env)
  const first = await loginTokens(app, 'bob', 'river-stones-1')
  const second = await loginTokens(app, 'bob', 'river-stones-1')
  const admin = await loginTokens(app, 'admin', 'bootstrap-password')
  const sid = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sid as string

  const all = await cli(env, ['sessions', 'list'])
  t.equal(all.code, 0, all.stderr)
  const rows = all.stdout.trim().split('\n').map((l) => l.split('\t'))
  t.equal(rows.length, 3, 'three active sessions')
  t.same(new Set(rows.map((r) => r[0])), new Set([sid(first.token), sid(second.token), sid(admin.token)]), 'by id')
  for (const r of rows) {
    t.equal(r.length, 5, 'id, user, created, last used, ip')
    t.match(r[2], /^\d{4}-\d\d-\d\dT/, 'created')
    t.match(r[3], /^\d{4}-\d\d-\d\dT/, 'last used')
    t.equal(r[4], '127.0.0.1', 'the client address')
  }
  const bobs = await cli(env, ['sessions', 'list', 'bob'])
  t.same(bobs.stdout.trim().split('\n').map((l) => l.split('\t').slice(0, 2)).sort(), [[sid(first.token), 'bob'], [sid(second.token), 'bob']].sort(), "bob's only")

  const revoked = await cli(env, ['sessions', 'revoke', sid(first.token)])
  t.equal(revoked.code, 0, revoked.stderr)
  t.match(revoked.stdout, `session ${sid(first.token)} revoked`)
  const audit = revoked.stderr.trim().split('\n').map((l) => JSON.parse(l))
  t.match(audit, [{ audit: { event: 'session_revoked', sessionId: sid(first.token), actor: 'cli', userId: String } }], 'an audit record')
  t.equal((await refresh(app, first.refreshToken)).statusCode, 401, 'its refresh token is refused at once')
  const deadline = Date.now() + 2000
  while ((await greet(app, `Bearer ${first.token}`)).statusCode !== 401 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal((await greet(app, `Bearer ${first.token}`)).statusCode, 401, 'the running instance refuses its access token within REVOCATION_SYNC_INTERVAL')
  t.equal((await greet(app, `Bearer ${second.token}`)).statusCode, 200, "bob's other session goes on")
  t.notMatch((await cli(env, ['sessions', 'list', 'bob'])).stdout, sid(first.token), 'no longer listed')

  const again = await cli(env, ['sessions', 'revoke', sid(first.token)])
  t.equal(again.code, 0)
  t.match(again.stdout, /had already ended: nothing changed/)
})

t.test('migrate says what ran, then that nothing is left to do', async (t) => {
  const env = testEnv(t)
  const first = await cli(env, ['migrate'])
  t.equal(first.code, 0, first.stderr)
  t.match(first.stdout, /^ran 0001_users_and_keys\nran 0002_roles_and_sessions\n/)
  t.match(first.stdout, /the schema is up to date \(\d+ migrations, the latest \w+\)\n$/)
  const second = await cli(env, ['migrate'])
  t.equal(second.code, 0)
  t.match(second.stdout, /^nothing to do: the schema is up to date/)
  t.notMatch(second.stdout, /^ran /m)
  const app = await build(t, { ...env, ADMIN_PASSWORD: 'bootstrap-password' })
  t.ok(await app.accounts.find('admin'), 'the service starts on the migrated store')
})

t.test('config check validates as the server does and prints the settings, secrets masked', async (t) => {
  const secrets = {
    JWT_SECRET: randomBytes(24).toString('hex'),
    KEY_ENCRYPTION_KEY: randomBytes(24).toString('hex'),
    ADMIN_PASSWORD: randomBytes(12).toString('hex'),
    METRICS_TOKEN: randomBytes(16).toString('hex')
  }
  const dbPassword = randomBytes(9).toString('hex')
  const redisPassword = randomBytes(9).toString('hex')
  const env = {
    ...testEnv(t),
    ...secrets,
    JWT_ALGORITHM: 'HS256',
    ACCESS_TOKEN_TTL: '120',
    DATABASE_URL: `postgres://auth:${dbPassword}@db.internal:5432/auth?sslmode=require`,
    REDIS_URL: `redis://:${redisPassword}@cache.internal:6379/0`
  }
  const res = await cli(env, ['config', 'check'])
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, /^configuration valid/)
  t.match(res.stdout, /^ACCESS_TOKEN_TTL +120$/m, 'a value that was set')
  t.match(res.stdout, /^REFRESH_TOKEN_TTL +2592000 +\(default\)$/m, 'a default')
  t.match(res.stdout, /^CORS_ORIGINS +\(unset\)$/m, 'an unset optional')
  t.match(res.stdout, /^DATABASE_URL +postgres:\/\/auth:\*\*\*@db.internal:5432\/auth\?sslmode=require$/m)
  t.match(res.stdout, /^REDIS_URL +redis:\/\/:\*\*\*@cache.internal:6379\/0$/m)
  t.match(res.stdout, /^JWT_SECRET +\*\*\* \(set\)$/m)
  t.match(res.stdout, /^KEY_ENCRYPTION_KEY +\*\*\* \(set\)$/m)
  t.match(res.stdout, /^ADMIN_PASSWORD +\*\*\* \(set\)$/m)
  for (const secret of [...Object.values(secrets), dbPassword, redisPassword]) {
    t.notOk((res.stdout + res.stderr).includes(secret), 'no secret in the output')
  }

  // The rules between variables, as the server applies them.
  const crossed = await cli({ ...env, JWT_ALGORITHM: 'ES256' }, ['config', 'check'])
  t.equal(crossed.code, 1)
  t.match(crossed.stderr, /^error: env\/JWT_ALGORITHM must be HS256 when JWT_SECRET is set \(it is ES256\)\n$/)
  t.equal(crossed.stdout, '')
  for (const secret of Object.values(secrets)) t.notOk(crossed.stderr.includes(secret), 'no secret in the error')
  const short = await cli({ ...env, JWT_SECRET: 'short-secret-value' }, ['config', 'check'])
  t.equal(short.code, 1)
  t.match(short.stderr, /^error: env\/JWT_SECRET must NOT have fewer than 32 characters\n$/)
  t.notMatch(short.stderr, 'short-secret-value')
})
