import t from 'tap'
import { addUser, build, greet, PASSWORD, signWithAppKey, tokenFor } from './support/index.js'
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

t.test('a fresh token is greeted by name, as text/plain', async (t) => {
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  const token = await tokenFor(app, 'alice', PASSWORD)
  const res = await greet(app, `Bearer ${token}`)
  t.equal(res.statusCode, 200)
  t.equal(res.body, 'Welcome, alice!')
  t.match(res.headers['content-type'], /^text\/plain/)
})

t.test('no token: 401 with a plain Bearer challenge', async (t) => {
  const app = await build(t)
  const res = await greet(app)
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="auth-service"')
  t.same(res.json(), { statusCode: 401, error: 'Unauthorized', message: 'Missing bearer token', code: 'missing_token' })
})

t.test('every unacceptable token: 401 with error="invalid_token"', async (t) => {
  const app = await build(t)
  const user = await addUser(app, 'alice', PASSWORD)
  const good = await tokenFor(app, 'alice', PASSWORD)
  const [header, payload, signature] = good.split('.')
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
  const hourAgo = Date.now() - 3_600_000
  const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1)

  const tokens: Record<string, string> = {
    garbage: 'Bearer not-a-token',
    'three dots of garbage': 'Bearer aaa.bbb.ccc',
    'wrong scheme': `Basic ${good}`,
    'bearer without token': 'Bearer',
    'tampered signature': `Bearer ${header}.${payload}.${flipped}`,
    'tampered payload': `Bearer ${header}.${b64({ ...claims, username: 'admin' })}.${signature}`,
    'alg none, no signature': `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`,
    'alg none, with the original signature': `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${payload}.${signature}`,
    expired: `Bearer ${await signWithAppKey(app, { sub: user.id, username: 'alice' }, { clockTimestamp: hourAgo })}`,
    'wrong issuer': `Bearer ${await signWithAppKey(app, { sub: user.id, username: 'alice' }, { iss: 'someone-else' })}`,
    'wrong audience': `Bearer ${await signWithAppKey(app, { sub: user.id, username: 'alice' }, { aud: 'another-api' })}`,
    'no username claim': `Bearer ${await signWithAppKey(app, { sub: user.id })}`
  }
  for (const [name, authorization] of Object.entries(tokens)) {
    const res = await greet(app, authorization)
    t.equal(res.statusCode, 401, `${name}: 401`)
    t.equal(res.headers['www-authenticate'], 'Bearer realm="auth-service", error="invalid_token"', `${name}: challenge`)
    t.same(res.json(), { statusCode: 401, error: 'Unauthorized', message: 'Invalid or expired token', code: 'invalid_token' }, `${name}: body`)
  }

  // The control: the same helper with nothing wrong makes a token that passes.
  const fine = await signWithAppKey(app, { sub: user.id, username: 'alice' })
  t.equal((await greet(app, `Bearer ${fine}`)).statusCode, 200, 'a correctly signed token passes')
})

t.test('a token signed with another deployment\'s secret is refused', async (t) => {
  const ours = await build(t)
  const theirs = await build(t)
  await addUser(theirs, 'alice', PASSWORD)
  const token = await tokenFor(theirs, 'alice', PASSWORD)
  t.equal((await greet(ours, `Bearer ${token}`)).statusCode, 401)
})
