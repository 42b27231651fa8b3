import t from 'tap'
import { addUser, build, greet, PASSWORD, signWithAppKey, testEnv, tokenFor } from './support/index.js'
const kidOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).kid

t.test('rotation end to end, on a clock the test moves', async (t) => {
  let now = Date.now()
  const clock = () => now
  // Upkeep every hour: this test calls purgeRetired itself, on the clock it moves.
  const app = await build(t, testEnv(t, { KEY_PUBLISH_DELAY: '600', ACCESS_TOKEN_TTL: '60', JWT_CLOCK_TOLERANCE: '5', REVOCATION_SYNC_INTERVAL: '3600' }), { clock })
  const user = await addUser(app, 'alice', PASSWORD)
  const jwks = async () => (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json().keys.map((k: { kid: string }) => k.kid).sort()

  const before = await tokenFor(app, 'alice', PASSWORD)
  const oldKid = kidOf(before)
  // Signed by the old key but shown to the service only after the old key retired.
  const unseen = await signWithAppKey(app, { sub: user.id, username: 'alice', sid: (await app.sessions.start(user, {}))!.sessionId })

  const fresh = await app.keys.rotate()
  t.same(await jwks(), [oldKid, fresh.kid].sort(), 'the new key is published at once')
  t.equal(kidOf(await tokenFor(app, 'alice', PASSWORD)), oldKid, 'but does not sign yet')
  t.equal((await greet(app, `Bearer ${before}`)).statusCode, 200, 'old tokens pass')

  now += 599_000
  const lastOfOld = await tokenFor(app, 'alice', PASSWORD)
  t.equal(kidOf(lastOfOld), oldKid, 'one second before the publish delay: still the old key')
  now += 2_000
  const after = await tokenFor(app, 'alice', PASSWORD)
  t.equal(kidOf(after), fresh.kid, 'after the publish delay, new tokens carry the new kid')
  t.equal((await greet(app, `Bearer ${after}`)).statusCode, 200, 'and pass')
  t.equal((await greet(app, `Bearer ${lastOfOld}`)).statusCode, 200, 'tokens of the old key still pass after rotation')
  t.equal((await greet(app, `Bearer ${before}`)).statusCode, 401, 'each until its own exp, on the service\'s clock')
  t.same(await jwks(), [oldKid, fresh.kid].sort(), 'the old key stays published while its tokens may live')
  t.match(app.keys.states().find((k) => k.kid === oldKid), { state: 'verifying' })

  // The old key signed until the switch, so its last token lives until the switch + 60 s (+ 5 s tolerance).
  now += 60_000 // switch + 61 s
  t.same(await jwks(), [oldKid, fresh.kid].sort(), 'inside the last token\'s lifetime and tolerance, still published')
  now += 6_000 // switch + 67 s
  t.same(await jwks(), [fresh.kid], 'the retired key has left JWKS')
  t.match(app.keys.states().find((k) => k.kid === oldKid), { state: 'retired' })
  t.equal((await greet(app, `Bearer ${unseen}`)).statusCode, 401, 'and verifies nothing any more')
  t.equal((await greet(app, `Bearer ${await tokenFor(app, 'alice', PASSWORD)}`)).statusCode, 200, 'no forced logout: tokens of the new key pass')

  t.same(await app.keys.purgeRetired(), [oldKid], 'the upkeep deletes the retired key')
  t.same((await app.store.signingKeys.all('ES256')).map((r) => r.kid), [fresh.kid], 'its private key is gone from the store')
  t.same(await app.keys.purgeRetired(), [], 'and deletes nothing else')
})

t.test('a rotation made by another process (the CLI) reaches a running instance', async (t) => {
  const env = testEnv(t, { KEY_PUBLISH_DELAY: '0', REVOCATION_SYNC_INTERVAL: '1' })
  const app = await build(t, env)
  const other = await build(t, env)
  await addUser(app, 'alice', PASSWORD)
  const first = kidOf(await tokenFor(app, 'alice', PASSWORD))
  const rotated = await other.keys.rotate()
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal(kidOf(await tokenFor(app, 'alice', PASSWORD)), rotated.kid, 'the running instance signs with the new key')
  t.not(rotated.kid, first)
})

t.test('scheduled rotation', async (t) => {
  let now = Date.now()
  const app = await build(t, testEnv(t, { KEY_ROTATION_INTERVAL: '3600', KEY_PUBLISH_DELAY: '60', REVOCATION_SYNC_INTERVAL: '1' }), { clock: () => now })
  const first = app.keys.signing().kid
  t.equal(app.keys.states().length, 1)
  now += 3_600_000
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const states = app.keys.states()
  t.equal(states.length, 2, 'a new key was made when the interval passed')
  t.match(states.find((k) => k.kid !== first), { state: 'pending' })
})

t.test('an instance whose clock is behind the first key\'s activation still signs, with that key', async (t) => {
  const env = testEnv(t)
  const first = await build(t, env) // makes the first key, active from its own now
  const kid = first.keys.signing().kid
  await first.close()
  for (const behind of [8_000, 3_600_000]) {
    const late = await build(t, env, { clock: () => Date.now() - behind })
    await addUser(late, `alice${behind}`, PASSWORD)
    const token = await tokenFor(late, `alice${behind}`, PASSWORD)
    t.equal(kidOf(token), kid, `${behind / 1000} s behind: the first key signs (no 500)`)
    t.equal((await greet(late, `Bearer ${token}`)).statusCode, 200, 'and its tokens verify')
    await late.close()
  }
})
