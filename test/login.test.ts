import t from 'tap'
import { addUser, build, claimsOf, login, PASSWORD, testEnv, LOGIN_BURSTS } from './support/index.js'

t.test('a stored user logs in and gets a bearer token', async (t) => {
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  const res = await login(app, 'alice', PASSWORD)
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['expiresIn', 'refreshExpiresIn', 'refreshToken', 'token', 'tokenType'])
  t.match(body.token, /^[\w-]+\.[\w-]+\.[\w-]+$/)
  t.equal(body.tokenType, 'Bearer')
  t.equal(body.expiresIn, 900)
  t.equal(res.headers['cache-control'], 'no-store')
  const claims = claimsOf<Record<string, unknown>>(body.token)
  t.equal(claims.username, 'alice')
  t.equal(claims.sub, (await app.accounts.find('alice'))!.id)
  t.equal(claims.iss, 'auth-service')
  t.equal(claims.aud, 'auth-service')
  t.equal((claims.exp as number) - (claims.iat as number), 900)
  t.type(claims.jti, 'string')
  t.type(claims.sid, 'string')
  t.same(claims.roles, [])
  t.equal(app.jwt.decode<{ header: Record<string, unknown> }>(body.token, { complete: true })!.header.typ, 'at+jwt')
  t.match(body.refreshToken, /^rt_[\w-]{43}$/, '256 bits, base64url')
  t.equal(body.refreshExpiresIn, 30 * 24 * 3600)
})

t.test('usernames are matched without regard to case', async (t) => {
  const app = await build(t)
  await addUser(app, 'Alice', PASSWORD)
  t.equal((await login(app, 'alice', PASSWORD)).statusCode, 200)
})

t.test('wrong password, unknown user and disabled user get the same 401', async (t) => {
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  await addUser(app, 'bob', PASSWORD)
  await app.accounts.setDisabledByName('bob', true)
  const expected = { statusCode: 401, error: 'Unauthorized', message: 'Invalid credentials', code: 'invalid_credentials' }

  const wrongPassword = await login(app, 'alice', 'not the password')
  const unknownUser = await login(app, 'mallory', PASSWORD)
  const disabled = await login(app, 'bob', PASSWORD)
  for (const [name, res] of Object.entries({ wrongPassword, unknownUser, disabled })) {
    t.equal(res.statusCode, 401, name)
    t.same(res.json(), expected, name)
    t.equal(res.body, wrongPassword.body, `${name}: byte-identical body`)
    t.equal(res.headers['content-type'], wrongPassword.headers['content-type'], `${name}: same content type`)
  }

  await app.accounts.setDisabledByName('bob', false)
  t.equal((await login(app, 'bob', PASSWORD)).statusCode, 200, 'enabled again, bob can log in')
})

