import t from 'tap'
import { addUser, bearer, buildWithLogs, greet, login, loginTokens, PASSWORD } from './support/index.js'

t.test('no password or token reaches any log line, whatever the request', async (t) => {
  const { app, lines } = await buildWithLogs(t)
  const password = 'p4ssw0rd-that-must-not-leak'
  await addUser(app, 'alice', password)

  const ok = await login(app, 'alice', password)
  const { token, refreshToken } = ok.json()
  await login(app, 'alice', password + '-wrong')
  await login(app, 'nobody', password)
  await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/json' }, payload: `{"username":"alice","password":"${password}"` })
  await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/json' }, payload: `{"username":"alice","password":"${password}","extra":1}` })
  await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'text/plain' }, payload: password })
  await app.inject({ method: 'POST', url: '/token/refresh', payload: { refreshToken } })
  await greet(app, `Bearer ${token}`)
  await app.inject({ method: 'POST', url: '/logout', headers: { ...bearer(token), cookie: `session=${token}` } })
  // A refused token: at debug level the service logs the request's headers, which must come out redacted.
  await greet(app, `Bearer ${token}`)

  t.ok(lines.length > 10, `logging at trace (${lines.length} lines)`)
  const refused = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'access token refused')
  t.ok(refused, 'the refusal was logged with its headers')
  t.equal(refused?.headers?.authorization, '[redacted]', 'Authorization redacted')
  for (const secret of [password, token, token.split('.')[2], refreshToken, refreshToken.slice(3)]) {
    t.notOk(lines.find((l) => l.includes(secret)), 'secret absent')
  }
})

t.test('the logger redacts credentials wherever a log call puts them', async (t) => {
  const { app, lines } = await buildWithLogs(t)
  await addUser(app, 'alice', PASSWORD)
  const { token, refreshToken } = await loginTokens(app, 'alice', PASSWORD)
  const careless = [
    { headers: { authorization: `Bearer ${token}`, cookie: `sid=${token}` } },
    { authorization: `Bearer ${token}` },
    { password: PASSWORD, token, refreshToken },
    { body: { password: PASSWORD, currentPassword: PASSWORD, newPassword: PASSWORD, refreshToken } }
  ]
  for (const fields of careless) app.log.info(fields, 'a careless log call')
  const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'a careless log call')
  t.equal(logged.length, careless.length)
  t.equal(logged[0].headers.authorization, '[redacted]')
  t.equal(logged[0].headers.cookie, '[redacted]')
  t.equal(logged[1].authorization, '[redacted]')
  t.same(logged[2], { ...logged[2], password: '[redacted]', token: '[redacted]', refreshToken: '[redacted]' })
  t.same(logged[3].body, { password: '[redacted]', currentPassword: '[redacted]', newPassword: '[redacted]', refreshToken: '[redacted]' })
  for (const secret of [PASSWORD, token, refreshToken]) t.notOk(lines.find((l) => l.includes(secret)), 'secret absent')
})

// Credentials come in many headers besides Authorization and Cookie (proxies', identity-aware proxies',
// API gateways'): the logged headers are an allow-list, every other value censored, whatever its name.
const CREDENTIAL_HEADERS = ['proxy-authorization', 'cf-access-jwt-assertion', 'x-amzn-oidc-data', 'x-auth-request-access-token',
  'x-api-key', 'x-access-token', 'x-amzn-oidc-accesstoken', 'x-forwarded-access-token', 'x-csrf-token', 'x-some-vendor-secret']

t.test('a refused access token logs only allowed headers: no other header value reaches the debug log', async (t) => {
  const { app, lines } = await buildWithLogs(t)
  const values = Object.fromEntries(CREDENTIAL_HEADERS.map((name) => [name, `secret-of-${name}-${Math.random().toString(36).slice(2)}`]))
  const res = await app.inject({ method: 'GET', url: '/', headers: { ...values, authorization: 'Bearer not-a-token-value', 'user-agent': 'the-agent/1.0' } })
  t.equal(res.statusCode, 401)
  const refused = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'access token refused')
  t.ok(refused, 'the refusal was logged with its headers')
  t.equal(refused?.headers?.['user-agent'], 'the-agent/1.0', 'an allowed header is logged as it came')
  for (const name of [...CREDENTIAL_HEADERS, 'authorization']) t.equal(refused?.headers?.[name], '[redacted]', `${name}: named, its value censored`)
  for (const [name, value] of Object.entries({ ...values, authorization: 'not-a-token-value' })) {
    t.notOk(lines.find((l) => l.includes(value)), `${name}: its value is in no log line`)
  }
})

t.test('headers logged by hand are censored by the same allow-list, whatever the case of their names', async (t) => {
  const { app, lines } = await buildWithLogs(t)
  const values = Object.fromEntries(CREDENTIAL_HEADERS.map((name) => [name.toUpperCase(), `secret-of-${name}`]))
  app.log.info({ headers: { ...values, Authorization: 'Bearer secret-capitalised', Cookie: 'sid=secret-cookie', Host: 'example.test' } }, 'a careless log call')
  const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'a careless log call')
  t.equal(logged?.headers?.Host, 'example.test', 'an allowed header is logged')
  t.equal(logged?.headers?.Authorization, '[redacted]')
  for (const secret of [...Object.values(values), 'secret-capitalised', 'secret-cookie']) t.notOk(lines.find((l) => l.includes(secret)), `${secret} absent`)
})

// A client that sends part of a body and goes away is the client's doing: Node reports it as an aborted
// request (code ECONNRESET, like a lost database connection), which must not read as a store outage — one
// warning a request, that anyone could cause, would bury real outages and trip the alerts on them.
t.test('a client that aborts its body is not logged as the store being unavailable', async (t) => {
  const { connect } = await import('node:net')
  const { app, lines } = await buildWithLogs(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const started = lines.length // the start's own lines (the generated admin password's warning) are not the subject
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write('POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{')
        setTimeout(() => socket.destroy(), 50)
      })
      socket.on('close', () => resolve())
      socket.on('error', () => {})
    })
  }
  await new Promise((resolve) => setTimeout(resolve, 200))
  const store = lines.slice(started).filter((l) => l.includes('the user store is unavailable'))
  t.same(store, [], 'no store warning for an aborted request')
  const loud = lines.slice(started).filter((l) => /"level":(40|50|60)/.test(l))
  t.same(loud.map((l) => l.slice(0, 300)), [], 'nor any warning or error: the client went away')
})
