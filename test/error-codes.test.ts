// Every code of the error table (src/error-codes.ts), produced the way a client meets it and asserted with
// its status, in the one error shape. The last test checks that this file asserted every code the table
// has: a code added to the table without a test here fails it.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { STATUS_CODES } from 'node:http'
import { connect } from 'node:net'
import t, { type Test } from 'tap'
import { ERROR_CODE_NAMES, ERROR_CODES, type ErrorCode } from '../src/error-codes.js'
import { draining } from '../src/http/draining.js'
import { HEADERS_TIMEOUT_MS } from '../src/http/server-options.js'
import { addUser, bearer, build, buildWithLogs, greet, holdEventLoop, LOGIN_BURSTS, loginTokens, PASSWORD, testEnv, tokenFor } from './support/index.js'

const asserted = new Set<ErrorCode>()

// The answer has the code's status, and a body of exactly the error shape with that code.
function hasCode (t: Test, status: number, body: unknown, code: ErrorCode, what: string) {
  t.equal(status, ERROR_CODES[code].status, `${what}: status ${ERROR_CODES[code].status}`)
  const b = body as Record<string, unknown>
  t.same(Object.keys(b).sort(), ['code', 'error', 'message', 'statusCode'], `${what}: the error shape, nothing else`)
  t.equal(b.code, code, `${what}: code ${code}`)
  t.equal(b.statusCode, status, `${what}: statusCode in the body`)
  t.equal(b.error, STATUS_CODES[status], `${what}: error is the status's reason phrase`)
  t.type(b.message, 'string')
  asserted.add(code)
}
const injected = (t: Test, res: LightMyRequestResponse, code: ErrorCode, what: string) => hasCode(t, res.statusCode, res.json(), code, what)

const post = (app: FastifyInstance, url: string, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) })

// A request written raw to a listening server; the whole answer, as the socket gave it.
function raw (port: number, request: string, { trickle = false } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request))
    const ticker = trickle ? setInterval(() => socket.write('x'), 500) : undefined
    let data = ''
    socket.on('data', (d) => { data += d })
    const done = () => { clearInterval(ticker); resolve(data) }
    socket.on('close', done)
    socket.on('error', (err) => data === '' ? reject(err) : done())
  })
}
function rawAnswer (answer: string) {
  const [head, body] = answer.split('\r\n\r\n')
  return { status: Number(head.split(' ')[1]), head, body: JSON.parse(body) as unknown }
}

t.test('refusals of the request itself: JSON, media type, size, validation, URL, route', async (t) => {
  const app = await build(t, testEnv(t, LOGIN_BURSTS))
  injected(t, await post(app, '/login', '{"username": '), 'invalid_json', 'a body that is not JSON')
  injected(t, await post(app, '/login', ''), 'invalid_json', 'an empty JSON body')
  injected(t, await post(app, '/login', '{"__proto__": {"x": 1}, "username": "a", "password": "b"}'), 'invalid_json', 'a __proto__ key')
  injected(t, await post(app, '/login', { username: 'alice' }), 'validation_failed', 'a body without the password')
  injected(t, await post(app, '/login', { username: 'alice', password: 'x', extra: 1 }), 'validation_failed', 'an unknown field')
  injected(t, await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'text/plain' }, payload: 'hello' }), 'unsupported_media_type', 'text/plain')
  const long = await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': `text/${'x'.repeat(5000)}; boundary=secret` }, payload: 'hello' })
  injected(t, long, 'unsupported_media_type', 'a 5 KB media type')
  t.ok(long.json().message.length < 200 && !long.body.includes('boundary'), 'the message names the media type, cut short, and not its parameters')
  injected(t, await post(app, '/login', { username: 'a', password: 'b' }, { 'content-type': 'application/json; charset=latin1' }), 'unsupported_media_type', 'JSON in latin-1')
  injected(t, await post(app, '/login', { username: 'a', password: 'b'.repeat(20_000) }), 'payload_too_large', 'a 20 KB body')
  injected(t, await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/json', 'content-length': '100' }, payload: '{}' }), 'bad_request', 'a body shorter than its Content-Length')
  injected(t, await app.inject({ method: 'GET', url: '/%FF' }), 'malformed_url', 'a %-escape that is not UTF-8')
  injected(t, await app.inject({ method: 'GET', url: '/no/such/route' }), 'not_found', 'an unknown route')
  injected(t, await app.inject({ method: 'DELETE', url: '/' }), 'not_found', 'a known path with a method it does not take')
})

