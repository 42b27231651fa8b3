// URLs the router cannot take: a %-escape that is not valid UTF-8 (Fastify's FST_ERR_BAD_URL), and a path
// parameter over the router's default limit of 100 characters (FST_ERR_MAX_PARAM_LENGTH, a raw 414). The
// service answers them itself, like any other request: 400 for the malformed URL, the 404 of an unknown id
// for the long one; the usual body, without the URL; the security headers and CORS; an access line; a
// sample in the request histogram. Under inject, and under fastify-cli as `npm start` runs the built app
// (the app encapsulated in fastify-cli's root instance, whose router answers these before any hook).
import { connect } from 'node:net'
import t, { type Test } from 'tap'
import { answering, addUser, bearer, buildWithLogs, freePort, loginTokens, PASSWORD, startService, testEnv } from './support/index.js'

const ORIGIN = 'https://app.example.com'
const SECURITY_HEADERS = ['content-security-policy', 'x-content-type-options', 'x-frame-options', 'strict-transport-security']

// Each malformed URL, with what is wrong with it.
const MALFORMED: Array<[string, string, string]> = [
  ['a % not followed by two hex digits, in an id', 'GET', '/me/sessions/%zz'],
  ['a lone %', 'GET', '/%'],
  ['a truncated UTF-8 sequence, in a static path', 'POST', '/login%E0%A4%A'],
  ['an encoded lone surrogate', 'DELETE', '/me/sessions/%ED%A0%80'],
  ['an overlong encoding of NUL', 'POST', '/admin/users/%C0%80/disable'],
  ['a malformed escape on a route that does not exist', 'GET', '/no/such/%zz']
]

const MALFORMED_BODY = { statusCode: 400, error: 'Bad Request', message: 'Malformed URL: a %-escape that is not valid UTF-8', code: 'malformed_url' }

function hasServiceHeaders (t: Test, headers: Record<string, unknown>, what: string) {
  for (const name of SECURITY_HEADERS) t.ok(headers[name], `${what}: ${name}`)
  t.equal(headers['access-control-allow-origin'], ORIGIN, `${what}: CORS for a listed origin`)
  t.match(headers['content-type'], /^application\/json/, `${what}: JSON`)
}

const durationCount = (text: string, method: string, route: string, status: number) =>
  Number(text.match(new RegExp(`^auth_service_http_request_duration_seconds_count\\{method="${method}",route="${route}",status_code="${status}"\\} (\\d+)$`, 'm'))?.[1] ?? 0)

t.test('a malformed URL: 400 in the service\'s shape, with its headers, an access line and a metric', async (t) => {
  // The event-loop check off: on a loaded machine its 503 would answer first, and overload is not the subject.
  const { app, lines } = await buildWithLogs(t, testEnv(t, { CORS_ORIGINS: ORIGIN, MAX_EVENT_LOOP_DELAY: '0' }))
  for (const [what, method, url] of MALFORMED) {
    const before = lines.length
    const res = await app.inject({ method: method as 'GET', url, headers: { origin: ORIGIN, 'content-type': 'application/json' }, payload: method === 'GET' ? undefined : '{}' })
    t.equal(res.statusCode, 400, `${what}: 400`)
    t.same(res.json(), MALFORMED_BODY, `${what}: the usual body, without the URL`)
    hasServiceHeaders(t, res.headers, what)
    const access = lines.slice(before).map((l) => JSON.parse(l)).filter((l) => l.msg === 'request')
    t.match(access, [{ method, route: null, status: 400, reqId: String }], `${what}: one access line`)
  }
  const scrape = await app.inject({ method: 'GET', url: '/metrics' })
  const counted = ['GET', 'POST', 'DELETE'].reduce((n, method) => n + durationCount(scrape.body, method, 'unmatched', 400), 0)
  t.equal(counted, MALFORMED.length, 'each in the request histogram, as "unmatched", 400')
  t.notMatch(scrape.body, /status_code="414"/, 'no 414')
  t.equal((await app.inject({ method: 'GET', url: '/no%20such%C3%A9' })).statusCode, 404, 'well-formed escapes are routed as usual')
  // Longer than any URL Node's parser takes (16 KiB), so only through inject: over the router's limit.
  const huge = await app.inject({ method: 'DELETE', url: `/me/sessions/${'z'.repeat(20_000)}`, headers: { origin: ORIGIN } })
  t.equal(huge.statusCode, 404, 'a 20,000-character id, over the router\'s limit: 404')
  t.same(huge.json(), { statusCode: 404, error: 'Not Found', message: 'No such route', code: 'not_found' }, 'the answer of an unknown route')
  hasServiceHeaders(t, huge.headers, 'a 20,000-character id')
})

