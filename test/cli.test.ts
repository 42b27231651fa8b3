import { randomBytes } from 'node:crypto'
import t from 'tap'
import { build, cli, greet, login, loginTokens, testEnv } from './support/index.js'

t.test('a user added through the CLI can log in', async (t) => {
  const env = testEnv(t, { ADMIN_PASSWORD: 'bootstrap-password' })
  const added = await cli(env, ['users', 'add', 'bob'], 'river-stones-1\n')
  t.equal(added.code, 0, added.stderr)
  t.match(added.stdout, /created user "bob"/)
  t.notMatch(added.stdout + added.stderr, 'river-stones-1')

  const app = await build(t, env)
  t.equal((await login(app, 'bob', 'river-stones-1')).statusCode, 200)

  const listed = await cli(env, ['users', 'list'])
  t.equal(listed.code, 0)
  t.match(listed.stdout, /\tbob\tenabled\t/)
})

t.test('the CLI refuses a password given in argv', async (t) => {
  const env = testEnv(t)
  for (const args of [['users', 'add', 'carol', 'carols-password'], ['users', 'add', 'carol', '--password=carols-password'], ['users', 'set-password', 'carol', 'x12345678']]) {
    const res = await cli(env, args, 'carols-password\n')
    t.equal(res.code, 2, `${args.join(' ')}: usage error`)
    t.match(res.stderr, /passwords are never read from the command line/)
  }
  const app = await build(t, { ...env, ADMIN_PASSWORD: 'bootstrap-password' })
  t.notOk(await app.accounts.find('carol'), 'nothing was created')
})

t.test('disable, enable and set-password act on logins and sessions', async (t) => {
  const env = testEnv(t, { ADMIN_PASSWORD: 'bootstrap-password', REVOCATION_SYNC_INTERVAL: '1' })
  t.equal((await cli(env, ['users', 'add', 'bob'], 'first-password\n')).code, 0)
  const app = await build(t, env)
  const { token } = await loginTokens(app, 'bob', 'first-password')

  t.equal((await cli(env, ['users', 'disable', 'bob'])).code, 0)
  t.equal((await login(app, 'bob', 'first-password')).statusCode, 401, 'disabled')
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal((await greet(app, `Bearer ${token}`)).statusCode, 401, "the running server refuses bob's session after its next sync")
  t.match((await cli(env, ['users', 'list'])).stdout, /\tbob\tdisabled\t/)
  t.equal((await cli(env, ['users', 'enable', 'bob'])).code, 0)
  const again = await loginTokens(app, 'bob', 'first-password')
  t.equal((await greet(app, `Bearer ${again.token}`)).statusCode, 200, 'enabled: a new session works')

  t.equal((await cli(env, ['users', 'set-password', 'bob'], 'second-password\n')).code, 0)
  t.equal((await app.inject({ method: 'POST', url: '/token/refresh', payload: { refreshToken: again.refreshToken } })).statusCode, 401,
    'the reset ended the session: its refresh token is refused at once')
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal((await greet(app, `Bearer ${again.token}`)).statusCode, 401, 'and its access token after the next sync')
  t.equal((await login(app, 'bob', 'first-password')).statusCode, 401, 'old password refused')
  t.equal((await login(app, 'bob', 'second-password')).statusCode, 200, 'new password accepted')
})

t.test('bad input: clear errors and non-zero exit codes', async (t) => {
  const env = testEnv(t)
  t.equal((await cli(env, ['users', 'add', 'bob'], 'first-password\n')).code, 0)
  const cases: Array<[string[], string, number, RegExp]> = [
    [[], '', 2, /no command given/],
    [['users', 'frobnicate'], '', 2, /unknown command: users frobnicate/],
    [['users', 'add'], '', 2, /needs a user name/],
    [['users', 'list', 'extra'], '', 2, /takes no arguments/],
    [['users', 'add', 'bob'], 'another-password\n', 1, /already taken/],
    [['users', 'add', 'BOB'], 'another-password\n', 1, /already taken/],
    [['users', 'add', 'dave'], 'short\n', 1, /at least 8 characters/],
    [['users', 'add', 'dave'], '', 1, /at least 8 characters/],
    [['users', 'add', 'a b'], 'a-good-password\n', 1, /username may contain only/],
    [['users', 'disable', 'nobody'], '', 1, /no user named "nobody"/],
    [['users', 'set-password', 'nobody'], 'a-good-password\n', 1, /no user named "nobody"/]
  ]
  for (const [args, stdin, code, message] of cases) {
    const res = await cli(env, args, stdin)
    t.equal(res.code, code, `${args.join(' ') || '(nothing)'}: exit ${code}`)
    t.match(res.stderr, message, `${args.join(' ') || '(nothing)'}: message`)
  }
  const bad = await cli({ ...env, DATABASE_URL: 'mysql://x' }, ['users', 'list'])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /env\/DATABASE_URL/, 'a configuration error names the variable')
})

t.test('keys rotate publishes a pending key; keys list shows each state', async (t) => {
  const env = testEnv(t, { KEY_PUBLISH_DELAY: '600' })
  const app = await build(t, env)
  const active = app.keys.signing().kid
  const rotated = await cli(env, ['keys', 'rotate'])
  t.equal(rotated.code, 0, rotated.stderr)
  t.match(rotated.stdout, /^new key [\w-]+ \(ES256\) published now, signing from /)
  const listed = await cli(env, ['keys', 'list'])
  t.equal(listed.code, 0)
  const lines = listed.stdout.trim().split('\n')
  t.equal(lines.length, 2)
  t.match(lines[0], new RegExp(`^${active}\tES256\tactive\t`))
  t.match(lines[1], /\tES256\tpending\t/)
  t.notMatch(listed.stdout, /PRIVATE KEY/, 'no key material printed')

  const usage = await cli(env, ['keys', 'frobnicate'])
  t.equal(usage.code, 2)
  t.match(usage.stderr, /unknown command: keys frobnicate/)
  const shared = await cli({ ...env, JWT_ALGORITHM: 'HS256', JWT_SECRET: randomBytes(32).toString('hex') }, ['keys', 'rotate'])
  t.equal(shared.code, 1)
  t.match(shared.stderr, /a shared JWT_SECRET cannot be rotated/)
})