t.test('the documentation page\'s file server: a path it will not serve, a range outside a file, a failed precondition', async (t) => {
  const app = await build(t)
  const file = '/docs/static/swagger-ui.css'
  t.equal((await app.inject({ method: 'GET', url: file })).statusCode, 200, 'the file is served')
  // Sent raw: inject and fetch would resolve the %-encoded dots before sending.
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const climbing = rawAnswer(await raw(port, 'GET /docs/static/%2e%2e/%2e%2e/package.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
  hasCode(t, climbing.status, climbing.body, 'forbidden', 'a path that climbs out of the folder')
  injected(t, await app.inject({ method: 'GET', url: file, headers: { range: 'bytes=99999999-' } }), 'range_not_satisfiable', 'a range past the end of the file')
  injected(t, await app.inject({ method: 'GET', url: file, headers: { 'if-match': '"not-its-etag"' } }), 'precondition_failed', 'If-Match with another ETag')
})

t.test('tokens, credentials and roles', async (t) => {
  const app = await build(t, testEnv(t, LOGIN_BURSTS))
  await addUser(app, 'alice', PASSWORD)
  const tokens = await loginTokens(app, 'alice', PASSWORD)
  injected(t, await greet(app), 'missing_token', 'GET / without a token')
  injected(t, await greet(app, 'Bearer not.a.token'), 'invalid_token', 'GET / with a malformed token')
  injected(t, await post(app, '/login', { username: 'alice', password: 'not the password' }), 'invalid_credentials', 'a wrong password')
  injected(t, await post(app, '/login', { username: 'nobody', password: 'not the password' }), 'invalid_credentials', 'an unknown user')
  injected(t, await post(app, '/token/refresh', { refreshToken: 'rt_made-up' }), 'invalid_refresh_token', 'a made-up refresh token')
  injected(t, await app.inject({ method: 'PUT', url: '/me/password', headers: bearer(tokens.token), payload: { currentPassword: 'wrong wrong wrong', newPassword: 'another long passphrase' } }), 'wrong_current_password', 'a password change with a wrong current password')
  injected(t, await app.inject({ method: 'PUT', url: '/me/password', headers: bearer(tokens.token), payload: { currentPassword: PASSWORD, newPassword: 'short' } }), 'validation_failed', 'a new password the policy refuses')
  injected(t, await app.inject({ method: 'GET', url: '/admin/users', headers: bearer(tokens.token) }), 'insufficient_role', 'the admin list, as a user without the role')
  injected(t, await app.inject({ method: 'DELETE', url: '/me/sessions/00000000-0000-0000-0000-000000000000', headers: bearer(tokens.token) }), 'not_found', 'an unknown session')
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(tokens.token) })).statusCode, 204)
  const refused = await greet(app, `Bearer ${tokens.token}`)
  injected(t, refused, 'invalid_token', 'the token of a session that logged out')
  t.match(refused.headers['www-authenticate'], /error="invalid_token"/)
})

t.test('conflict: a username that is taken', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true' }))
  await addUser(app, 'alice', PASSWORD)
  injected(t, await post(app, '/signup', { username: 'alice', password: 'another long passphrase' }), 'conflict', 'signing up as alice again')
})

