// Security headers on every answer, whatever its status; CORS only for the origins CORS_ORIGINS lists.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { addUser, bearer, build, greet, holdEventLoop, httpCall, PASSWORD, testEnv, tokenFor } from './support/index.js'

const limitsAppPath = join(import.meta.dirname, 'fixtures', 'limits-app.ts')

// A JSON API answer's headers: OWASP's REST Security Cheat Sheet's set (docs/security.md, "Security
// headers"), and none of helmet's headers for documents a browser renders.
const SECURITY_HEADERS: Record<string, string | RegExp> = {
  'content-security-policy': "default-src 'none';frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'strict-transport-security': /^max-age=\d+/
}
const DOCUMENT_HEADERS = ['referrer-policy', 'cross-origin-resource-policy', 'cross-origin-opener-policy', 'origin-agent-cluster',
  'x-dns-prefetch-control', 'x-download-options', 'x-permitted-cross-domain-policies', 'x-xss-protection']

function hasSecurityHeaders (t: Test, headers: Record<string, unknown>, what: string) {
  for (const [name, expected] of Object.entries(SECURITY_HEADERS)) {
    if (typeof expected === 'string') t.equal(headers[name], expected, `${what}: ${name}`)
    else t.match(headers[name], expected, `${what}: ${name}`)
  }
  t.same(DOCUMENT_HEADERS.filter((name) => name in headers), [], `${what}: no header for rendered documents`)
}

const login = (app: FastifyInstance, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/login', headers, payload: payload as object })

t.test('security headers on 200, 400, 401, 404, 415, 429 and 503 answers', async (t) => {
  const app = await build(t, testEnv(t, { RATE_LIMIT_LOGIN: '2' }))
  await addUser(app, 'alice', PASSWORD)
  const token = await tokenFor(app, 'alice', PASSWORD) // login 1 of 2
  const answers: Array<[string, number, LightMyRequestResponse]> = [
    ['GET / with a token', 200, await greet(app, `Bearer ${token}`)],
    ['GET /.well-known/jwks.json', 200, await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })],
    ['GET / without a token', 401, await greet(app)],
    ['GET /nowhere', 404, await app.inject({ method: 'GET', url: '/nowhere' })],
    ['DELETE /me/sessions/:id unknown', 404, await app.inject({ method: 'DELETE', url: '/me/sessions/00000000-0000-0000-0000-000000000000', headers: bearer(token) })],
    ['POST /login, a bad body', 400, await login(app, { username: 'alice' })], // login 2 of 2
    ['POST /token/refresh, text/plain', 415, await app.inject({ method: 'POST', url: '/token/refresh', headers: { 'content-type': 'text/plain' }, payload: 'x' })],
    ['POST /login over the limit', 429, await login(app, { username: 'alice', password: PASSWORD })]
  ]
  for (const [what, status, res] of answers) {
    t.equal(res.statusCode, status, what)
    hasSecurityHeaders(t, res.headers, `${what} (${status})`)
  }
})

