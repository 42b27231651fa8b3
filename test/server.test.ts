import axios from 'axios'
import Fastify from 'fastify'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { answering, claimsOf, freePort, logsListening, npmStartCommand, startLikeNpm, startService, testEnv } from './support/index.js'

t.test('a listening server serves the whole flow to an HTTP client written for the Express version', async (t) => {
  const port = await freePort()
  const password = randomBytes(12).toString('base64url')
  // At debug level, so that a refused token's request headers are logged (redacted) too.
  const service = startService(testEnv(t, { ADMIN_USERNAME: 'admin', ADMIN_PASSWORD: password }), port, undefined, 'debug')
  t.teardown(() => { service.child.kill('SIGKILL') })
  await logsListening(service)
  const base = `http://127.0.0.1:${port}`
  // It listens at once and loads the store, keys and change feed after (503 with Retry-After until then),
  // as an orchestrator's readiness probe would see.
  await answering(`${base}/health/ready`, service)

  // What the classic client does, unchanged.
  const response = await axios.post(`${base}/login`, { username: 'admin', password })
  const token = response.data.token
  const greeting = await axios.get(`${base}/`, { headers: { Authorization: `Bearer ${token}` } })
  t.equal(greeting.data, 'Welcome, admin!')

  const refused = await axios.get(`${base}/`, { headers: { Authorization: 'Bearer nonsense' }, validateStatus: () => true })
  t.equal(refused.status, 401)
  t.match(refused.headers['www-authenticate'], /error="invalid_token"/)
  const badLogin = await axios.post(`${base}/login`, { username: 'admin', password: 'wrong' }, { validateStatus: () => true })
  t.equal(badLogin.status, 401)
  await axios.post(`${base}/logout`, {}, { headers: { Authorization: `Bearer ${token}` } })
  const loggedOut = await axios.get(`${base}/`, { headers: { Authorization: `Bearer ${token}` }, validateStatus: () => true })
  t.equal(loggedOut.status, 401, 'the logged-out token is refused')

  service.child.kill('SIGTERM')
  t.equal(await service.exited, 0, 'SIGTERM closes the server cleanly')
  const logs = service.output()
  t.match(logs, /"method":"POST","route":"\/login","status":200/, 'requests were logged')
  t.match(logs, /"msg":"access token refused"/, 'the refusal was logged with its request headers')
  t.match(logs, /"authorization":"\[redacted\]"/, 'with Authorization redacted')
  t.notMatch(logs, password, 'the password appears in no log line')
  t.notMatch(logs, token.split('.')[2], 'the token appears in no log line')
})

t.test('a .env file in the working directory configures the service', async (t) => {
  const dir = t.testdir()
  const port = await freePort()
  const password = randomBytes(12).toString('base64url')
  await writeFile(join(dir, '.env'), `ADMIN_USERNAME=dotenv-admin\nADMIN_PASSWORD=${password}\nDATABASE_URL=sqlite:${join(dir, 'auth.db')}\nACCESS_TOKEN_TTL=120\n`)
  const service = startService({}, port, dir)
  t.teardown(() => { service.child.kill('SIGKILL') })
  await answering(`http://127.0.0.1:${port}/health/ready`, service)
  const { data } = await axios.post(`http://127.0.0.1:${port}/login`, { username: 'dotenv-admin', password })
  t.equal(data.expiresIn, 120)
})

t.test('a bad configuration value stops the real start-up, naming the variable', async (t) => {
  const service = startService(testEnv(t, { ACCESS_TOKEN_TTL: 'abc' }), await freePort())
  t.teardown(() => { service.child.kill('SIGKILL') })
  t.not(await service.exited, 0, 'the process exits with an error')
  t.match(service.output(), /env\/ACCESS_TOKEN_TTL must be integer/)
  t.notMatch(service.output(), 'Server listening')
})

t.test('started without -o, the service refuses to run on Fastify\'s defaults, in one line', async (t) => {
  const service = startService(testEnv(t, { ADMIN_PASSWORD: 'bootstrap-password' }), await freePort(), undefined, 'info', false)
  t.teardown(() => { service.child.kill('SIGKILL') })
  t.not(await service.exited, 0, 'the process exits with an error')
  t.match(service.output(), /the server options were not applied: start the service with `fastify start -o dist\/src\/app.js`, as `npm start` does/)
  t.notMatch(service.output(), 'Server listening')
})

