import type { FastifyInstance } from 'fastify'
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage } from 'node:http'
import { Writable } from 'node:stream'
import type { Test } from 'tap'
import t from 'tap'
import { randomPassword } from '../src/passwords/hasher.js'
import { addUser, bearer, build, buildWithLogs, cli, freePort, login, loginTokens, PASSWORD, testEnv, type Env } from './support/index.js'

const signup = (app: FastifyInstance, username: string, password: string) =>
  app.inject({ method: 'POST', url: '/signup', payload: { username, password } })

// How much argon2 work the app has done so far.
const work = (app: FastifyInstance) => ({ hashes: app.passwordHasher.hashes, verifications: app.passwordHasher.verifications })

// 513 code points, 1,026 bytes of UTF-8: over the limit, though far below 1,024 characters.
const OVER = 'é'.repeat(513)
// 1,024 bytes exactly (two letters: one repeated would be refused as such).
const AT_LIMIT = 'éß'.repeat(256)

// Each new password the policy refuses, with the message it gets, for a user named dorothy-gale.
const USERNAME = 'dorothy-gale'
const REFUSED: Array<[string, string, RegExp]> = [
  ['a common password', 'password123', /password is too common/],
  ['a common password in capitals', 'PASSWORD123', /password is too common/],
  ['a common password, full width (NFKC)', 'ｐａｓｓｗｏｒｄ１２３', /password is too common/],
  ['the username', USERNAME, /password must not contain the username/],
  ['the username inside, in another case', 'My name is DOROTHY-GALE!', /password must not contain the username/],
  ['the username inside, full width (NFKC)', 'ｄｏｒｏｔｈｙ-ｇａｌｅ and toto', /password must not contain the username/],
  ["the service's name", 'my auth-service login', /password must not contain the service's name/],
  ["the service's name run together", 'AuthService forever', /password must not contain the service's name/],
  ["the service's name with a space", 'the auth service is fine', /password must not contain the service's name/],
  ['1,025 bytes or more', OVER, /password must be at most 1024 bytes/],
  // Spellings that an outside attack found looked different to the first version of the rules.
  ['one character that NFKC makes 18 (ﷺ)', '\uFDFA', /password must be at least 8 characters/],
  ['a common password with a trailing tab', 'password\t', /password is too common/],
  ['a common password with a zero-width space', 'pass\u200bword', /password is too common/],
  ['a common password with a combining accent', 'password\u0301', /password is too common/],
  ["the service's name with an en dash", 'auth\u2013service rocks', /password must not contain the service's name/],
  ["the service's name with a soft hyphen", 'auth\u00adservice rocks', /password must not contain the service's name/],
  ["the service's name with a dotted capital İ", 'AUTH-SERV\u0130CE-xyz', /password must not contain the service's name/],
  ["the service's name with a plus", 'auth+service rocks', /password must not contain the service's name/],
  ['the username with its dashes swapped for dots', 'I am dorothy.gale indeed', /password must not contain the username/],
  // Look-alikes (the UTS #39 skeleton, and every dash as one): what a person would call one character repeated.
  ['Cyrillic, Latin and Greek capital A (AAAAAAAA on screen)', 'АAΑАAΑАA', /password is one character repeated/],
  ['Latin, Greek and Cyrillic small o', 'oοоoοоoο', /password is one character repeated/],
  ['small l and capital I', 'lIlIlIlI', /password is one character repeated/],
  ['eight kinds of dash', '-‐‑‒–—―−', /password is one character repeated/],
  ['a common password with Cyrillic р and а', 'раssword', /password is too common/],
  // Two characters repeated: as quickly guessed.
  ['two letters repeated', 'abababab', /password is two characters repeated/],
  ['two punctuation marks repeated', '.,.,.,.,', /password is two characters repeated/]
]

t.test('the username inside the password, through case quirks (final sigma, ß, dotted İ)', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true' }))
  for (const [username, password] of [['ΟΔΥΣΣΕΑΣ', 'ΟΔΥΣΣΕΑΣabcdef'], ['σοφιας', 'ΣΟΦΙΑΣxyzuvw'], ['İstanbul', 'istanbul-is-nice'], ['straße', 'STRASSE-lovely-1']]) {
    const res = await signup(app, username, password)
    t.equal(res.statusCode, 400, `${username} / ${password}`)
    t.match(res.json().message, /password must not contain the username/)
  }
})

t.test('signup refuses each weak password with a clear 400, before any hashing', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true' }))
  for (const [what, password, message] of REFUSED) {
    const before = work(app)
    const res = await signup(app, USERNAME, password)
    t.equal(res.statusCode, 400, what)
    t.match(res.json(), { statusCode: 400, error: 'Bad Request', message }, `${what}: the message says why`)
    t.notMatch(res.body, password, `${what}: the password is not echoed`)
    t.same(work(app), before, `${what}: nothing hashed`)
  }
  t.notOk(await app.accounts.find(USERNAME), 'no account made')
  t.equal(Buffer.byteLength(AT_LIMIT), 1024)
  t.equal((await signup(app, USERNAME, AT_LIMIT)).statusCode, 201, '1,024 bytes are accepted')
  t.equal((await login(app, USERNAME, AT_LIMIT)).statusCode, 200, 'and log in')
  t.equal((await signup(app, 'someone-else', PASSWORD)).statusCode, 201, "test/support/env.ts's PASSWORD passes")
})

t.test('PUT /me/password refuses each weak new password with a clear 400, before any hashing', async (t) => {
  const app = await build(t)
  await addUser(app, USERNAME, PASSWORD)
  const { token } = await loginTokens(app, USERNAME, PASSWORD)
  const change = (currentPassword: string, newPassword: string) =>
    app.inject({ method: 'PUT', url: '/me/password', headers: bearer(token), payload: { currentPassword, newPassword } })
  for (const [what, password, message] of REFUSED) {
    const before = work(app)
    const res = await change(PASSWORD, password)
    t.equal(res.statusCode, 400, what)
    t.match(res.json().message, new RegExp('^newPassword: ' + message.source), `${what}: the message says why`)
    t.notMatch(res.body, password, `${what}: the password is not echoed`)
    t.same(work(app), before, `${what}: nothing hashed or verified`)
  }
  const before = work(app)
  const current = await change(OVER, 'a brand new passphrase')
  t.equal(current.statusCode, 400, 'a current password over 1,024 bytes')
  t.equal(current.json().message, 'currentPassword must be at most 1024 bytes (UTF-8)')
  t.same(work(app), before, 'nothing verified')
  t.equal((await login(app, USERNAME, PASSWORD)).statusCode, 200, 'the password did not change')
  t.equal((await change(PASSWORD, AT_LIMIT)).statusCode, 204, '1,024 bytes are accepted')
  t.equal((await login(app, USERNAME, AT_LIMIT)).statusCode, 200)
})

t.test('a login with a password over 1,024 bytes is 400, the same for any user, without verifying', async (t) => {
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  const answers = []
  for (const username of ['alice', 'nobody-by-that-name']) {
    const before = work(app)
    const res = await login(app, username, OVER)
    t.equal(res.statusCode, 400, username)
    t.same(work(app), before, `${username}: no verification`)
    answers.push(res.body)
  }
  t.equal(answers[0], answers[1], 'one answer whether the user exists or not')
  t.same(JSON.parse(answers[0]), { statusCode: 400, error: 'Bad Request', message: 'password must be at most 1024 bytes (UTF-8)', code: 'validation_failed' })
  const long = 'x'.repeat(1025) // ASCII: the same rule, the same message
  t.equal((await login(app, 'alice', long)).json().message, 'password must be at most 1024 bytes (UTF-8)')
})

t.test('a body over the body limit is 413, whatever the route', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true' }))
  await addUser(app, 'alice', PASSWORD)
  const { token } = await loginTokens(app, 'alice', PASSWORD)
  const huge = 'x'.repeat(2 * 1024 * 1024)
  const before = work(app)
  for (const [method, url, payload] of [
    ['POST', '/login', { username: 'alice', password: huge }],
    ['POST', '/signup', { username: 'bob', password: huge }],
    ['PUT', '/me/password', { currentPassword: PASSWORD, newPassword: huge }]
  ] as const) {
    const res = await app.inject({ method, url, headers: bearer(token), payload })
    t.equal(res.statusCode, 413, `${method} ${url}`)
  }
  t.same(work(app), before, 'nothing hashed')
})

t.test('PASSWORD_MIN_LENGTH raises the minimum, counted in code points; never below 8', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true', PASSWORD_MIN_LENGTH: '12' }))
  const eleven = 'zebra-🦓-pie' // 11 code points, 12 UTF-16 units
  t.equal([...eleven].length, 11)
  const short = await signup(app, 'alice', eleven)
  t.equal(short.statusCode, 400)
  t.equal(short.json().message, 'password must be at least 12 characters, not counting spaces and invisible characters')
  t.equal((await signup(app, 'alice', eleven + '!')).statusCode, 201, 'twelve are enough')
  await t.rejects(build(t, testEnv(t, { PASSWORD_MIN_LENGTH: '7' })), { message: /env\/PASSWORD_MIN_LENGTH must be >= 8/ })
})

t.test('a JWT_ISSUER that is a plain word is refused inside passwords too; a URL is not', async (t) => {
  const word = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true', JWT_ISSUER: 'Acme-Login' }))
  const res = await signup(word, 'alice', 'my acme login rocks')
  t.equal(res.statusCode, 400)
  t.match(res.json().message, /must not contain the service's name/)
  const url = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true', JWT_ISSUER: 'https://id.example.com' }))
  t.equal((await signup(url, 'alice', 'https://id.example.com rocks')).statusCode, 201)
})

t.test('the CLI refuses a weak password with exit 1 and one clear line', async (t) => {
  const env = testEnv(t)
  const add = await cli(env, ['users', 'add', 'bob'], 'password123\n')
  t.equal(add.code, 1, 'users add')
  t.equal(add.stderr, 'error: password is too common: it is one of the 10,000 most used passwords; choose another\n')
  t.equal((await cli(env, ['users', 'add', 'bob'], 'bobs bobsleigh\n')).stderr, 'error: password must not contain the username\n')
  t.equal((await cli(env, ['users', 'add', 'bob'], 'a fine passphrase\n')).code, 0)
  for (const [password, message] of [['password123', /too common/], ['iloveyou', /too common/], ['I am bob!!', /the username/], ['AUTH-SERVICE-2026', /service's name/]] as const) {
    const set = await cli(env, ['users', 'set-password', 'bob'], password + '\n')
    t.equal(set.code, 1, `users set-password ${password}`)
    t.match(set.stderr, message)
    t.equal(set.stderr.split('\n').length, 2, 'one line')
    t.notMatch(set.stdout + set.stderr, password)
  }
  const app = await build(t, env)
  t.equal((await login(app, 'bob', 'a fine passphrase')).statusCode, 200, 'the password did not change')
})

// Builds the app with a logger of the test's own; resolves to the start-up error (or undefined) and the lines.
async function startWithLogs (t: Test, env: Env) {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, done) { lines.push(...chunk.toString().split('\n').filter(Boolean)); done() } })
  const error = await build(t, env, { server: { logger: { level: 'info', stream } } }).then(() => undefined, (err: Error) => err)
  return { error, lines }
}

t.test('a refused ADMIN_PASSWORD stops start-up, naming ADMIN_PASSWORD and never printing it', async (t) => {
  for (const [password, message] of [['password123', /is too common/], ['root-password', /must not contain the username/]] as const) {
    const { error, lines } = await startWithLogs(t, testEnv(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: password }))
    t.match(error?.message, new RegExp('^ADMIN_PASSWORD is refused: password ' + message.source), password)
    const fatal = lines.find((l) => l.includes('start-up failed'))
    t.match(fatal, /ADMIN_PASSWORD is refused/, 'the log says why start-up failed')
    t.notOk(lines.some((l) => l.includes(password)), 'no line holds the password')
  }
  const { error } = await startWithLogs(t, testEnv(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'first-password-1' }))
  t.equal(error, undefined, 'an acceptable one starts')
})

t.test('the generated first-admin password passes the policy', async (t) => {
  const app = await build(t)
  for (let i = 0; i < 1000; i++) t.equal(app.accounts.policy.problem(randomPassword(), 'admin'), undefined)
})

// A Pwned Passwords range API of the test's own: lists `listed` (count 7); answers every prefix with
// padding lines (count 0), among them the suffix of `padded`; records every request as it came.
async function rangeApi (t: Test, listed: string[], padded: string[] = [], answer?: (req: IncomingMessage) => string | undefined) {
  const requests: Array<{ url: string, headers: IncomingMessage['headers'], body: string }> = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => { body += d })
    req.on('end', () => {
      requests.push({ url: req.url ?? '', headers: req.headers, body })
      const special = answer?.(req)
      if (special === 'hang') return
      if (special !== undefined) { res.end(special); return }
      const match = /^\/range\/([0-9A-F]{5})$/.exec(req.url ?? '')
      if (!match) { res.writeHead(404).end(); return }
      const lines = ['00000000000000000000000000000000000:0', 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:0']
      for (const p of listed) if (sha1(p).startsWith(match[1])) lines.push(`${sha1(p).slice(5)}:7`)
      for (const p of padded) if (sha1(p).startsWith(match[1])) lines.push(`${sha1(p).slice(5)}:0`)
      res.end(lines.join('\r\n'))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests }
}

const sha1 = (password: string) => createHash('sha1').update(password.normalize('NFKC')).digest('hex').toUpperCase()

t.test('with BREACHED_PASSWORD_CHECK, a listed password is refused at every entry point; only a 5-character prefix is sent', async (t) => {
  const breached = 'purple monkey dishwasher'
  const clean = 'an unlisted passphrase'
  const api = await rangeApi(t, [breached], [clean])
  const env = testEnv(t, { SIGNUP_ENABLED: 'true', BREACHED_PASSWORD_CHECK: 'true', BREACHED_PASSWORD_API_URL: api.url })
  const app = await build(t, env)

  const refused = await signup(app, 'alice', breached)
  t.equal(refused.statusCode, 400, 'signup: listed')
  t.equal(refused.json().message, 'password appears in a known data breach (Have I Been Pwned); choose another')
  t.equal((await signup(app, 'alice', clean)).statusCode, 201, 'signup: unlisted (its own suffix is only padding, count 0)')

  const { token } = await loginTokens(app, 'alice', clean)
  const change = await app.inject({ method: 'PUT', url: '/me/password', headers: bearer(token), payload: { currentPassword: clean, newPassword: breached } })
  t.equal(change.statusCode, 400, 'PUT /me/password: listed')
  t.match(change.json().message, /^newPassword: password appears in a known data breach/)

  const add = await cli(env, ['users', 'add', 'bob'], breached + '\n')
  t.equal(add.code, 1, 'users add: listed')
  t.match(add.stderr, /known data breach/)
  t.equal((await cli(env, ['users', 'add', 'bob'], clean + '\n')).code, 0)
  const set = await cli(env, ['users', 'set-password', 'bob'], breached + '\n')
  t.equal(set.code, 1, 'users set-password: listed')
  t.match(set.stderr, /known data breach/)

  const admin = await startWithLogs(t, testEnv(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: breached, BREACHED_PASSWORD_CHECK: 'true', BREACHED_PASSWORD_API_URL: api.url }))
  t.match(admin.error?.message, /^ADMIN_PASSWORD is refused: password appears in a known data breach/, 'ADMIN_PASSWORD: listed')

  t.ok(api.requests.length >= 7, `the API was asked (${api.requests.length} requests)`)
  for (const request of api.requests) {
    t.match(request.url, /^\/range\/[0-9A-F]{5}$/, 'GET /range/<5 hex characters>')
    t.equal(request.headers['add-padding'], 'true', 'with Add-Padding')
    const sent = JSON.stringify(request)
    for (const password of [breached, clean]) {
      for (const secret of [password, sha1(password), sha1(password).slice(5), sha1(password).slice(0, 6)]) {
        t.notOk(sent.toUpperCase().includes(secret.toUpperCase()), 'neither the password, its hash, nor more than 5 characters of it')
      }
    }
  }
  t.same(new Set(api.requests.map((r) => r.url)), new Set([breached, clean].map((p) => `/range/${sha1(p).slice(0, 5)}`)))
})

// The warning lines about the breached-password check, and whether any line holds the password or its hash.
function warnings (lines: string[], password: string) {
  const hash = sha1(password)
  const found = lines.map((l) => JSON.parse(l)).filter((l) => /breached-password check/.test(l.msg))
  // The whole hash (or its suffix) in any line; its 5-character prefix in the warning.
  const leaks = [
    ...lines.filter((l) => l.includes(password) || l.toUpperCase().includes(hash.slice(5))),
    ...found.filter((w) => w.msg.toUpperCase().includes(hash.slice(0, 5)))
  ]
  return { found, leaks }
}

t.test('the breached-password check fails open: an unreachable, slow or senseless API lets the password through, with one warning', async (t) => {
  const hanging = await rangeApi(t, [], [], () => 'hang')
  const senseless = await rangeApi(t, [], [], () => '<html>Welcome to the hotel wifi</html>')
  const failing = await rangeApi(t, [], [], () => undefined)
  const cases: Array<[string, Env, RegExp]> = [
    ['a closed port', { BREACHED_PASSWORD_API_URL: `http://127.0.0.1:${await freePort()}` }, /cannot be reached: ECONNREFUSED/],
    ['no answer in time', { BREACHED_PASSWORD_API_URL: hanging.url, BREACHED_PASSWORD_TIMEOUT: '0.3' }, /did not answer within 0.3 s/],
    ['an answer that is not a range list', { BREACHED_PASSWORD_API_URL: senseless.url }, /its answer is not a range list/],
    ['an HTTP error', { BREACHED_PASSWORD_API_URL: failing.url + '/nowhere' }, /answered HTTP 404/]
  ]
  for (const [what, overrides, message] of cases) {
    const { app, lines } = await buildWithLogs(t, testEnv(t, { SIGNUP_ENABLED: 'true', BREACHED_PASSWORD_CHECK: 'true', ...overrides }))
    const password = `a passphrase for ${what}`
    const started = Date.now()
    t.equal((await signup(app, 'alice', password)).statusCode, 201, `${what}: the password is accepted`)
    t.ok(Date.now() - started < 2000, `${what}: without a long wait`)
    const { found, leaks } = warnings(lines, password)
    t.equal(found.length, 1, `${what}: exactly one warning`)
    t.equal(found[0]?.level, 40, 'at warn')
    t.match(found[0]?.msg, message, `${what}: it says why`)
    t.same(leaks, [], `${what}: no line holds the password, its hash or its prefix`)
    t.equal((await login(app, 'alice', password)).statusCode, 200)
  }
})

t.test('without BREACHED_PASSWORD_CHECK no request is made', async (t) => {
  const api = await rangeApi(t, ['purple monkey dishwasher'])
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true', BREACHED_PASSWORD_API_URL: api.url }))
  t.equal((await signup(app, 'alice', 'purple monkey dishwasher')).statusCode, 201)
  t.equal(api.requests.length, 0)
})