t.test('bad input gets a 4xx that says what is wrong, never a 500', async (t) => {
  const app = await build(t)
  const json = { 'content-type': 'application/json' }
  const cases: Array<{ name: string, status: number, message: RegExp, headers?: Record<string, string>, payload?: string }> = [
    { name: 'missing password', status: 400, message: /body must have required property 'password'/, headers: json, payload: '{"username":"alice"}' },
    { name: 'missing username', status: 400, message: /body must have required property 'username'/, headers: json, payload: '{"password":"x"}' },
    { name: 'password is a number', status: 400, message: /body\/password must be string/, headers: json, payload: '{"username":"alice","password":123}' },
    { name: 'username is null', status: 400, message: /body\/username must be string/, headers: json, payload: '{"username":null,"password":"x"}' },
    { name: 'empty username', status: 400, message: /body\/username must NOT have fewer than 1 characters/, headers: json, payload: '{"username":"","password":"x"}' },
    { name: 'unknown field', status: 400, message: /body must NOT have additional properties/, headers: json, payload: '{"username":"alice","password":"x","admin":true}' },
    { name: 'body is an array', status: 400, message: /body must be object/, headers: json, payload: '[]' },
    { name: 'malformed JSON', status: 400, message: /not valid JSON/, headers: json, payload: '{"username":"alice","password":' },
    { name: 'empty JSON body', status: 400, message: /cannot be empty/, headers: json, payload: '' },
    { name: 'no body at all', status: 400, message: /body must be object/ },
    { name: 'text/plain', status: 415, message: /text\/plain.*application\/json/, headers: { 'content-type': 'text/plain' }, payload: 'alice:x' },
    { name: 'form encoded', status: 415, message: /application\/x-www-form-urlencoded/, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=alice&password=x' },
    { name: 'body over the limit', status: 413, message: /too large/i, headers: json, payload: JSON.stringify({ username: 'alice', password: 'x'.repeat(20_000) }) },
    { name: 'password over 1024 bytes', status: 400, message: /^password must be at most 1024 bytes \(UTF-8\)$/, headers: json, payload: JSON.stringify({ username: 'alice', password: 'x'.repeat(1025) }) }
  ]
  for (const c of cases) {
    const res = await app.inject({ method: 'POST', url: '/login', headers: c.headers, payload: c.payload })
    t.equal(res.statusCode, c.status, `${c.name}: status`)
    const body = res.json()
    t.equal(body.statusCode, c.status, `${c.name}: statusCode in body`)
    t.type(body.error, 'string', `${c.name}: error`)
    t.match(body.message, c.message, `${c.name}: message says what is wrong`)
  }
})

t.test('a JSON body in any charset but UTF-8 is refused with 415; UTF-8 in any spelling of its name, or no charset, is read', async (t) => {
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  const body = JSON.stringify({ username: 'alice', password: PASSWORD })
  const refused: Array<[string, string | Buffer]> = [
    ['application/json; charset=utf-16', Buffer.from(body, 'utf16le')],
    ['application/json; charset=UTF-16LE', Buffer.from(body, 'utf16le')],
    ['application/json; charset=utf-16', body], // UTF-8 bytes, whatever the label says: still refused
    ['application/json; charset=bogus', body],
    ['application/json; charset=iso-8859-1', body],
    ['application/json; charset="utf-16"', body],
    ['application/json; charset=utf8', body], // not the name of UTF-8 (RFC 3629)
    ['application/json; charset=', body]
  ]
  for (const [contentType, payload] of refused) {
    for (const url of ['/login', '/token/refresh']) {
      const res = await app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload: url === '/login' ? payload : '{"refreshToken":"rt_x"}' })
      t.equal(res.statusCode, 415, `${url}, ${contentType}: 415`)
      t.match(res.json(), { statusCode: 415, error: 'Unsupported Media Type', message: /charset.*UTF-8/ }, `${url}, ${contentType}: the usual body, saying what to send`)
    }
  }
  for (const contentType of ['application/json', 'application/json; charset=utf-8', 'application/json; charset=UTF-8', 'application/json;charset="Utf-8"', 'application/json; foo=bar', 'Application/JSON; Charset=UTF-8']) {
    const res = await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': contentType }, payload: body })
    t.equal(res.statusCode, 200, `${contentType}: read as UTF-8`)
  }
})

t.test('logins beyond the hashing queue get 503 with Retry-After, not a pile-up', async (t) => {
  // A hash of ~100 ms or more (time cost 20): every login has looked its user up and reached the queue
  // before the first hash ends. At the default cost (~15 ms) a PostgreSQL look-up under a loaded CI machine
  // could come after it, and a third login got in.
  const app = await build(t, testEnv(t, { HASH_CONCURRENCY: '1', HASH_QUEUE_LIMIT: '1', ARGON2_TIME_COST: '20', ...LOGIN_BURSTS }))
  await addUser(app, 'alice', PASSWORD)
  const results = await Promise.all(Array.from({ length: 6 }, () => login(app, 'alice', PASSWORD)))
  const codes = results.map((r) => r.statusCode)
  t.equal(codes.filter((c) => c === 200).length, 2, 'one hashing, one waiting')
  t.equal(codes.filter((c) => c === 503).length, 4, 'the rest shed')
  const shed = results.find((r) => r.statusCode === 503)!
  t.equal(shed.headers['retry-after'], '1')
  t.same(shed.json(), { statusCode: 503, error: 'Service Unavailable', message: 'Too many logins in progress; retry shortly', code: 'hash_queue_full' })
  t.equal((await login(app, 'alice', PASSWORD)).statusCode, 200, 'served again once the storm passed')
})

t.test('a store that cannot serve is a 503 that says so, not a 500', async (t) => {
  const { buildWithLogs } = await import('./support/index.js')
  const { app, lines } = await buildWithLogs(t)
  await addUser(app, 'alice', PASSWORD)
  // Close the database under the running app, as a failed disk or a deleted file would.
  await app.db.destroy()
  const res = await login(app, 'alice', PASSWORD)
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '1')
  t.same(res.json(), { statusCode: 503, error: 'Service Unavailable', message: 'The user store is unavailable; retry shortly', code: 'unavailable' })
  t.ok(lines.some((l) => l.includes('the user store is unavailable')), 'logged for the operator')
  t.notOk(lines.some((l) => l.includes(PASSWORD)), 'without the password')
})
