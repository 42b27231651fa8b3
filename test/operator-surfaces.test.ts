import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { build, cli, freePort, startService, testEnv } from './support/index.js'

// The operator's surfaces (.env, config check, /metrics, fatal start-up lines) as an outside attack used
// them, each case reproduced here first.
const SECRET = 'ENVSECRET4ENVSECRET4ENVSECRET4ENVSECRET4'

t.test('.env: a line that is not NAME=value stops the CLI and the server with one line naming it, never silently unsetting the next variable', async (t) => {
  const dir = t.testdir()
  await writeFile(join(dir, '.env'), `DATABASE_URL=sqlite:${join(dir, 'auth.db')}\nPORT 3000\nKEY_ENCRYPTION_KEY=${SECRET}\n`)
  const checked = await cli({}, ['config', 'check'], '', dir)
  t.equal(checked.code, 1, 'config check refuses it')
  t.match(checked.stderr, /^error: \.env line 2 is not NAME=value/)
  t.notMatch(checked.stdout + checked.stderr, SECRET, 'without the secret')
  const service = startService({}, await freePort(), dir)
  t.teardown(() => { service.child.kill('SIGKILL') })
  t.not(await service.exited, 0, 'the server does not start')
  const fatal = service.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number, msg: string }).filter((l) => l.level === 60)
  t.equal(fatal.length, 1)
  t.match(fatal[0]?.msg, /^start-up failed: \.env line 2 is not NAME=value/)
  t.notMatch(service.output(), SECRET)
  // A well-formed file, quoted values over several lines included, is accepted.
  await writeFile(join(dir, '.env'), `# a comment\nDATABASE_URL=sqlite:${join(dir, 'auth.db')}\n\nexport PORT=3000\nNOTE="two\nlines"\nKEY_ENCRYPTION_KEY=${SECRET}\n`)
  const ok = await cli({}, ['config', 'check'], '', dir)
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, /KEY_ENCRYPTION_KEY\s+\*\*\* \(set\)/, 'and the variable after a multi-line value is set')
})

t.test('config check: passwords in every URL form masked; URLs the server could not use refused by name; PUBLIC_URL without credentials', async (t) => {
  const env = testEnv(t)
  const masked = await cli({ ...env, DATABASE_URL: 'postgres://u:SEC@RET7@db.internal/d?pass%77ord=QSECRET1&sslpassword=QSECRET2', BREACHED_PASSWORD_API_URL: 'https://u:HIBPSECRET@mirror.local/x' }, ['config', 'check'])
  t.equal(masked.code, 0, masked.stderr)
  for (const secret of ['RET7', 'QSECRET1', 'QSECRET2', 'HIBPSECRET']) t.notMatch(masked.stdout, secret, `${secret} masked`)
  for (const [name, value] of [['DATABASE_URL', 'postgres://u:pw@h:notaport/d'], ['REDIS_URL', 'redis://:x@h:99999']]) {
    const res = await cli({ ...env, [name]: value }, ['config', 'check'])
    t.equal(res.code, 1, `${name}=${value}`)
    t.match(res.stderr, new RegExp(`^error: env/${name} is not a valid URL`))
    t.notMatch(res.stderr, /pw@|:x@/, 'without the URL')
  }
  const published = await cli({ ...env, PUBLIC_URL: 'https://ops:PUBSECRET@auth.example.com/base' }, ['config', 'check'])
  t.equal(published.code, 1)
  t.match(published.stderr, /env\/PUBLIC_URL must not contain a user or password/)
  t.notMatch(published.stderr, 'PUBSECRET')
  const option = await cli(env, ['--password=SECRETx', 'users', 'list'])
  t.equal(option.code, 2)
  t.match(option.stderr, /unknown option: --password\b/)
  t.notMatch(option.stderr, 'SECRETx', 'an unknown option is named without its value')
})

t.test('/metrics without a token refuses any request a proxy forwarded, whatever header says so', async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200, 'loopback, nothing forwarded')
  for (const header of ['x-real-ip', 'via', 'x-forwarded-host', 'x-forwarded-proto', 'cf-connecting-ip', 'true-client-ip']) {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: { [header]: '203.0.113.9' } })
    t.equal(res.statusCode, 404, header)
  }
})

t.test('a fatal start-up error is one line without a stack (a refused ADMIN_PASSWORD)', async (t) => {
  const service = startService(testEnv(t, { ADMIN_PASSWORD: 'password' }), await freePort())
  t.teardown(() => { service.child.kill('SIGKILL') })
  t.not(await service.exited, 0)
  const fatal = service.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 60)
  t.equal(fatal.length, 1)
  t.match(fatal[0].msg, /ADMIN_PASSWORD/)
  t.notOk('err' in fatal[0], 'no error object (and no stack) in the line')
})
