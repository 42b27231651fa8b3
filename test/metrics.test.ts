// GET /metrics: Prometheus text that parses, counters that move with real logins, refreshes, reuse and
// rate-limit refusals, the request histogram by route pattern, the verified-token cache, the hash queue,
// live sessions from the store (and a store that fails or hangs leaving the rest served); who may scrape:
// loopback peers by the socket's address (never X-Forwarded-For), or with METRICS_TOKEN its holders only.
import type { FastifyInstance, InjectOptions } from 'fastify'
import { connect } from 'node:net'
import { Histogram, Registry } from 'prom-client'
import t, { type Test } from 'tap'
import { DURATION_BUCKETS, RequestDurations } from '../src/observability/metrics.js'
import { addUser, bearer, build, buildWithLogs, greet, login, loginTokens, needs, PASSWORD, postgresDatabase, refresh, tcpProxy, testEnv, throughProxy } from './support/index.js'

const TOKEN = 'mt_' + 'k7Qz9vX2pL4wR8sN1bY6cH3jF5dG0aTe' // a test's own METRICS_TOKEN (35 characters)
const WRONG = 'mt_' + 'k7Qz9vX2pL4wR8sN1bY6cH3jF5dG0aTf' // one character off

function scrape (app: FastifyInstance, options: Partial<InjectOptions> = {}) {
  return app.inject({ method: 'GET', url: '/metrics', ...options })
}

