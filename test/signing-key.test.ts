import { createPrivateKey, randomBytes } from 'node:crypto'
import t from 'tap'
import { addUser, build, greet, PASSWORD, testEnv, tokenFor } from './support/index.js'

t.test('the signing key persists: a token from before a restart verifies after it', async (t) => {
  const env = testEnv(t)
  const before = await build(t, env)
  await addUser(before, 'alice', PASSWORD)
  const token = await tokenFor(before, 'alice', PASSWORD)
  await before.close()

  const after = await build(t, env)
  const res = await greet(after, `Bearer ${token}`)
  t.equal(res.statusCode, 200)
  t.equal(res.body, 'Welcome, alice!')
})

t.test('the key is generated, not built in: two databases, two keys (ES256 by default)', async (t) => {
  const a = await build(t)
  const b = await build(t)
  const [ka, kb] = [a.keys.signing(), b.keys.signing()]
  t.not(ka.privateKey, kb.privateKey)
  t.not(ka.kid, kb.kid)
  t.equal(ka.alg, 'ES256')
  const key = createPrivateKey(ka.privateKey)
  t.equal(key.asymmetricKeyType, 'ec')
  t.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1')
  const token = (await a.inject({ method: 'POST', url: '/login', payload: { username: 'nobody', password: 'nothing-here' } }))
  t.equal(token.statusCode, 401)
})

t.test('every configured algorithm signs and verifies', async (t) => {
  for (const [JWT_ALGORITHM, extra] of [['ES256', {}], ['EdDSA', {}], ['RS256', {}], ['HS256', { JWT_SECRET: randomBytes(32).toString('hex') }]] as const) {
    const app = await build(t, testEnv(t, { JWT_ALGORITHM, ...extra }))
    await addUser(app, 'alice', PASSWORD)
    const token = await tokenFor(app, 'alice', PASSWORD)
    t.equal(app.jwt.decode<{ header: { alg: string } }>(token, { complete: true })!.header.alg, JWT_ALGORITHM)
    t.equal((await greet(app, `Bearer ${token}`)).body, 'Welcome, alice!', JWT_ALGORITHM)
  }
})

t.test('JWT_SECRET replaces the stored key: two deployments sharing it accept each other\'s tokens', async (t) => {
  const JWT_SECRET = randomBytes(32).toString('hex')
  const a = await build(t, testEnv(t, { JWT_SECRET, JWT_ALGORITHM: 'HS256' }))
  const b = await build(t, testEnv(t, { JWT_SECRET, JWT_ALGORITHM: 'HS256' }))
  await addUser(a, 'alice', PASSWORD)
  const token = await tokenFor(a, 'alice', PASSWORD)
  t.equal((await greet(b, `Bearer ${token}`)).statusCode, 200)
})