t.test('too many: the rate limit, the account throttle, the hashing queue', async (t) => {
  const limited = await build(t, testEnv(t, { RATE_LIMIT_LOGIN: '1', ...LOGIN_BURSTS }))
  await post(limited, '/login', { username: 'a', password: 'b' })
  const res = await post(limited, '/login', { username: 'a', password: 'b' })
  injected(t, res, 'rate_limited', 'a second login with a limit of one')
  t.ok(Number(res.headers['retry-after']) > 0, 'with Retry-After')

  const throttled = await build(t, testEnv(t, { LOGIN_THROTTLE_FREE_FAILURES: '1' }))
  await addUser(throttled, 'alice', PASSWORD)
  t.equal((await post(throttled, '/login', { username: 'alice', password: 'wrong password 1' })).statusCode, 401)
  const waited = await post(throttled, '/login', { username: 'alice', password: 'wrong password 2' })
  injected(t, waited, 'login_throttled', 'a second failure with one free')
  t.ok(Number(waited.headers['retry-after']) > 0, 'with Retry-After')

  // One hash at a time, slow; a queue of 20 gives one address a share of 4.
  const shared = await build(t, testEnv(t, { HASH_CONCURRENCY: '1', HASH_QUEUE_LIMIT: '20', ARGON2_TIME_COST: '10', ...LOGIN_BURSTS }))
  await addUser(shared, 'alice', PASSWORD)
  const burst = await Promise.all(Array.from({ length: 10 }, () => post(shared, '/login', { username: 'alice', password: PASSWORD })))
  const share = burst.find((r) => r.statusCode === 429)
  t.ok(share, `one address beyond its share of the queue (${burst.map((r) => r.statusCode).join(' ')})`)
  if (share) injected(t, share, 'hash_queue_share_full', 'a login beyond the address\'s share')

  const full = await build(t, testEnv(t, { HASH_CONCURRENCY: '1', HASH_QUEUE_LIMIT: '0', ARGON2_TIME_COST: '10', ...LOGIN_BURSTS }))
  await addUser(full, 'alice', PASSWORD)
  const shed = (await Promise.all(Array.from({ length: 3 }, () => post(full, '/login', { username: 'alice', password: PASSWORD })))).find((r) => r.statusCode === 503)
  t.ok(shed, 'a login with the queue full')
  if (shed) injected(t, shed, 'hash_queue_full', 'a login with no room in the queue')
})