// A request written on a socket as is, the answer read whole (the server closes the connection).
function rawRequest (port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(request))
    let data = ''
    socket.on('data', (d) => { data += d })
    socket.on('end', () => resolve(data))
    socket.on('error', reject)
  })
}
const headersOf = (answer: string) => Object.fromEntries(answer.split('\r\n\r\n')[0].split('\r\n').slice(1)
  .map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))
const statusOf = (answer: string) => Number(answer.split(' ')[1])

async function tokenOf (base: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) })
  return (await res.json() as { token: string }).token
}

t.test('the built service under fastify-cli: a malformed URL and a 200-character id, sent raw', async (t) => {
  const port = await freePort()
  const adminPassword = 'an operator passphrase for raw urls 3'
  const service = startService({ ...testEnv(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: adminPassword }), CORS_ORIGINS: ORIGIN }, port)
  t.teardown(() => { service.child.kill('SIGKILL') })
  const base = `http://127.0.0.1:${port}`
  await answering(`${base}/health/ready`, service)
  const admin = await tokenOf(base, 'root', adminPassword)

  for (const [what, method, url] of MALFORMED) {
    const answer = await rawRequest(port, `${method} ${url} HTTP/1.1\r\nHost: x\r\nOrigin: ${ORIGIN}\r\nConnection: close\r\n\r\n`)
    t.equal(statusOf(answer), 400, `${what}: 400`)
    t.same(bodyOf(answer), MALFORMED_BODY, `${what}: the usual body`)
    hasServiceHeaders(t, headersOf(answer), what)
  }
  const long = 'x'.repeat(200)
  for (const [method, path, message] of [['DELETE', `/me/sessions/${long}`, 'No such session'], ['POST', `/admin/users/${long}/disable`, 'No such user'], ['POST', `/admin/users/${long}/enable`, 'No such user']]) {
    const answer = await rawRequest(port, `${method} ${path} HTTP/1.1\r\nHost: x\r\nOrigin: ${ORIGIN}\r\nAuthorization: Bearer ${admin}\r\nConnection: close\r\n\r\n`)
    t.equal(statusOf(answer), 404, `${method} a 200-character id: 404`)
    t.same(bodyOf(answer), { statusCode: 404, error: 'Not Found', message, code: 'not_found' }, `${method} a 200-character id: the body of any unknown id`)
    hasServiceHeaders(t, headersOf(answer), `${method} a 200-character id`)
  }

  const metrics = await (await fetch(`${base}/metrics`)).text()
  t.equal(durationCount(metrics, 'DELETE', '/me/sessions/:id', 404), 1, 'the long id is counted under its route')
  t.equal(durationCount(metrics, 'POST', '/admin/users/:id/disable', 404), 1)
  const access = service.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.msg === 'request')
  t.equal(access.filter((l) => l.route === null && l.status === 400).length, MALFORMED.length, 'an access line for each malformed URL')
  t.equal(access.filter((l) => l.route === '/me/sessions/:id' && l.status === 404).length, 1, 'and for the long id, with its route')
  t.notMatch(service.output(), /FST_ERR|"level":50/, 'no framework error, nothing at error level')
})

t.test('a 200-character id, through inject: the 404 of any unknown id (the other routes: test/unknown-names-and-ids.test.ts)', async (t) => {
  const { app } = await buildWithLogs(t, testEnv(t))
  await addUser(app, 'alice', PASSWORD)
  const { token } = await loginTokens(app, 'alice', PASSWORD)
  const res = await app.inject({ method: 'DELETE', url: `/me/sessions/${'y'.repeat(200)}`, headers: bearer(token) })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { statusCode: 404, error: 'Not Found', message: 'No such session', code: 'not_found' })
})