// The text exposition format (version 0.0.4), line by line: comments are HELP or TYPE of a metric name,
// samples are `name{label="value",…} value`; every sample belongs to a family (histograms: _bucket, _sum,
// _count) whose HELP and TYPE came first. Returns the samples, keyed `name{labels as sent}`.
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:\\\\[\\\\"n]|[^"\\\\\\n])*"'
const VALUE = '(?:[-+]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][-+]?\\d+)?|NaN|[-+]?Inf)'
const SAMPLE = new RegExp(`^(${NAME})(\\{(?:${LABEL}(?:,${LABEL})*)?,?\\})? (${VALUE})(?: -?\\d+)?$`)
const HELP = new RegExp(`^# HELP (${NAME}) .*$`)
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`)

interface Exposition { samples: Map<string, number>, types: Map<string, string>, problems: string[] }

function parse (text: string): Exposition {
  const samples = new Map<string, number>()
  const types = new Map<string, string>()
  const helps = new Set<string>()
  const problems: string[] = []
  if (!text.endsWith('\n')) problems.push('the text does not end with a newline')
  for (const line of text.split('\n')) {
    if (line === '') continue
    let m: RegExpMatchArray | null
    if ((m = line.match(HELP))) { helps.add(m[1]); continue }
    if ((m = line.match(TYPE))) {
      if (types.has(m[1])) problems.push(`TYPE twice: ${line}`)
      types.set(m[1], m[2])
      continue
    }
    if (line.startsWith('#')) { problems.push(`not HELP or TYPE: ${line}`); continue }
    if (!(m = line.match(SAMPLE))) { problems.push(`not a sample: ${line}`); continue }
    const name = m[1]
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '')
    if (!types.has(family)) problems.push(`no TYPE before ${name}`)
    else if (family !== name && types.get(family) !== 'histogram' && types.get(family) !== 'summary') problems.push(`${name} in a ${types.get(family)}`)
    if (!helps.has(family)) problems.push(`no HELP before ${name}`)
    // Keyed with the labels in name order, whatever order they came in.
    const labels = [...(m[2] ?? '').matchAll(new RegExp(LABEL, 'g'))].map((l) => l[0]).sort()
    const key = name + (labels.length > 0 ? `{${labels.join(',')}}` : '')
    if (samples.has(key)) problems.push(`sample twice: ${key}`)
    samples.set(key, Number(m[3].replace('Inf', 'Infinity')))
  }
  return { samples, types, problems }
}

async function metricsOf (t: Test, app: FastifyInstance): Promise<Map<string, number>> {
  const res = await scrape(app)
  t.equal(res.statusCode, 200, 'GET /metrics answers')
  const { samples, problems } = parse(res.body)
  t.same(problems, [], 'the text parses')
  return samples
}

const auditOf = (lines: string[]) => lines.map((l) => JSON.parse(l)).filter((l) => l.audit).map((l) => l.audit)

t.test('the text parses as Prometheus exposition, with the process metrics under the prefix', async (t) => {
  const app = await build(t)
  const res = await scrape(app)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
  t.equal(res.headers['cache-control'], 'no-store')
  const { samples, types, problems } = parse(res.body)
  t.same(problems, [], 'every line is HELP, TYPE or a sample of a declared family')
  for (const [name, type] of Object.entries({
    auth_service_process_cpu_user_seconds_total: 'counter',
    auth_service_process_resident_memory_bytes: 'gauge',
    auth_service_nodejs_heap_size_used_bytes: 'gauge',
    auth_service_nodejs_eventloop_lag_p99_seconds: 'gauge',
    auth_service_http_request_duration_seconds: 'histogram',
    auth_service_logins_total: 'counter',
    auth_service_token_refreshes_total: 'counter',
    auth_service_refresh_token_reuse_total: 'counter',
    auth_service_rate_limited_total: 'counter',
    auth_service_audit_events_total: 'counter',
    auth_service_token_cache_hits_total: 'counter',
    auth_service_token_cache_misses_total: 'counter',
    auth_service_token_cache_entries: 'gauge',
    auth_service_hash_queue_waiting: 'gauge',
    auth_service_hashes_running: 'gauge',
    auth_service_sessions_live: 'gauge'
  })) t.equal(types.get(name), type, `${name} is a ${type}`)
  t.equal(samples.get('auth_service_hash_queue_waiting'), 0, 'nothing waits for a hash at rest')
  t.equal(samples.get('auth_service_hashes_running'), 0, 'nothing hashes at rest')
  t.equal(samples.get('auth_service_sessions_live'), 0, 'no session yet')
  for (const outcome of ['succeeded', 'failed', 'throttled']) t.equal(samples.get(`auth_service_logins_total{outcome="${outcome}"}`), 0, `logins ${outcome} start at 0`)
  t.equal(samples.get('auth_service_audit_events_total{event="admin_created"}'), 1, 'the first admin, made at start-up, is counted')
  t.equal(samples.get('auth_service_audit_events_total{event="user_disabled"}'), 0, 'every event is there from the start')

  t.notMatch(res.body, / Nan$/m, 'NaN is spelled as the format says')
  // The parser refuses what is not the format (so that a broken exposition would fail the test).
  t.not(parse('auth_service_x 1\n').problems.length, 0, 'a sample with no TYPE is refused')
  t.not(parse('# TYPE a counter\n# HELP a x\na{b="c} 1\n').problems.length, 0, 'a broken label is refused')
})

t.test('the request-duration histogram writes what prom-client\'s own Histogram would for the same observations', async (t) => {
  const ours = new Registry()
  const theirs = new Registry()
  const durations = new RequestDurations('d', [ours])
  const reference = new Histogram({ name: 'd', help: 'Time to answer a request, seconds, by method, route pattern and status code', labelNames: ['method', 'route', 'status_code'], buckets: DURATION_BUCKETS, registers: [theirs] })
  const observations: Array<[string, string | undefined, number, number]> = [
    ['GET', '/', 200, 0], ['GET', '/', 200, 0.0005], ['GET', '/', 200, 0.0007], ['GET', '/', 200, 0.003], ['GET', '/', 200, 20],
    ['GET', '/', 401, 0.001], ['POST', '/login', 200, 0.25], ['POST', '/login', 200, 10], ['GET', undefined, 404, 0.00001], ['HEAD', '/', 200, 0.1]
  ]
  for (const [method, route, status, seconds] of observations) {
    durations.record(method, route, status, seconds)
    reference.observe({ method, route: route ?? 'unmatched', status_code: String(status) }, seconds)
  }
  const sorted = async (registry: Registry) => (await registry.metrics()).split('\n').sort()
  t.same(await sorted(ours), await sorted(theirs), 'the same lines')
})

t.test('logins succeeded, failed and throttled; refreshes; reuse; a wrong current password is not a login', async (t) => {
  let now = Date.now()
  const { app, lines } = await buildWithLogs(t, testEnv(t, { LOGIN_THROTTLE_FREE_FAILURES: '2', REFRESH_REUSE_GRACE: '0' }), { clock: () => now })
  await addUser(app, 'alice', PASSWORD)
  const before = await metricsOf(t, app)
  const login = (username: string, password: string, remoteAddress = '198.51.100.1') =>
    app.inject({ method: 'POST', url: '/login', remoteAddress, payload: { username, password } })

  t.equal((await login('alice', PASSWORD)).statusCode, 200)
  t.equal((await login('alice', 'not the password')).statusCode, 401)
  t.equal((await login('alice', 'not the password')).statusCode, 401)
  t.equal((await login('alice', 'not the password')).statusCode, 429, 'the third failure in a row is throttled')
  t.equal((await login('nobody', 'whatever', '198.51.100.2')).statusCode, 401, 'an unknown user')
  const tokens = await loginTokens(app, 'alice', PASSWORD) // from 127.0.0.1: a second success
  const next = await refresh(app, tokens.refreshToken)
  t.equal(next.statusCode, 200)
  now += 1000
  t.equal((await refresh(app, tokens.refreshToken)).statusCode, 401, 'the spent token again: reuse')
  const other = await loginTokens(app, 'alice', PASSWORD)
  const change = await app.inject({ method: 'PUT', url: '/me/password', headers: bearer(other.token), payload: { currentPassword: 'wrong', newPassword: 'another long passphrase here' } })
  t.equal(change.statusCode, 403, 'a wrong current password')

  const after = await metricsOf(t, app)
  const delta = (key: string) => (after.get(key) ?? NaN) - (before.get(key) ?? 0)
  t.equal(delta('auth_service_logins_total{outcome="succeeded"}'), 3, 'three logins succeeded')
  t.equal(delta('auth_service_logins_total{outcome="failed"}'), 3, 'three failed (two wrong passwords, one unknown user), the password change not among them')
  t.equal(delta('auth_service_logins_total{outcome="throttled"}'), 1, 'one throttled')
  t.equal(delta('auth_service_token_refreshes_total'), 1, 'one refresh')
  t.equal(delta('auth_service_refresh_token_reuse_total'), 1, 'one reuse detected')
  t.equal(delta('auth_service_audit_events_total{event="login_failed"}'), 4, 'every login_failed record is an audit event, the password change\'s too')

  // They count what the audit records: one for one.
  const audit = auditOf(lines)
  const count = (event: string) => audit.filter((a) => a.event === event).length
  t.equal(after.get('auth_service_logins_total{outcome="succeeded"}'), count('login_succeeded'))
  t.equal(after.get('auth_service_logins_total{outcome="throttled"}'), count('login_throttled'))
  t.equal(after.get('auth_service_token_refreshes_total'), count('token_refreshed'))
  t.equal(after.get('auth_service_refresh_token_reuse_total'), count('refresh_reuse_detected'))
})

t.test('rate-limit refusals, by route pattern', async (t) => {
  const app = await build(t, testEnv(t, { RATE_LIMIT_LOGIN: '2', RATE_LIMIT_REFRESH: '1' }))
  for (let i = 0; i < 2; i++) t.equal((await login(app, 'nobody', 'wrong password')).statusCode, 401)
  for (let i = 0; i < 3; i++) t.equal((await login(app, 'nobody', 'wrong password')).statusCode, 429)
  t.equal((await refresh(app, 'rt_nothing')).statusCode, 401)
  t.equal((await refresh(app, 'rt_nothing')).statusCode, 429)
  const samples = await metricsOf(t, app)
  t.equal(samples.get('auth_service_rate_limited_total{route="/login"}'), 3, 'three refusals on /login')
  t.equal(samples.get('auth_service_rate_limited_total{route="/token/refresh"}'), 1, 'one on /token/refresh')
  t.equal(samples.get('auth_service_logins_total{outcome="failed"}'), 2, 'the refused ones are not login failures')
  for (let i = 0; i < 5; i++) t.equal((await scrape(app)).statusCode, 200, 'GET /metrics itself is not rate-limited')
})

t.test('request durations by method, route pattern and status; the verified-token cache', async (t) => {
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  const { token } = await loginTokens(app, 'alice', PASSWORD)
  const before = await metricsOf(t, app)
  for (let i = 0; i < 5; i++) t.equal((await greet(app, `Bearer ${token}`)).statusCode, 200)
  t.equal((await greet(app, 'Bearer nonsense')).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: '/no/such/thing?user=alice' })).statusCode, 404)
  const res = await scrape(app)
  const after = parse(res.body).samples
  const delta = (key: string) => (after.get(key) ?? NaN) - (before.get(key) ?? 0)
  t.equal(delta('auth_service_http_request_duration_seconds_count{method="GET",route="/",status_code="200"}'), 5, 'five GET / answered 200')
  t.equal(delta('auth_service_http_request_duration_seconds_count{method="GET",route="/",status_code="401"}'), 1, 'one 401')
  t.equal(delta('auth_service_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/",status_code="200"}'), 5, 'in the +Inf bucket')
  t.ok(delta('auth_service_http_request_duration_seconds_sum{method="GET",route="/",status_code="200"}') > 0, 'with their time')
  t.equal(after.get('auth_service_http_request_duration_seconds_count{method="POST",route="/login",status_code="200"}'), 1, 'the login')
  t.equal(after.get('auth_service_http_request_duration_seconds_count{method="GET",route="unmatched",status_code="404"}'), 1, 'an unknown URL is "unmatched"')
  t.notMatch(res.body, /no\/such|user=alice/, 'never the raw URL')
  t.equal(delta('auth_service_token_cache_hits_total'), 4, 'the same token five times: four cache hits')
  t.equal(delta('auth_service_token_cache_misses_total'), 2, 'its first verification and the refused token: misses')
  t.equal(after.get('auth_service_token_cache_entries'), app.accessTokens.cacheSize, 'the cache size')
  t.ok(after.get('auth_service_token_cache_entries')! >= 1)
})

t.test('hash queue depth and running hashes while logins wait', async (t) => {
  const app = await build(t, testEnv(t, { HASH_CONCURRENCY: '1' }))
  await addUser(app, 'alice', PASSWORD)
  const logins = Array.from({ length: 4 }, (_, i) => app.inject({ method: 'POST', url: '/login', remoteAddress: `198.51.100.${i + 1}`, payload: { username: 'alice', password: PASSWORD } }))
  let seen: Map<string, number> | undefined
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    const samples = parse((await scrape(app)).body).samples
    if (samples.get('auth_service_hashes_running') === 1 && samples.get('auth_service_hash_queue_waiting') === 3) { seen = samples; break }
    await new Promise((resolve) => setImmediate(resolve))
  }
  t.ok(seen, 'one hash running and three waiting, seen while the logins were in flight')
  t.same((await Promise.all(logins)).map((r) => r.statusCode), [200, 200, 200, 200])
  const rest = await metricsOf(t, app)
  t.equal(rest.get('auth_service_hashes_running'), 0)
  t.equal(rest.get('auth_service_hash_queue_waiting'), 0)
})

t.test('live sessions: started minus ended, from the store, at most 10 s old', async (t) => {
  let now = Date.now()
  const app = await build(t, testEnv(t), { clock: () => now })
  await addUser(app, 'alice', PASSWORD)
  await addUser(app, 'bob', PASSWORD)
  const live = async () => { now += 10_001; return (await metricsOf(t, app)).get('auth_service_sessions_live') }
  t.equal(await live(), 0)
  const sessions = []
  for (let i = 0; i < 3; i++) sessions.push(await loginTokens(app, 'alice', PASSWORD))
  sessions.push(await loginTokens(app, 'bob', PASSWORD))
  t.equal(await live(), 4, 'four started')
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(sessions[0].token) })).statusCode, 204)
  t.equal(await live(), 3, 'four started, one ended')
  const cached = (await metricsOf(t, app)).get('auth_service_sessions_live')
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(sessions[3].token), payload: { scope: 'all' } })).statusCode, 204)
  t.equal((await metricsOf(t, app)).get('auth_service_sessions_live'), cached, 'within 10 s the count is not asked again')
  t.equal(await live(), 2, 'four started, two ended')
  now += 31 * 86_400_000
  t.equal(await live(), 0, 'expired sessions are not live')
})

t.test('the store hangs or is down: GET /metrics still answers 200 in bounded time, without sessions_live', await needs('postgres'), async (t) => {
  const url = new URL(postgresDatabase(t))
  const proxy = await tcpProxy(t, { host: '127.0.0.1', port: Number(url.port) })
  let now = Date.now()
  const { app, lines } = await buildWithLogs(t, testEnv(t, { DATABASE_URL: throughProxy(url.toString(), proxy.port), DATABASE_STATEMENT_TIMEOUT: '5' }), { clock: () => now })
  await addUser(app, 'alice', PASSWORD)
  await loginTokens(app, 'alice', PASSWORD)
  t.equal((await metricsOf(t, app)).get('auth_service_sessions_live'), 1)

  proxy.stall()
  now += 10_001
  let started = Date.now()
  let res = await scrape(app)
  t.equal(res.statusCode, 200, 'a hanging store: 200')
  t.ok(Date.now() - started < 3000, `within the 2 s bound (${Date.now() - started} ms)`)
  let { samples, problems } = parse(res.body)
  t.same(problems, [])
  t.notOk(samples.has('auth_service_sessions_live'), 'sessions_live left out, not 0')
  t.ok(samples.has('auth_service_logins_total{outcome="succeeded"}'), 'the rest is served')
  t.ok(lines.some((l) => /live-session count is left out/.test(l)), 'a warning says why')

  proxy.cut()
  now += 10_001
  started = Date.now()
  res = await scrape(app)
  t.equal(res.statusCode, 200, 'a store that is gone: 200')
  t.ok(Date.now() - started < 3000, `within the bound (${Date.now() - started} ms)`)
  ;({ samples, problems } = parse(res.body))
  t.same(problems, [])
  t.notOk(samples.has('auth_service_sessions_live'), 'sessions_live left out')
  t.ok(samples.has('auth_service_process_cpu_user_seconds_total'), 'the process metrics are served')
})

t.test('who may scrape without METRICS_TOKEN: loopback peers, by the socket\'s address', async (t) => {
  const app = await build(t, testEnv(t, { TRUST_PROXY: '127.0.0.1' }))
  const notFound = await app.inject({ method: 'GET', url: '/no-such-route' })
  const refused = async (options: Partial<InjectOptions>, what: string) => {
    const res = await scrape(app, options)
    t.equal(res.statusCode, 404, `${what}: 404`)
    t.same(res.json(), notFound.json(), `${what}: the answer of a route that does not exist`)
    t.notMatch(res.body, /auth_service/, `${what}: no metrics`)
  }
  for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) {
    t.equal((await scrape(app, { remoteAddress: address })).statusCode, 200, `${address}: 200`)
  }
  await refused({ remoteAddress: '203.0.113.5' }, 'a public address')
  await refused({ remoteAddress: '10.1.2.3' }, 'a private address')
  await refused({ remoteAddress: '::ffff:203.0.113.5' }, 'a mapped public address')
  await refused({ remoteAddress: '2001:db8::1' }, 'an IPv6 address')
  await refused({ remoteAddress: '203.0.113.5', headers: { 'x-forwarded-for': '127.0.0.1' } }, 'X-Forwarded-For: 127.0.0.1 from an untrusted peer')
  await refused({ remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.9' } }, 'a request forwarded by a proxy on this host')
  await refused({ remoteAddress: '127.0.0.1', headers: { forwarded: 'for=203.0.113.9' } }, 'a request with Forwarded')
  t.equal((await scrape(app, { remoteAddress: '203.0.113.5', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 404, 'a token means nothing when none is configured')
})

t.test('X-Forwarded-For that request.ip believes (the peer is a trusted proxy) still does not make a loopback peer', async (t) => {
  const { app, lines } = await buildWithLogs(t, testEnv(t, { TRUST_PROXY: '203.0.113.0/24' }))
  const headers = { 'x-forwarded-for': '127.0.0.1' }
  t.equal((await scrape(app, { remoteAddress: '203.0.113.5', headers })).statusCode, 404, 'refused')
  // For this same request, request.ip is 127.0.0.1: what the audit records as the client's address.
  await app.inject({ method: 'POST', url: '/login', remoteAddress: '203.0.113.5', headers, payload: { username: 'nobody', password: 'wrong password' } })
  t.equal(auditOf(lines).find((a) => a.event === 'login_failed')?.ip, '127.0.0.1', 'request.ip would have said loopback')
})

t.test('with METRICS_TOKEN: its holders from anywhere, nobody else (loopback included); the token is never logged', async (t) => {
  const { app, lines } = await buildWithLogs(t, testEnv(t, { METRICS_TOKEN: TOKEN }))
  for (const [options, what] of [
    [{ remoteAddress: '203.0.113.5', headers: { authorization: `Bearer ${TOKEN}` } }, 'from a public address'],
    [{ headers: { authorization: `Bearer ${TOKEN}` } }, 'from loopback'],
    [{ remoteAddress: '127.0.0.1', headers: { authorization: `bearer ${TOKEN}`, 'x-forwarded-for': '198.51.100.7' } }, 'through a proxy, the scheme in lower case']
  ] as const) {
    const res = await scrape(app, options)
    t.equal(res.statusCode, 200, `the right token ${what}: 200`)
    t.same(parse(res.body).problems, [])
  }
  for (const [options, what] of [
    [{}, 'no token, from loopback'],
    [{ remoteAddress: '203.0.113.5' }, 'no token, from a public address'],
    [{ headers: { authorization: `Bearer ${WRONG}` } }, 'a wrong token of the same length'],
    [{ headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}` } }, 'a prefix of the token'],
    [{ headers: { authorization: `Bearer ${TOKEN}x` } }, 'the token and more'],
    [{ headers: { authorization: TOKEN } }, 'the token without the scheme'],
    [{ headers: { authorization: `Basic ${TOKEN}` } }, 'another scheme'],
    [{ headers: { authorization: 'Bearer ' } }, 'an empty token']
  ] as const) {
    t.equal((await scrape(app, options)).statusCode, 404, `${what}: 404`)
  }
  t.ok(lines.length > 0)
  t.notOk(lines.some((l) => l.includes(TOKEN.slice(3)) || l.includes(WRONG.slice(3))), 'no log line has the token (or the wrong one)')
})