t.test('unavailable: starting, a lost store, overload, shutting down', async (t) => {
  // A store that never answers: start-up never ends.
  const starting = await build(t, testEnv(t, { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', DATABASE_CONNECT_TIMEOUT: '1' }), { ready: false })
  const early = await post(starting, '/login', { username: 'alice', password: PASSWORD })
  injected(t, early, 'starting', 'a login before start-up ended')
  t.ok(Number(early.headers['retry-after']) > 0, 'with Retry-After')

  const lost = await build(t)
  await addUser(lost, 'alice', PASSWORD)
  const token = await tokenFor(lost, 'alice', PASSWORD)
  await lost.db.destroy()
  injected(t, await lost.inject({ method: 'GET', url: '/me', headers: bearer(token) }), 'unavailable', 'GET /me with the store gone')

  const pressed = await build(t, testEnv(t, { MAX_EVENT_LOOP_DELAY: '100' }))
  const base = await pressed.listen({ port: 0, host: '127.0.0.1' })
  await holdEventLoop(2000)
  const overloaded = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  hasCode(t, overloaded.status, await overloaded.json(), 'overloaded', 'a request while the event loop lags')

  // Shutting down with no grace: the login still waiting for the one hashing slot is answered 503.
  const closing = await build(t, testEnv(t, { HASH_CONCURRENCY: '1', ARGON2_TIME_COST: '100', SHUTDOWN_GRACE: '0', ...LOGIN_BURSTS }))
  await addUser(closing, 'alice', PASSWORD)
  const closingBase = await closing.listen({ port: 0, host: '127.0.0.1' })
  // The login being hashed when the grace ends may have its connection closed unanswered (status 0 here):
  // what is asserted is the answer of one that was still waiting.
  const logins = Promise.all([1, 2, 3].map(async () => {
    try {
      const res = await fetch(`${closingBase}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: PASSWORD }) })
      return { status: res.status, body: await res.json() as { code?: string } }
    } catch {
      return { status: 0, body: {} as { code?: string } }
    }
  }))
  await new Promise((resolve) => setTimeout(resolve, 200)) // the first hashing (about a second), the others queued
  const closed = closing.close()
  const answers = await logins
  const refused = answers.find((r) => r.status === 503 && r.body.code === 'shutting_down')
  await closed
  t.ok(refused, `a waiting login answered when the grace ended (${answers.map((a) => `${a.status} ${a.body.code ?? ''}`).join(', ')})`)
  if (refused) hasCode(t, refused.status, refused.body, 'shutting_down', 'a login waiting when the shutdown grace ended')
})

t.test('a draining server answers new requests shutting_down, with Retry-After and the security headers', async (t) => {
  const app = await build(t)
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  // What plugins/shutdown.ts does first when a shutdown begins (the shutdown itself: shutdown.test.ts).
  draining.add(app.server)
  t.teardown(() => draining.delete(app.server))
  const res = await fetch(`${base}/health/live`)
  hasCode(t, res.status, await res.json(), 'shutting_down', 'a new request while draining')
  t.equal(res.headers.get('retry-after'), '1')
  t.equal(res.headers.get('connection'), 'close')
  t.equal(res.headers.get('x-content-type-options'), 'nosniff', 'with the security headers')
  t.equal(res.headers.get('content-security-policy'), "default-src 'none';frame-ancestors 'none'")
})

t.test('what Node\'s HTTP parser refuses: the same shape and code, with the security headers', async (t) => {
  const app = await build(t, testEnv(t))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const garbage = rawAnswer(await raw(port, 'NOT HTTP AT ALL\r\n\r\n'))
  hasCode(t, garbage.status, garbage.body, 'bad_request', 'a request line that is not HTTP')
  t.match(garbage.head, /x-content-type-options: nosniff/i, 'with the security headers')
  t.match(garbage.head, /content-security-policy: default-src 'none'/i)
  const long = rawAnswer(await raw(port, `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`))
  hasCode(t, long.status, long.body, 'headers_too_large', 'a 20 KB URL')
  const header = rawAnswer(await raw(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`))
  hasCode(t, header.status, header.body, 'headers_too_large', 'a 20 KB header')
  const started = Date.now()
  const slow = rawAnswer(await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ', { trickle: true }))
  hasCode(t, slow.status, slow.body, 'request_timeout', `headers trickled for ${Date.now() - started} ms (headersTimeout ${HEADERS_TIMEOUT_MS})`)
})

t.test('what Node itself would refuse (no Host, an unmet Expect, CONNECT): the same shape and code', async (t) => {
  const app = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const noHost = rawAnswer(await raw(port, 'GET /health/live HTTP/1.1\r\nConnection: close\r\n\r\n'))
  hasCode(t, noHost.status, noHost.body, 'bad_request', 'HTTP/1.1 without a Host header')
  t.match(noHost.head, /x-content-type-options: nosniff/i, 'with the security headers')
  t.match(await raw(port, 'GET /health/live HTTP/1.0\r\n\r\n'), /^HTTP\/1.1 200 /, 'HTTP/1.0 may leave Host out')
  const expect = rawAnswer(await raw(port, 'POST /login HTTP/1.1\r\nHost: x\r\nExpect: bogus\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}'))
  hasCode(t, expect.status, expect.body, 'expectation_failed', 'Expect: bogus')
  t.match(expect.head, /content-security-policy: default-src 'none'/i)
  const tunnel = rawAnswer(await raw(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'))
  hasCode(t, tunnel.status, tunnel.body, 'not_found', 'CONNECT: the service is no proxy')
})

t.test('internal: a failure inside the service says nothing of it', async (t) => {
  const { app, lines } = await buildWithLogs(t)
  await addUser(app, 'alice', PASSWORD)
  const token = await tokenFor(app, 'alice', PASSWORD)
  // A defect stood in for: the account look-up of GET /me throws what no handler expects.
  app.accounts.findById = async () => { throw new TypeError('a secret detail of a defect') }
  const res = await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })
  injected(t, res, 'internal', 'GET /me when the look-up throws')
  t.equal(res.json().message, 'Internal Server Error', 'a generic message')
  t.notMatch(res.body, /secret detail/, 'the cause is not in the answer')
  t.ok(lines.some((l) => l.includes('"level":50') && l.includes('secret detail')), 'the cause is in the log, as an error')
})

t.test('every code in the table was asserted above', async (t) => {
  t.same([...asserted].sort(), [...ERROR_CODE_NAMES].sort(), 'each code has a test that produced it')
})
