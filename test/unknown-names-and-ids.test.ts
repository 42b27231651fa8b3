// Names and ids that no user or session can have get the answer of any unknown name or id, on SQLite and
// on PostgreSQL (test/postgres/ runs this file there): a NUL character, which PostgreSQL's text cannot
// hold at all, and ids longer than any the service makes — 65 characters, 200 (over the router's default
// limit of 100), 10,000. A login is a failed login (401, and a settled failure for the throttle), a
// session or a user is not found (404), a name for a new account breaks the rules (400). Never a 500,
// never the router's raw 414; each answer has the usual body, the security headers, an access line with
// the route's pattern and a sample in the request histogram.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import t from 'tap'
import type { RegisteredRoute } from './fixtures/route-list-app.js'
import { addUser, bearer, buildWithLogs, login, loginTokens, PASSWORD, testEnv } from './support/index.js'

const routeListApp = join(import.meta.dirname, 'fixtures', 'route-list-app.ts')

const SECURITY_HEADERS = ['content-security-policy', 'x-content-type-options', 'x-frame-options', 'strict-transport-security']

// Ids as they appear in a URL (percent-encoded where they must be), each with what it is.
const IDS: Array<[string, string]> = [
  ['a NUL inside', 'a%00b'],
  ['a NUL alone', '%00'],
  ['a NUL after a real-looking id', '00000000-0000-0000-0000-000000000000%00'],
  ['65 characters', 'a'.repeat(65)],
  ['200 characters', 'b'.repeat(200)],
  ['200 characters ending in a NUL', 'c'.repeat(197) + '%00'],
  ['10,000 characters', 'd'.repeat(10_000)]
]

// Names as a client types them into a JSON body.
const NAMES: Array<[string, string]> = [
  ['a NUL inside an existing name', 'ro\u0000ot'],
  ['an existing name and a NUL', 'root\u0000'],
  ['a NUL alone', '\u0000'],
  ['a lone surrogate inside an existing name', 'ro\ud800ot'],
  ['256 characters', 'e'.repeat(256)]
]

interface Line { level: number, msg: string, route?: string | null, status?: number, audit?: { event: string, reason?: string } }

t.test('a NUL or an over-long id or name: the answer of any unknown one, on every route that takes one', async (t) => {
  const adminPassword = randomBytes(12).toString('base64url')
  const { app, lines } = await buildWithLogs(t, testEnv(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: adminPassword, SIGNUP_ENABLED: 'true' }), { app: routeListApp })
  const admin = await loginTokens(app, 'root', adminPassword)
  await addUser(app, 'alice', PASSWORD)
  const alice = await loginTokens(app, 'alice', PASSWORD)
  const parsed = () => lines.map((l) => JSON.parse(l) as Line)

  // The routes with a path parameter are these three: a new one must be added here.
  const withParams = (app as unknown as { registeredRoutes: RegisteredRoute[] }).registeredRoutes
    .filter((r) => r.url.includes(':') && r.method !== 'HEAD').map((r) => `${r.method} ${r.url}`).sort()
  const ID_ROUTES = [
    { method: 'DELETE', pattern: '/me/sessions/:id', token: alice.token, message: 'No such session' },
    { method: 'POST', pattern: '/admin/users/:id/disable', token: admin.token, message: 'No such user' },
    { method: 'POST', pattern: '/admin/users/:id/enable', token: admin.token, message: 'No such user' }
  ] as const
  t.same(withParams, ID_ROUTES.map((r) => `${r.method} ${r.pattern}`).sort(), 'every route with a path parameter is tried')

  const expected = new Map<string, number>() // histogram samples this test adds, by method, route and status
  const count = (method: string, route: string, status: number) => {
    const key = `${method} ${route} ${status}`
    expected.set(key, (expected.get(key) ?? 0) + 1)
  }
  const check = (what: string, res: Awaited<ReturnType<typeof app.inject>>, status: number, message: string | RegExp) => {
    t.equal(res.statusCode, status, `${what}: ${status}`)
    t.match(res.json(), { statusCode: status, error: String, message }, `${what}: the usual body`)
    for (const name of SECURITY_HEADERS) t.ok(res.headers[name], `${what}: ${name}`)
  }

  for (const route of ID_ROUTES) {
    for (const [what, id] of IDS) {
      const url = route.pattern.replace(':id', id)
      const before = lines.length
      const res = await app.inject({ method: route.method, url, headers: bearer(route.token) })
      check(`${route.method} ${route.pattern}, ${what}`, res, 404, route.message)
      count(route.method, route.pattern, 404)
      const access = lines.slice(before).map((l) => JSON.parse(l) as Line).filter((l) => l.msg === 'request')
      t.match(access, [{ route: route.pattern, status: 404 }], `${route.method} ${route.pattern}, ${what}: one access line, with the route's pattern`)
      // Without a token, as for any id: the token is checked first.
      const anonymous = await app.inject({ method: route.method, url })
      check(`${route.method} ${route.pattern}, ${what}, without a token`, anonymous, 401, /token/)
      count(route.method, route.pattern, 401)
    }
  }

  for (const [what, username] of NAMES) {
    const before = lines.length
    const res = await login(app, username, PASSWORD)
    check(`POST /login, ${what}`, res, 401, 'Invalid credentials')
    count('POST', '/login', 401)
    const audits = lines.slice(before).map((l) => JSON.parse(l) as Line).filter((l) => l.audit !== undefined).map((l) => l.audit)
    t.match(audits, [{ event: 'login_failed', reason: 'unknown_user' }], `POST /login, ${what}: a failed login for an unknown user`)

    const signup = await app.inject({ method: 'POST', url: '/signup', payload: { username, password: 'a new account passphrase 9' } })
    check(`POST /signup, ${what}`, signup, 400, /^username /)
    count('POST', '/signup', 400)
  }
  for (const [what, refreshToken] of [['a NUL', 'rt_a\u0000b'], ['a NUL alone', '\u0000'], ['512 characters', 'rt_' + 'f'.repeat(509)]]) {
    const res = await app.inject({ method: 'POST', url: '/token/refresh', payload: { refreshToken } })
    check(`POST /token/refresh, ${what}`, res, 401, 'Invalid refresh token')
    count('POST', '/token/refresh', 401)
  }

  // Nothing was touched: the users and sessions are as they were, and the real names log in.
  t.equal((await login(app, 'root', adminPassword)).statusCode, 200, 'root logs in')
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(alice.token) })).statusCode, 200, 'alice\'s session is live')
  count('POST', '/login', 200)

  const logged = parsed()
  t.same(logged.filter((l) => l.level >= 50), [], 'no line at error level or above')
  t.same(logged.filter((l) => l.status === 500 || l.status === 414), [], 'no 500 or 414 in the access lines')

  const scrape = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(scrape.statusCode, 200)
  const samples = new Map(scrape.body.split('\n')
    .map((l) => l.match(/^auth_service_http_request_duration_seconds_count\{method="(\w+)",route="([^"]+)",status_code="(\d+)"\} (\d+)$/))
    .filter((m) => m !== null).map((m) => [`${m[1]} ${m[2]} ${m[3]}`, Number(m[4])]))
  for (const [key, n] of expected) t.ok((samples.get(key) ?? 0) >= n, `the histogram counts ${n} × ${key} (${samples.get(key) ?? 0})`)
  t.notOk([...samples.keys()].some((k) => /\b(500|414)$/.test(k)), 'no 500 or 414 in the histogram')
  t.notMatch(scrape.body, /unmatched",status_code="404/, 'no answer fell through to "no such route"')
})