t.test('two Authorization headers: refused (404) whichever comes first, as the protected routes refuse them', async (t) => {
  for (const METRICS_TOKEN of [TOKEN, undefined]) {
    const app = await build(t, testEnv(t, { METRICS_TOKEN }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    const send = (headers: string) => new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(`GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`))
      let data = ''
      socket.on('data', (d) => { data += d })
      socket.on('end', () => resolve(data))
      socket.on('error', reject)
    })
    const what = METRICS_TOKEN === undefined ? 'without METRICS_TOKEN, from loopback' : 'with METRICS_TOKEN'
    const one = METRICS_TOKEN === undefined ? '' : `Authorization: Bearer ${TOKEN}\r\n`
    t.match(await send(one), /^HTTP\/1.1 200/, `${what}: the control scrape passes`)
    for (const [name, headers] of [
      ['the token, then a wrong one', `Authorization: Bearer ${TOKEN}\r\nAuthorization: Bearer ${WRONG}\r\n`],
      ['a wrong one, then the token', `Authorization: Bearer ${WRONG}\r\nAuthorization: Bearer ${TOKEN}\r\n`],
      ['the token twice', `Authorization: Bearer ${TOKEN}\r\nauthorization: Bearer ${TOKEN}\r\n`]
    ]) {
      const answer = await send(headers)
      t.match(answer, /^HTTP\/1.1 404/, `${what}, ${name}: 404`)
      t.match(answer, /\{"statusCode":404,"error":"Not Found","message":"No such route","code":"not_found"\}$/, `${what}, ${name}: the answer of a route that does not exist`)
      t.notMatch(answer, /auth_service_/, `${what}, ${name}: no metrics`)
    }
  }
})

t.test('METRICS_TOKEN must be at least 32 visible characters; the refusal does not show it', async (t) => {
  const short = 'mt_short_secret_value_123'
  await t.rejects(build(t, testEnv(t, { METRICS_TOKEN: short })), /METRICS_TOKEN/)
  await build(t, testEnv(t, { METRICS_TOKEN: short })).catch((err: Error) => t.notMatch(err.message, short, 'the message does not hold the value'))
  await t.rejects(build(t, testEnv(t, { METRICS_TOKEN: 'a token with spaces in it, long enough' })), /METRICS_TOKEN/)
})