t.test('security headers on 503 answers: starting, and under pressure', async (t) => {
  // A store that never answers: start-up never ends, routes that need it say 503.
  const starting = await build(t, testEnv(t, { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', DATABASE_CONNECT_TIMEOUT: '1' }), { ready: false })
  const res = await login(starting, { username: 'alice', password: PASSWORD })
  t.equal(res.statusCode, 503)
  hasSecurityHeaders(t, res.headers, 'starting (503)')

  const app = await build(t, testEnv(t, { MAX_EVENT_LOOP_DELAY: '100' }))
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  await holdEventLoop(2000)
  const pressed = await fetch(`${base}/health/ready`)
  t.equal(pressed.status, 503, 'under pressure')
  hasSecurityHeaders(t, Object.fromEntries(pressed.headers), 'under pressure (503)')
})

t.test('the built service under fastify-cli (the app encapsulated, as npm start runs it): security headers on a 404 and a preflight', async (t) => {
  const { answering, freePort, startService } = await import('./support/index.js')
  const port = await freePort()
  const service = startService({ ...testEnv(t), CORS_ORIGINS: 'https://app.example.com' }, port)
  t.teardown(() => { service.child.kill('SIGKILL') })
  const base = `http://127.0.0.1:${port}`
  await answering(`${base}/health/ready`, service)
  const missing = await fetch(`${base}/no/such/route?secret=1`)
  t.equal(missing.status, 404)
  t.same(await missing.json(), { statusCode: 404, error: 'Not Found', message: 'No such route', code: 'not_found' }, 'the usual error body, without the path')
  hasSecurityHeaders(t, Object.fromEntries(missing.headers), 'a 404 from the real server')
  const preflight = await fetch(`${base}/login`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } })
  t.equal(preflight.status, 204)
  hasSecurityHeaders(t, Object.fromEntries(preflight.headers), 'a preflight from the real server')
})

t.test('a route may set its own Content-Security-Policy; the others keep the strict one', async (t) => {
  const app = await build(t, testEnv(t), { app: limitsAppPath })
  const page = await app.inject({ method: 'GET', url: '/docs-page' })
  t.equal(page.statusCode, 200)
  t.equal(page.headers['content-security-policy'], "default-src 'self';frame-ancestors 'none'", 'its own policy')
  t.equal(page.headers['x-content-type-options'], 'nosniff', 'the other headers still')
  hasSecurityHeaders(t, (await app.inject({ method: 'GET', url: '/health/live' })).headers, 'another route')
})

t.test('the documentation page, a document a browser renders, has helmet\'s headers for documents too', async (t) => {
  const app = await build(t)
  const page = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  for (const [name, value] of Object.entries({ 'referrer-policy': 'no-referrer', 'cross-origin-opener-policy': 'same-origin', 'cross-origin-resource-policy': 'same-origin', 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff' })) {
    t.equal(page.headers[name], value, `the page: ${name}`)
  }
  t.match(page.headers['content-security-policy'], /script-src/, 'with its own policy')
  hasSecurityHeaders(t, (await app.inject({ method: 'GET', url: '/docs/json' })).headers, 'the OpenAPI document (JSON)')
})

const LISTED = 'https://app.example.com'
const ALSO_LISTED = 'http://localhost:5173'
const UNLISTED = 'https://evil.example'

const corsHeaders = (res: LightMyRequestResponse) => Object.keys(res.headers).filter((h) => h.startsWith('access-control-'))
const preflight = (app: FastifyInstance, origin: string, url = '/login', method = 'POST') => app.inject({
  method: 'OPTIONS',
  url,
  headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type' }
})

t.test('CORS: a listed origin gets Access-Control-Allow-Origin and a working preflight', async (t) => {
  const app = await build(t, testEnv(t, { CORS_ORIGINS: `${LISTED}, ${ALSO_LISTED}`, RATE_LIMIT_LOGIN: '1' }))
  for (const origin of [LISTED, ALSO_LISTED]) {
    const res = await app.inject({ method: 'GET', url: '/', headers: { origin } })
    t.equal(res.statusCode, 401)
    t.equal(res.headers['access-control-allow-origin'], origin, `${origin}: allowed`)
    t.match(res.headers.vary, /Origin/, 'Vary: Origin, for caches')
    t.equal(res.headers['access-control-expose-headers'], 'Retry-After, WWW-Authenticate', 'the headers a client needs to read')
    t.equal(res.headers['access-control-allow-credentials'], undefined, 'no credentials mode: tokens travel in Authorization')
    hasSecurityHeaders(t, res.headers, `${origin} GET /`)
  }
  for (const [url, method] of [['/login', 'POST'], ['/me/password', 'PUT'], ['/me/sessions/x', 'DELETE'], ['/', 'GET']]) {
    const res = await preflight(app, LISTED, url, method)
    t.equal(res.statusCode, 204, `preflight ${method} ${url}`)
    t.equal(res.headers['access-control-allow-origin'], LISTED)
    t.ok(String(res.headers['access-control-allow-methods']).split(', ').includes(method), `allows ${method}`)
    t.equal(res.headers['access-control-allow-headers'], 'Authorization, Content-Type')
    t.equal(res.headers['access-control-max-age'], '600')
  }
  // What the preflight announced works: a cross-origin login, and its refusal readable with Retry-After.
  await addUser(app, 'alice', PASSWORD)
  const ok = await login(app, { username: 'alice', password: PASSWORD }, { origin: LISTED })
  t.equal(ok.statusCode, 200)
  t.equal(ok.headers['access-control-allow-origin'], LISTED)
  const limited = await login(app, { username: 'alice', password: PASSWORD }, { origin: LISTED })
  t.equal(limited.statusCode, 429)
  t.equal(limited.headers['access-control-allow-origin'], LISTED, 'the 429 is readable by the listed origin')
  t.ok(limited.headers['retry-after'])
})

t.test('CORS: an unlisted origin gets no CORS header at all, and no preflight', async (t) => {
  const app = await build(t, testEnv(t, { CORS_ORIGINS: LISTED }))
  for (const origin of [UNLISTED, 'https://app.example.com.evil.example', 'http://app.example.com', 'https://APP.example.com', 'null']) {
    const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json', headers: { origin } })
    t.equal(res.statusCode, 200)
    t.same(corsHeaders(res), [], `${origin}: no access-control-* header`)
    const pre = await preflight(app, origin)
    t.equal(pre.statusCode, 404, `${origin}: preflight not answered`)
    t.same(corsHeaders(pre), [], `${origin}: preflight without access-control-* headers`)
    hasSecurityHeaders(t, pre.headers, `${origin} preflight (404)`)
  }
  t.same(corsHeaders(await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })), [], 'no Origin header: none either')
})

t.test('CORS: without CORS_ORIGINS nobody gets CORS headers', async (t) => {
  const app = await build(t, testEnv(t))
  const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json', headers: { origin: LISTED } })
  t.equal(res.statusCode, 200)
  t.same(corsHeaders(res), [])
  const pre = await preflight(app, LISTED)
  t.equal(pre.statusCode, 404)
  t.same(corsHeaders(pre), [])
})

t.test('CORS: a listed origin works through a real listening server (browsers\' preflight as sent)', async (t) => {
  const app = await build(t, testEnv(t, { CORS_ORIGINS: LISTED }))
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const pre = await fetch(`${base}/token/refresh`, { method: 'OPTIONS', headers: { origin: LISTED, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
  t.equal(pre.status, 204)
  t.equal(pre.headers.get('access-control-allow-origin'), LISTED)
  t.equal(pre.headers.get('content-length'), '0')
  const res = await httpCall(base, 'POST', '/token/refresh', { body: { refreshToken: 'rt_unknown' } })
  t.equal(res.status, 401)
})

t.test('a bad CORS_ORIGINS stops start-up with a message naming the variable', async (t) => {
  for (const value of ['*', 'null', 'app.example.com', 'https://app.example.com/', 'https://app.example.com/path', 'https://APP.example.com', 'ftp://files.example.com', `${LISTED},`]) {
    await t.rejects(build(t, testEnv(t, { CORS_ORIGINS: value })), { message: /^env\/CORS_ORIGINS must be a comma-separated list of origins/ }, `CORS_ORIGINS=${value}`)
  }
  await t.rejects(build(t, testEnv(t, { CORS_ORIGINS: 'https://app.example.com/' })), { message: /did you mean https:\/\/app\.example\.com\?/ })
})
