import { randomBytes } from 'node:crypto'
import t from 'tap'
import { addUser, build, greet, testEnv, tokenFor } from './helper.js'

const PASSWORD = 'correct horse battery staple'

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

t.test('the key is generated, not built in: two databases, two keys', async (t) => {
  const a = await build(t)
  const b = await build(t)
  const ka = await a.store.signingKeys.first('HS256')
  const kb = await b.store.signingKeys.first('HS256')
  t.ok(ka && kb)
  t.not(ka!.private_key, kb!.private_key)
  t.equal(Buffer.from(ka!.private_key, 'base64url').length, 32, '256 bits')
})

t.test('JWT_SECRET replaces the stored key: two deployments sharing it accept each other\'s tokens', async (t) => {
  const JWT_SECRET = randomBytes(32).toString('hex')
  const a = await build(t, testEnv(t, { JWT_SECRET }))
  const b = await build(t, testEnv(t, { JWT_SECRET }))
  await addUser(a, 'alice', PASSWORD)
  const token = await tokenFor(a, 'alice', PASSWORD)
  t.equal((await greet(b, `Bearer ${token}`)).statusCode, 200)
})