t.test('a wrong KEY_ENCRYPTION_KEY stops the real start-up with a clear line', async (t) => {
  const env = testEnv(t, { ADMIN_PASSWORD: 'bootstrap-password', KEY_ENCRYPTION_KEY: randomBytes(24).toString('base64url') })
  const port = await freePort()
  const first = startService(env, port)
  t.teardown(() => { first.child.kill('SIGKILL') })
  await answering(`http://127.0.0.1:${port}/health/ready`, first) // the keys are made, sealed with the first key
  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0)
  const wrong = startService({ ...env, KEY_ENCRYPTION_KEY: randomBytes(24).toString('base64url') }, port)
  t.teardown(() => { wrong.child.kill('SIGKILL') })
  t.equal(await wrong.exited, 1, 'the process exits with code 1')
  // The server listens first (start-up does not wait for the store), then start-up fails for good: one
  // line at fatal that says why, and the exit.
  const fatal = wrong.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.level === 60)
  t.equal(fatal.length, 1, 'one fatal line')
  t.match(fatal[0]?.msg, /^start-up failed: env\/KEY_ENCRYPTION_KEY does not decrypt the signing keys in the store \(a different key\?\)$/)
})

t.test('under npm start, FASTIFY_LOG_LEVEL sets the level: info writes one access line a request, warn none', async (t) => {
  const command = await npmStartCommand()
  t.notOk(command.includes('npm run build'), 'the build step is left out here')
  for (const level of ['info', 'warn', undefined]) {
    const port = await freePort()
    const password = randomBytes(12).toString('base64url')
    const service = startLikeNpm(command, testEnv(t, {
      ADMIN_USERNAME: 'admin', ADMIN_PASSWORD: password, PORT: String(port), FASTIFY_ADDRESS: '127.0.0.1', ...(level && { FASTIFY_LOG_LEVEL: level })
    }))
    const group = (signal: NodeJS.Signals) => { try { process.kill(-service.child.pid!, signal) } catch {} }
    t.teardown(() => group('SIGKILL'))
    const base = `http://127.0.0.1:${port}`
    await answering(`${base}/.well-known/jwks.json`, service) // at warn, "Server listening" is not logged
    const before = service.output().length
    const { data } = await axios.post(`${base}/login`, { username: 'admin', password })
    await axios.get(`${base}/`, { headers: { Authorization: `Bearer ${data.token}` } })
    await axios.get(`${base}/me`, { headers: { Authorization: `Bearer ${data.token}` } })
    await axios.get(`${base}/nowhere`, { validateStatus: () => true })
    await axios.post(`${base}/token/refresh`, { refreshToken: data.refreshToken })
    await axios.get(`${base}/`, { validateStatus: () => true }) // 401: no token
    await axios.post(`${base}/login`, '{"username":', { headers: { 'content-type': 'application/json' }, validateStatus: () => true }) // 400
    await new Promise((resolve) => setTimeout(resolve, 200))
    const lines = service.output().slice(before).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
      .filter((l) => l.route !== '/.well-known/jwks.json') // the readiness poll's own requests
    const name = level ?? 'unset (info by default)'
    if (level === 'warn') {
      t.same(lines.filter((l) => l.reqId !== undefined), [], `${name}: no per-request line`)
    } else {
      const access = lines.filter((l) => l.msg === 'request')
      t.equal(access.length, 7, `${name}: one access line for each of 7 requests`)
      t.same(lines.filter((l) => l.reqId !== undefined && l.msg !== 'request'), [], `${name}: and no other per-request line`)
      t.same(access.map((l) => [l.method, l.route, l.status]), [
        ['POST', '/login', 200], ['GET', '/', 200], ['GET', '/me', 200], ['GET', null, 404], ['POST', '/token/refresh', 200],
        ['GET', '/', 401], ['POST', '/login', 400]
      ], `${name}: method, route and status`)
      for (const l of access) {
        t.equal(l.level, 30, 'at info')
        t.type(l.ms, 'number', 'time')
        t.type(l.reqId, 'string', 'request id')
      }
      t.equal(access[1].userId, claimsOf<{ sub: string }>(data.token).sub, 'the user id when known')
      t.equal(access[0].userId, undefined, 'and none when not')
      const all = service.output()
      for (const secret of [password, data.token, data.token.split('.')[2], data.refreshToken]) t.notOk(all.includes(secret), `${name}: no secret in the output`)
    }
    group('SIGTERM')
    await service.exited
  }
})

t.test('the app refuses options that are only partly its own', async (t) => {
  const { default: app, options } = await import('../src/app.js')
  const partial: Array<[string, object]> = [
    ['serverFactory and bodyLimit only', { serverFactory: options.serverFactory, bodyLimit: options.bodyLimit }],
    ['everything but ajv', { ...options, ajv: undefined }],
    ['everything but the logger', { ...options, logger: false }],
    ['everything but the access log', { ...options, logController: undefined }]
  ]
  for (const [name, serverOptions] of partial) {
    const fastify = Fastify(serverOptions)
    fastify.register(app, { env: testEnv(t, { ADMIN_PASSWORD: 'bootstrap-password' }), onStartupFailure: () => {} })
    const refused = await fastify.ready().then(() => undefined, (err: Error) => err)
    t.match(String(refused), /the server options were not applied/, name)
    await fastify.close().catch(() => {})
  }
})
